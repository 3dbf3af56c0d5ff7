"""Test support shared by every Paddock package; the pytest plugin is :mod:`kit.testing.plugin`."""
