"""Import every contract module so that the catalog is complete."""

from contracts import identity

MODULES = (identity,)
