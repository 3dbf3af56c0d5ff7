"""Door check-in with rotating QR tokens.

A token is ``<signup id hex>.<window>.<signature>``: ``window`` counts
``window_seconds`` periods since the epoch and the signature is
HMAC-SHA256(``EVENTS_QR_SECRET``, ``"<signup id>:<window>"``), base64url. The app asks for
a fresh token every window; a token is accepted for ``valid_windows`` windows, so a
screenshot passed around stops working within minutes. Signatures are compared with
:func:`hmac.compare_digest`.
"""

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import AttendanceCheckedIn
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, NotFound, Problem
from services.events.models import EventStatus, Signup, SignupStatus
from services.events.service.access import managed_event
from services.events.service.signups import get_signup


@dataclass(frozen=True)
class QrSigner:
    secret: bytes
    window_seconds: int
    valid_windows: int

    def window(self, at: float | None = None) -> int:
        return int((time.time() if at is None else at) // self.window_seconds)

    def _signature(self, signup_id: uuid.UUID, window: int) -> str:
        digest = hmac.new(self.secret, f"{signup_id}:{window}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, signup_id: uuid.UUID, at: float | None = None) -> tuple[str, datetime]:
        """A token for the current window and when it stops being accepted."""
        window = self.window(at)
        expires = (window + self.valid_windows) * self.window_seconds
        token = f"{signup_id.hex}.{window}.{self._signature(signup_id, window)}"
        return token, datetime.fromtimestamp(expires, UTC)

    def verify(self, token: str, at: float | None = None) -> uuid.UUID:
        """The signup id a genuine, unexpired token names; a 422 problem otherwise."""
        signup_id, window = _parse(token)
        expected = self._signature(signup_id, window)
        if not hmac.compare_digest(expected, token.rsplit(".", 1)[-1]):
            raise Problem("the QR code is not genuine", status=422, code="qr-invalid")
        now = self.window(at)
        if not now - self.valid_windows < window <= now:
            raise Problem("the QR code has expired; refresh it", status=422, code="qr-expired")
        return signup_id


def _parse(token: str) -> tuple[uuid.UUID, int]:
    try:
        signup_hex, window, _ = token.split(".")
        return uuid.UUID(hex=signup_hex), int(window)
    except ValueError as exc:
        raise Problem("the QR code is not genuine", status=422, code="qr-invalid") from exc


async def qr_token(
    *, session: AsyncSession, signup_id: uuid.UUID, principal: Principal, signer: QrSigner
) -> tuple[str, datetime]:
    """A fresh token for the caller's own confirmed signup."""
    signup = await get_signup(session=session, signup_id=signup_id, principal=principal)
    if signup.user_id != principal.user_id:
        raise NotFound("no such signup")
    if signup.status != SignupStatus.CONFIRMED:
        raise Conflict(f"a {signup.status} signup has no entry code", code="not-confirmed")
    if signup.checked_in_at is not None:
        raise Conflict("the attendee already checked in", code="already-checked-in")
    return signer.issue(signup.id)


async def check_in(
    *,
    session: AsyncSession,
    event_id: uuid.UUID,
    token: str,
    principal: Principal,
    signer: QrSigner,
) -> tuple[Signup, bool]:
    """Mark the token's attendee as present; ``(signup, already_checked_in)``."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    if event.status != EventStatus.PUBLISHED:
        raise Conflict(f"the event is {event.status}", code="event-not-open")
    signup = await session.get(Signup, signer.verify(token))
    if signup is None or signup.event_id != event_id:
        raise Problem("the QR code is for another event", status=422, code="qr-wrong-event")
    if signup.status != SignupStatus.CONFIRMED:
        raise Conflict(f"the signup is {signup.status}", code="not-confirmed")
    now = utcnow()
    if now >= event.ends_at:
        raise Conflict("the event is over", code="event-ended")
    # A concurrent cancellation (which takes the event lock, not this one) is decided by the
    # signup row: only a still confirmed signup is marked.
    marked = await session.scalar(
        update(Signup)
        .where(
            col(Signup.id) == signup.id,
            col(Signup.status) == SignupStatus.CONFIRMED,
            col(Signup.checked_in_at).is_(None),
        )
        .values(checked_in_at=now)
        .returning(col(Signup.id))
        .execution_options(synchronize_session=False)
    )
    await session.refresh(signup)
    if marked is None:
        if signup.status != SignupStatus.CONFIRMED:
            raise Conflict(f"the signup is {signup.status}", code="not-confirmed")
        return signup, True
    payload = AttendanceCheckedIn(
        signup_id=signup.id,
        event_id=event_id,
        user_id=signup.user_id,
        organizer_id=event.organizer_id,
        checked_in_by=principal.user_id,
        checked_in_at=now,
    )
    publish(session, payload, actor=principal.user_id)
    return signup, False
