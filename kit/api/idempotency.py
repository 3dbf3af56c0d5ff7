"""``Idempotency-Key``: a client retrying a POST that moves seats, points or stock gets the
first answer again instead of a second effect.

Two ways to keep the promise, both behind the one header dependency
:data:`IdempotencyKey`:

* The created object carries the key under a unique constraint (an events signup does:
  the rush writes it in the same statement as the seat). :func:`refuse_reuse` answers a
  key presented again for a different target.
* :class:`IdempotencyRecord`, the replay record, for effects that are not one row:
  :func:`claim` at the start of the unit of work (a concurrent duplicate waits on the
  record's primary key and is then told to retry), :func:`remember` the answer at the end;
  a retry gets the stored answer back. A key sent with a different request is a 422.
  It is an opt-in table of kit (:class:`kit.db.OptInKitTable`): a service that uses it names
  it in its base, ``service_registry(IdempotencyRecord)``, and migrates it.
"""

import hashlib
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import JSON, Column
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field

from kit.db import OptInKitTable, UTCDateTime, utcnow
from kit.problems import Conflict, Problem

KEY_MAX_LENGTH = 200
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="a retry with the same key returns the first answer (1-200 visible "
        "ASCII characters; one key per request)",
    ),
]


class KeyReused(Problem):
    status, code = 422, "idempotency-key-reused"


def refuse_reuse(*, used_for: object, requested: object, what: str) -> None:
    """Raise :class:`KeyReused` when a key that made ``used_for`` is sent for ``requested``."""
    if used_for != requested:
        raise KeyReused(f"this Idempotency-Key was used for {what}")


class IdempotencyRecord(OptInKitTable, table=True):
    """The answer given to ``(owner_id, key)``; ``status_code`` is null while in progress."""

    __tablename__ = "idempotency_records"

    owner_id: uuid.UUID = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=KEY_MAX_LENGTH)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def fingerprint(*parts: Any) -> str:
    """A stable hash of what the request asked for (method, path, body ...)."""
    encoded = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


async def claim(
    session: AsyncSession, *, owner: uuid.UUID, key: str, request_hash: str
) -> IdempotencyRecord:
    """The record of ``key``: a new one to :func:`remember` into, or the stored answer of
    an earlier request (``status_code`` set) to return as it is."""
    earlier = await session.get(IdempotencyRecord, (owner, key), populate_existing=True)
    if earlier is None:
        record = IdempotencyRecord(owner_id=owner, key=key, request_hash=request_hash)
        try:
            async with session.begin_nested():
                session.add(record)
        except IntegrityError as exc:
            raise Conflict(
                "a request with this Idempotency-Key is in progress; retry it",
                code="idempotency-key-in-progress",
                headers={"Retry-After": "1"},
            ) from exc
        return record
    if earlier.request_hash != request_hash:
        raise KeyReused("this Idempotency-Key was used for a different request")
    return earlier


def remember(
    session: AsyncSession, record: IdempotencyRecord, *, status_code: int, body: dict[str, Any]
) -> None:
    """Store the answer with the unit of work that produced it."""
    record.status_code = status_code
    record.body = body
    session.add(record)
