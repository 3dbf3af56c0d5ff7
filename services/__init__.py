"""Paddock services: each one a package with the same files, never importing another."""
