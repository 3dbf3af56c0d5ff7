"""The audit record of staff and admin actions, kept in each service's own database.

A service calls :func:`record_action` in the unit of work of the action itself, so the
record commits (or rolls back) with what it describes: who did it, what, to which
object, and the details a reviewer needs ("why was this event rejected, and by whom").
:class:`AuditRecord` is one of kit's tables (:class:`kit.db.KitTable`): every service's
MetaData holds a copy (:func:`kit.db.metadata.service_registry`), so its migrations create it.
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, Column, Index
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field

from kit.db import KitTable, UTCDateTime, utcnow
from kit.ids import new_id


class AuditRecord(KitTable, table=True):
    """One staff or admin action: ``action`` like ``event.approved``, on ``subject_id``."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_subject", "subject_id", "at"),
        Index("ix_audit_records_actor", "actor_id", "at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: uuid.UUID
    action: str = Field(max_length=100)
    subject_id: str = Field(max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def record_action(
    session: AsyncSession,
    *,
    actor: uuid.UUID,
    action: str,
    subject: uuid.UUID | str,
    **detail: Any,
) -> AuditRecord:
    """Record that ``actor`` did ``action`` to ``subject``, in the current unit of work;
    ``detail`` values may be anything JSON can carry once encoded (ids, times, lists)."""
    record = AuditRecord(
        actor_id=actor,
        action=action,
        subject_id=str(subject),
        detail=to_jsonable_python(detail),
    )
    session.add(record)
    return record
