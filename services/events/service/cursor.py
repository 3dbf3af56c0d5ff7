"""Opaque cursors over ``(starts_at, id)``: base64url of a small JSON array."""

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from kit.problems import Problem


def encode(starts_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([starts_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        starts_at, row_id = json.loads(raw)
        position = datetime.fromisoformat(starts_at), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise Problem("cursor is not one this API returned", status=422, code="bad-cursor") from exc
    if position[0].tzinfo is None:
        raise Problem("cursor is not one this API returned", status=422, code="bad-cursor")
    return position


def after(
    starts_col: Any, id_col: Any, cursor: str, *, descending: bool = False
) -> ColumnElement[bool]:
    """Rows strictly after ``cursor`` in ``(starts_at, id)`` order (or before, descending)."""
    starts_at, row_id = decode(cursor)
    if descending:
        return or_(starts_col < starts_at, and_(starts_col == starts_at, id_col < row_id))
    return or_(starts_col > starts_at, and_(starts_col == starts_at, id_col > row_id))
