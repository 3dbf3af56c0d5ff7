"""Import every contract module so that the catalog is complete."""

from contracts import events, identity

MODULES = (events, identity)
