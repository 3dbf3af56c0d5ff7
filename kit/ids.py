"""Identifiers: time-ordered UUIDv7 for every row and every event."""

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    """Return a new UUIDv7 (sortable by creation time, safe as a primary key)."""
    return uuid.UUID(int=uuid7().int)
