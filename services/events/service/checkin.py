"""Check-in: rotating QR tokens, the door check-in, check-in lists and offline scan batches.

A token is ``<signup id hex>.<window>.<signature>``: ``window`` counts
``window_seconds`` periods since the epoch and the signature is
HMAC-SHA256(``EVENTS_QR_SECRET``, ``"<signup id>:<window>"``), base64url. The app asks for
a fresh token every window; a token is accepted for ``valid_windows`` windows, so a
screenshot passed around stops working within minutes. Signatures are compared with
:func:`hmac.compare_digest`.

An event has check-in lists: exactly one ``entrance`` (created on first use; the door
check-in ``POST /v1/events/{id}/checkins`` scans into it, and only it sets
``signups.checked_in_at`` and publishes ``attendance.checked_in``) and any number of
``session`` lists (a workshop, the dinner). Staff, the event's organizer and a list's
``scanner_ids`` may scan into it; only staff and the organizer manage lists.

A scanner that lost its connection uploads its scans later in a batch. Each scan is
verified at its device time ``scanned_at`` (the token's window then, not now), which must
lie between the doors (``DOORS_OPEN`` before the start) and the end, and not ahead of now
by more than ``CLOCK_SKEW``; any bad scan refuses the whole batch (a 422 listing their
indexes) and nothing is written. Every scan is recorded once per ``(list, device,
scan_id)`` (a retried upload is a ``duplicate``), and an attendee is counted once per list
(``checkin_attendance``: the first scan recorded wins, ``INSERT ... ON CONFLICT DO
NOTHING``); a later scan of the same ticket by the same device is ``already``, by another
device a ``conflict``, recorded in ``checkin_conflicts`` for staff. An entrance upload near
or after the event's end share-locks the event row first (lock order: event, then
signups), so it serializes with completion; it waives the no-show penalty a completion
issued for an attendee whose scan arrived late.
"""

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.events import AttendanceCheckedIn
from kit.api.pagination import Keyset, Order, PageParams
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import UTCDateTime, dialect_insert, utcnow
from kit.ids import new_id
from kit.problems import Conflict, Forbidden, NotFound, Problem
from services.events.models import (
    CheckinAttendance,
    CheckinConflict,
    CheckinList,
    CheckinListKind,
    CheckinScan,
    Event,
    EventStatus,
    Signup,
    SignupStatus,
)
from services.events.service import penalties
from services.events.service.access import can_see, manages
from services.events.service.signups import get_signup

ENTRANCE_NAME = "Entrance"
DOORS_OPEN = timedelta(hours=2)
CLOCK_SKEW = timedelta(minutes=2)
LATE_UPLOAD_MARGIN = timedelta(minutes=5)
"""An entrance upload this close to the end (or after it) locks the event: completion may run."""
UPLOADABLE = (EventStatus.PUBLISHED, EventStatus.COMPLETED)
OLDEST_FIRST = Keyset(Order(col(CheckinList.created_at)), Order(col(CheckinList.id)))
CONFLICTS_FIRST = Keyset(Order(col(CheckinConflict.recorded_at)), Order(col(CheckinConflict.id)))


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
    """Mark the token's attendee as present on the entrance list; ``(signup,
    already_checked_in)``. Staff, the organizer and the entrance list's scanners."""
    event = await session.get(Event, event_id)
    if event is None or not can_see(principal, event):
        raise NotFound("no such event")
    entrance = await entrance_list(session=session, event_id=event_id)
    _require_scanner(principal, event, entrance)
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
    await session.execute(
        dialect_insert(session, CheckinAttendance)
        .values(
            list_id=entrance.id,
            signup_id=signup.id,
            scanned_at=now,
            received_at=now,
            checked_by=principal.user_id,
        )
        .on_conflict_do_nothing()
    )
    payload = _checked_in(event, signup.id, signup.user_id, principal.user_id, now)
    publish(session, payload, actor=principal.user_id)
    return signup, False


def _checked_in(
    event: Event, signup_id: uuid.UUID, user_id: uuid.UUID, by: uuid.UUID, at: datetime
) -> AttendanceCheckedIn:
    return AttendanceCheckedIn(
        signup_id=signup_id,
        event_id=event.id,
        user_id=user_id,
        organizer_id=event.organizer_id,
        checked_in_by=by,
        checked_in_at=at,
    )


# --- lists ------------------------------------------------------------------------------


def may_scan(principal: Principal, event: Event, checkin_list: CheckinList) -> bool:
    """Staff, the event's organizer, and the list's scanners."""
    return manages(principal, event) or str(principal.user_id) in checkin_list.scanner_ids


def _require_scanner(principal: Principal, event: Event, checkin_list: CheckinList) -> None:
    if not may_scan(principal, event, checkin_list):
        raise Forbidden("you may not scan into this check-in list")


def _require_manager(principal: Principal, event: Event) -> None:
    if not manages(principal, event):
        raise Forbidden("only the event's organizer or staff may do this")


async def _managed_event(session: AsyncSession, event_id: uuid.UUID, principal: Principal) -> Event:
    event = await session.get(Event, event_id)
    if event is None or not can_see(principal, event):
        raise NotFound("no such event")
    _require_manager(principal, event)
    return event


async def entrance_list(*, session: AsyncSession, event_id: uuid.UUID) -> CheckinList:
    """The event's one entrance list, created on first use (concurrent first uses create it
    once: the partial unique index on ``event_id`` where ``kind = 'entrance'``)."""
    found = await _entrance(session, event_id)
    if found is not None:
        return found
    await session.execute(
        dialect_insert(session, CheckinList)
        .values(
            id=new_id(),
            event_id=event_id,
            name=ENTRANCE_NAME,
            kind=CheckinListKind.ENTRANCE.value,
            scanner_ids=[],
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    created = await _entrance(session, event_id)
    if created is None:
        raise Conflict(
            f"a list named {ENTRANCE_NAME!r} is not the entrance; rename it",
            code="list-name-taken",
        )
    return created


async def _entrance(session: AsyncSession, event_id: uuid.UUID) -> CheckinList | None:
    return await session.scalar(
        select(CheckinList).where(
            col(CheckinList.event_id) == event_id,
            col(CheckinList.kind) == CheckinListKind.ENTRANCE,
        )
    )


@dataclass(frozen=True)
class ListSummary:
    checkin_list: CheckinList
    checked_in: int
    conflicts: int


async def _summaries(session: AsyncSession, lists: Sequence[CheckinList]) -> list[ListSummary]:
    ids = [checkin_list.id for checkin_list in lists]
    if not ids:
        return []
    counts: list[dict[uuid.UUID, int]] = []
    for table in (CheckinAttendance, CheckinConflict):
        list_id = col(table.list_id)
        found = await session.execute(
            select(list_id, func.count()).where(list_id.in_(ids)).group_by(list_id)
        )
        counts.append({row[0]: row[1] for row in found})
    attended, conflicts = counts
    return [
        ListSummary(item, attended.get(item.id, 0), conflicts.get(item.id, 0)) for item in lists
    ]


def _scanners(scanner_ids: Sequence[uuid.UUID]) -> list[str]:
    return list(dict.fromkeys(str(user_id) for user_id in scanner_ids))


async def create_list(
    *,
    session: AsyncSession,
    event_id: uuid.UUID,
    principal: Principal,
    name: str,
    kind: CheckinListKind,
    scanner_ids: Sequence[uuid.UUID],
) -> ListSummary:
    """A session list (the entrance exists from the start: 409 ``entrance-exists``)."""
    await _managed_event(session, event_id, principal)
    await entrance_list(session=session, event_id=event_id)
    if kind == CheckinListKind.ENTRANCE:
        raise Conflict("the event already has its entrance list", code="entrance-exists")
    created = CheckinList(
        event_id=event_id, name=name, kind=kind, scanner_ids=_scanners(scanner_ids)
    )
    await _require_free_name(session, event_id, name, created.id)
    session.add(created)
    await _flush_named(session, name)
    return ListSummary(created, 0, 0)


async def _require_free_name(
    session: AsyncSession, event_id: uuid.UUID, name: str, list_id: uuid.UUID
) -> None:
    taken = await session.scalar(
        select(col(CheckinList.id)).where(
            col(CheckinList.event_id) == event_id,
            col(CheckinList.name) == name,
            col(CheckinList.id) != list_id,
        )
    )
    if taken is not None:
        raise _name_taken(name)


async def _flush_named(session: AsyncSession, name: str) -> None:
    """Flush a new or renamed list; a concurrent list of the same name is a 409."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _name_taken(name) from exc


def _name_taken(name: str) -> Conflict:
    return Conflict(f"the event already has a list named {name!r}", code="list-name-taken")


async def list_lists(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal, page: PageParams
) -> tuple[list[ListSummary], str | None]:
    """The event's lists, oldest (the entrance) first, with their counts."""
    await _managed_event(session, event_id, principal)
    await entrance_list(session=session, event_id=event_id)
    query = select(CheckinList).where(col(CheckinList.event_id) == event_id)
    found = (await session.scalars(OLDEST_FIRST.paged(query, page))).all()
    items, cursor = OLDEST_FIRST.page(found, page, lambda item: (item.created_at, item.id))
    return await _summaries(session, items), cursor


async def _list_and_event(
    session: AsyncSession, list_id: uuid.UUID, principal: Principal
) -> tuple[CheckinList, Event]:
    row = (
        await session.execute(
            select(CheckinList, Event)
            .join(Event, col(Event.id) == col(CheckinList.event_id))
            .where(col(CheckinList.id) == list_id)
        )
    ).first()
    if row is None or not can_see(principal, row[1]):
        raise NotFound("no such check-in list")
    return row[0], row[1]


async def get_list(
    *, session: AsyncSession, list_id: uuid.UUID, principal: Principal
) -> ListSummary:
    """The list with its counts: for its scanners, the organizer and staff."""
    checkin_list, event = await _list_and_event(session, list_id, principal)
    _require_scanner(principal, event, checkin_list)
    return (await _summaries(session, [checkin_list]))[0]


async def update_list(
    *,
    session: AsyncSession,
    list_id: uuid.UUID,
    principal: Principal,
    name: str | None,
    scanner_ids: Sequence[uuid.UUID] | None,
) -> ListSummary:
    """Rename a list or set who may scan into it: the organizer and staff."""
    checkin_list, event = await _list_and_event(session, list_id, principal)
    _require_manager(principal, event)
    if name is not None and name != checkin_list.name:
        await _require_free_name(session, event.id, name, checkin_list.id)
        checkin_list.name = name
    if scanner_ids is not None:
        checkin_list.scanner_ids = _scanners(scanner_ids)
    await _flush_named(session, checkin_list.name)
    return (await _summaries(session, [checkin_list]))[0]


async def list_conflicts(
    *, session: AsyncSession, list_id: uuid.UUID, principal: Principal, page: PageParams
) -> tuple[list[CheckinConflict], str | None]:
    """The list's conflicts, oldest first: for the organizer and staff."""
    _, event = await _list_and_event(session, list_id, principal)
    _require_manager(principal, event)
    query = select(CheckinConflict).where(col(CheckinConflict.list_id) == list_id)
    found = (await session.scalars(CONFLICTS_FIRST.paged(query, page))).all()
    return CONFLICTS_FIRST.page(found, page, lambda item: (item.recorded_at, item.id))


# --- offline scans ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """One scan as the device reports it."""

    scan_id: str
    token: str
    scanned_at: datetime


@dataclass
class ScanOutcome:
    index: int
    scan_id: str
    signup_id: uuid.UUID
    outcome: str = "accepted"


@dataclass
class ScanReport:
    checkin_list: CheckinList
    device_id: str
    results: list[ScanOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(result.outcome == outcome for result in self.results)


async def upload_scans(
    *,
    session: AsyncSession,
    list_id: uuid.UUID,
    principal: Principal,
    signer: QrSigner,
    device_id: str,
    scans: Sequence[Scan],
) -> ScanReport:
    """Record a device's batch of scans (see the module docstring): all or nothing."""
    now = utcnow()
    checkin_list, event = await _list_and_event(session, list_id, principal)
    _require_scanner(principal, event, checkin_list)
    if event.status not in UPLOADABLE:
        raise Conflict(f"the event is {event.status}", code="event-not-open")
    entrance = checkin_list.kind == CheckinListKind.ENTRANCE
    if entrance and now >= event.ends_at - LATE_UPLOAD_MARGIN:
        await session.execute(
            select(col(Event.id)).where(col(Event.id) == event.id).with_for_update(read=True)
        )
    signup_ids = await _verified(session, event, checkin_list, device_id, scans, signer, now)
    report = ScanReport(checkin_list, device_id)
    report.results = [
        ScanOutcome(index, scan.scan_id, signup_id)
        for index, (scan, signup_id) in enumerate(zip(scans, signup_ids, strict=True))
    ]
    fresh = await _record_scans(session, report, scans, principal.user_id, now)
    counted = await _count_attendance(session, report, fresh, scans, principal.user_id, now)
    await _sort_out_repeats(session, report, fresh, scans, now)
    if entrance and counted:
        await _check_in_at_entrance(session, event, counted, principal.user_id, now)
    return report


BadScan = Callable[[int, str, str], None]


async def _verified(
    session: AsyncSession,
    event: Event,
    checkin_list: CheckinList,
    device_id: str,
    scans: Sequence[Scan],
    signer: QrSigner,
    now: datetime,
) -> list[uuid.UUID]:
    """Each scan's signup id; a 422 naming every bad scan otherwise."""
    errors: list[dict[str, Any]] = []

    def bad(index: int, code: str, message: str) -> None:
        errors.append({"loc": ["body", "scans", index], "msg": message, "type": code})

    named: list[uuid.UUID | None] = []
    for index, scan in enumerate(scans):
        try:
            named.append(signer.verify(scan.token, at=scan.scanned_at.timestamp()))
        except Problem as refused:
            named.append(None)
            bad(index, refused.code, f"{refused.detail} (at the scan's time)")
            continue
        if scan.scanned_at > now + CLOCK_SKEW:
            bad(index, "scanned-in-future", "scanned_at is ahead of now")
        elif not event.starts_at - DOORS_OPEN <= scan.scanned_at <= event.ends_at:
            bad(index, "scanned-outside-event", "scanned_at is before the doors or after the end")
    wanted = {signup_id for signup_id in named if signup_id is not None}
    found = await session.scalars(select(Signup).where(col(Signup.id).in_(wanted)))
    signups = {signup.id: signup for signup in found}
    for index, signup_id in enumerate(named):
        if signup_id is None:
            continue
        signup = signups.get(signup_id)
        if signup is None or signup.event_id != event.id:
            bad(index, "qr-wrong-event", "the QR code is for another event")
        elif signup.status != SignupStatus.CONFIRMED:
            bad(index, "not-confirmed", f"the signup is {signup.status}")
    await _refuse_reused_scan_ids(session, checkin_list, device_id, scans, named, bad)
    if errors:
        indexes = sorted({int(error["loc"][2]) for error in errors})
        raise Problem(
            f"{len(indexes)} of {len(scans)} scans are refused; nothing was recorded",
            status=422,
            code="bad-scans",
            bad_scans=indexes,
            errors=sorted(errors, key=lambda error: int(error["loc"][2])),
        )
    return [signup_id for signup_id in named if signup_id is not None]


async def _refuse_reused_scan_ids(
    session: AsyncSession,
    checkin_list: CheckinList,
    device_id: str,
    scans: Sequence[Scan],
    named: list[uuid.UUID | None],
    bad: BadScan,
) -> None:
    """A scan id the device used before (in this batch or an earlier one) for another ticket."""
    found = await session.execute(
        select(col(CheckinScan.scan_id), col(CheckinScan.signup_id)).where(
            col(CheckinScan.list_id) == checkin_list.id,
            col(CheckinScan.device_id) == device_id,
            col(CheckinScan.scan_id).in_({scan.scan_id for scan in scans}),
        )
    )
    recorded: dict[str, uuid.UUID] = {row[0]: row[1] for row in found}
    for index, (scan, signup_id) in enumerate(zip(scans, named, strict=True)):
        if signup_id is not None and recorded.setdefault(scan.scan_id, signup_id) != signup_id:
            bad(index, "scan-id-reused", "the device used this scan_id for another ticket")


async def _record_scans(
    session: AsyncSession,
    report: ScanReport,
    scans: Sequence[Scan],
    uploader: uuid.UUID,
    now: datetime,
) -> list[int]:
    """Insert the scans not recorded before: the indexes of the new ones; every other scan
    is a ``duplicate`` (an earlier upload, or earlier in this batch, had it)."""
    first: dict[str, int] = {}
    for index, scan in enumerate(scans):
        first.setdefault(scan.scan_id, index)
    rows = [
        {
            "id": new_id(),
            "list_id": report.checkin_list.id,
            "signup_id": report.results[index].signup_id,
            "device_id": report.device_id,
            "scan_id": scans[index].scan_id,
            "scanned_at": scans[index].scanned_at,
            "received_at": now,
            "uploaded_by": uploader,
        }
        for index in sorted(first.values(), key=lambda index: scans[index].scan_id)
    ]
    # Rows in key order: two concurrent uploads wait on each other's keys in one order.
    inserted = set(
        await session.scalars(
            dialect_insert(session, CheckinScan)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["list_id", "device_id", "scan_id"])
            .returning(col(CheckinScan.scan_id))
        )
    )
    fresh = sorted(index for scan_id, index in first.items() if scan_id in inserted)
    for result in report.results:
        if result.index not in fresh:
            result.outcome = "duplicate"
    return fresh


async def _count_attendance(
    session: AsyncSession,
    report: ScanReport,
    fresh: list[int],
    scans: Sequence[Scan],
    uploader: uuid.UUID,
    now: datetime,
) -> dict[uuid.UUID, datetime]:
    """Count the new scans' attendees on the list, those not counted yet: the attendees
    counted now, with the device time of the scan that counted them."""
    first: dict[uuid.UUID, int] = {}
    for index in fresh:
        first.setdefault(report.results[index].signup_id, index)
    if not first:
        return {}
    rows = [
        {
            "list_id": report.checkin_list.id,
            "signup_id": signup_id,
            "device_id": report.device_id,
            "scan_id": scans[index].scan_id,
            "scanned_at": scans[index].scanned_at,
            "received_at": now,
            "checked_by": uploader,
        }
        for signup_id, index in sorted(first.items())
    ]
    # In key order, so that two devices uploading overlapping batches never deadlock.
    counted = set(
        await session.scalars(
            dialect_insert(session, CheckinAttendance)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["list_id", "signup_id"])
            .returning(col(CheckinAttendance.signup_id))
        )
    )
    return {
        signup_id: scans[index].scanned_at
        for signup_id, index in first.items()
        if signup_id in counted
    }


async def _sort_out_repeats(
    session: AsyncSession,
    report: ScanReport,
    fresh: list[int],
    scans: Sequence[Scan],
    now: datetime,
) -> None:
    """Each new scan is ``accepted`` when it counted its attendee; else the attendee was
    counted by another scan: ``already`` when of this device, a recorded ``conflict`` when
    of another."""
    if not fresh:
        return
    found = await session.scalars(
        select(CheckinAttendance).where(
            col(CheckinAttendance.list_id) == report.checkin_list.id,
            col(CheckinAttendance.signup_id).in_(
                {report.results[index].signup_id for index in fresh}
            ),
        )
    )
    owners = {attendance.signup_id: attendance for attendance in found}
    conflicts = []
    for index in fresh:
        result = report.results[index]
        owner = owners[result.signup_id]
        if owner.device_id == report.device_id:
            result.outcome = "accepted" if owner.scan_id == result.scan_id else "already"
            continue
        result.outcome = "conflict"
        conflicts.append(
            {
                "id": new_id(),
                "list_id": report.checkin_list.id,
                "signup_id": result.signup_id,
                "first_device_id": owner.device_id,
                "first_scan_id": owner.scan_id,
                "first_scanned_at": owner.scanned_at,
                "other_device_id": report.device_id,
                "other_scan_id": result.scan_id,
                "other_scanned_at": scans[index].scanned_at,
                "recorded_at": now,
            }
        )
    if conflicts:
        await session.execute(
            dialect_insert(session, CheckinConflict).values(conflicts).on_conflict_do_nothing()
        )


async def _check_in_at_entrance(
    session: AsyncSession,
    event: Event,
    counted: dict[uuid.UUID, datetime],
    uploader: uuid.UUID,
    now: datetime,
) -> None:
    """Mark the attendees counted at the entrance as checked in at their scan's time, each
    once (``WHERE checked_in_at IS NULL``), with one ``attendance.checked_in`` each."""
    times = {signup_id: literal(at, UTCDateTime()) for signup_id, at in counted.items()}
    marked = (
        await session.execute(
            update(Signup)
            .where(
                col(Signup.id).in_(list(counted)),
                col(Signup.status) == SignupStatus.CONFIRMED,
                col(Signup.checked_in_at).is_(None),
            )
            .values(checked_in_at=case(times, value=col(Signup.id)), updated_at=now)
            .returning(col(Signup.id), col(Signup.user_id))
            .execution_options(synchronize_session=False)
        )
    ).all()
    for signup_id, user_id in sorted(marked, key=lambda row: (counted[row[0]], row[0])):
        payload = _checked_in(event, signup_id, user_id, uploader, counted[signup_id])
        publish(session, payload, actor=uploader)
    await penalties.waive_for_attendance(
        session=session, signup_ids=[row[0] for row in marked], actor=uploader, now=now
    )
