"""Referrals' domain logic, one module per concern; functions take a session and never commit."""
