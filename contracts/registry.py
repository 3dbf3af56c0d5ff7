"""Import every contract module so that the catalog is complete."""

from contracts import content, events, identity, rewards

MODULES = (content, events, identity, rewards)
