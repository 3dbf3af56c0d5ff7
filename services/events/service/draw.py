"""The draw: a weighted, provably fair lottery for events that would otherwise be a bot race.

Owns the seed's commitment, the applicants' weights, the allocation algorithm, running the
draw once and its public audit record (:class:`~services.events.models.DrawRun`).

**Commit, then reveal.** Every event carries ``seed_commitment`` from its creation: the
lowercase hex SHA-256 of the UTF-8 text ``paddock-draw-v1:<seed>``, ``<seed>`` the seed in
decimal without leading zeros (``0 <= seed < 2**63``). The event id is not part of the text
because an organizer who keeps the seed commits to it before the event (and its id)
exists. The server's seed (``secrets.randbits(63)``) stays secret until the draw ran; an
organizer's seed is revealed in ``POST .../draw`` and must hash to the commitment (else a
422 ``seed-mismatch``, nothing written). The commitment is public on the event and in
``events.event.published.v1``, and it cannot change once the event is published or its
applications closed. Anyone can then check the revealed seed against it.

**Weights.** An applicant's weight is ``1 + the number of other draws their user lost``
(was waitlisted and never promoted) in the last ``loser_days`` days, capped at
``max_weight``: :func:`applicant_weights`, the one place weights come from (penalties will
multiply a factor in there). Weights are exact fractions, published as ``"3"`` or ``"3/2"``.

**Algorithm ``es-hmac-sha256-v1``** (weighted random sampling without replacement,
Efraimidis and Spirakis 2006). For each applicant, with ``signup_id`` its canonical
lowercase hyphenated UUID text::

    h   = int(HMAC-SHA256(key=ascii(str(seed)), msg=ascii(signup_id)).hexdigest(), 16)
    u   = (h + 1) / (2**256 + 1)              # in (0, 1), never 0 or 1
    key = -ln(u) * weight.denominator / weight.numerator

computed in :mod:`decimal` with 80 significant digits and ``ROUND_HALF_EVEN`` (every
operation is correctly rounded there, so the keys are the same on every machine), each
step rounded in the order written. Applicants sorted by ``(key, signup_id)`` ascending are
the drawn order: the first ``capacity`` are confirmed, the rest waitlisted in that order.
An applicant of weight ``w`` comes before one of weight 1 with probability ``w / (w + 1)``.
Nothing depends on the order applicants are listed in, nor on :mod:`random`.

Claiming ``events.drawn_at`` with a conditional update makes a second run a 409; the event
row is locked first, then the signups (ADR 0007).
"""

import asyncio
import decimal
import hashlib
import hmac
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, NotFound, Problem
from services.events.models import (
    DrawRun,
    Event,
    EventStatus,
    SeedSource,
    Signup,
    SignupMode,
    SignupStatus,
)
from services.events.models import seed_commitment as commitment  # documented above
from services.events.service.access import can_see, managed_event
from services.events.service.signups import confirmed_payload, waitlisted_payload

ALGORITHM = "es-hmac-sha256-v1"
PRECISION = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)
_SPAN = decimal.Decimal(2**256 + 1)

Weight = Fraction | float


def weight_text(weight: Weight) -> str:
    """A weight as published: the exact fraction, ``"2"`` or ``"3/2"``."""
    return str(Fraction(weight))


def draw_key(seed: int, signup_id: uuid.UUID, weight: Weight) -> decimal.Decimal:
    """The applicant's sort key (smaller draws earlier); see the module docstring."""
    exact = Fraction(weight)
    if exact <= 0:
        raise ValueError(f"weights must be positive, not {exact}")
    digest = hmac.new(str(seed).encode(), str(signup_id).encode(), hashlib.sha256).hexdigest()
    u = PRECISION.divide(decimal.Decimal(int(digest, 16) + 1), _SPAN)
    scaled = PRECISION.multiply(PRECISION.minus(PRECISION.ln(u)), exact.denominator)
    return PRECISION.divide(scaled, exact.numerator)


@dataclass(frozen=True)
class Allocation:
    order: list[uuid.UUID]
    confirmed: list[uuid.UUID]
    waitlisted: list[uuid.UUID]


def allocate(
    applicants: Sequence[uuid.UUID],
    weights: Mapping[uuid.UUID, Weight],
    *,
    seed: int,
    capacity: int,
) -> Allocation:
    """The lottery itself: pure, so the same applicants, weights and seed always give the
    same result. An applicant missing from ``weights`` weighs 1."""
    keys = {signup: draw_key(seed, signup, weights.get(signup, 1)) for signup in applicants}
    order = sorted(keys, key=lambda signup: (keys[signup], str(signup)))
    return Allocation(order=order, confirmed=order[:capacity], waitlisted=order[capacity:])


@dataclass(frozen=True)
class WeightPolicy:
    """How much recent losses count: ``1 + losses`` in the last ``loser_days``, at most
    ``max_weight``."""

    loser_days: int
    max_weight: int


async def applicant_weights(
    *,
    session: AsyncSession,
    applicants: Collection[Signup],
    now: datetime,
    policy: WeightPolicy,
) -> dict[uuid.UUID, Fraction]:
    """Each application's weight (by signup id): the one place weights are decided."""
    losses = await _recent_losses(session, applicants, now - timedelta(days=policy.loser_days))
    return {
        signup.id: Fraction(min(1 + losses.get(signup.id, 0), policy.max_weight))
        for signup in applicants
    }


async def _recent_losses(
    session: AsyncSession, applicants: Collection[Signup], since: datetime
) -> dict[uuid.UUID, int]:
    """For each application, how many other draws its user lost since ``since``."""
    if not applicants:
        return {}
    event_ids = {signup.event_id for signup in applicants}
    earlier = aliased(Signup)
    query = (
        select(col(Signup.id), func.count(func.distinct(col(earlier.event_id))))
        .join(
            earlier,
            and_(
                col(earlier.user_id) == col(Signup.user_id),
                col(earlier.event_id) != col(Signup.event_id),
                col(earlier.lost_draw).is_(True),
            ),
        )
        .join(DrawRun, col(DrawRun.event_id) == col(earlier.event_id))
        .where(col(Signup.event_id).in_(event_ids), col(Signup.status) == SignupStatus.APPLIED)
        .where(col(DrawRun.ran_at) >= since)
        .group_by(col(Signup.id))
    )
    wanted = {signup.id for signup in applicants}
    found = (await session.execute(query)).all()
    return {signup_id: count for signup_id, count in found if signup_id in wanted}


async def run_draw(
    *,
    session: AsyncSession,
    event_id: uuid.UUID,
    principal: Principal,
    seed: int | None,
    policy: WeightPolicy,
) -> DrawRun:
    """Allocate the seats of a draw-mode event once its applications closed; ``seed`` is
    the organizer's reveal (and must be absent for a server seed)."""
    event = await managed_event(session=session, event_id=event_id, principal=principal)
    now = utcnow()
    _require_drawable(event, now)
    revealed = _revealed_seed(event, seed)
    event = await _claim(session, event, now)
    applicants = await _applicants(session, event_id)
    weights = await applicant_weights(
        session=session, applicants=list(applicants.values()), now=now, policy=policy
    )
    # About 0.1-0.2 ms per applicant: off the event loop, so that other requests go on.
    result = await asyncio.to_thread(
        allocate, list(applicants), weights, seed=revealed, capacity=event.capacity
    )
    await _apply(session, event, result, applicants, principal.user_id)
    ordered = sorted(applicants)
    run = DrawRun(
        event_id=event_id,
        seed=revealed,
        ran_at=now,
        ran_by=principal.user_id,
        applicants=[str(signup) for signup in ordered],
        priority=[str(signup) for signup in ordered if weights[signup] > 1],
        allocation=[str(signup) for signup in result.order],
        confirmed=len(result.confirmed),
        waitlisted=len(result.waitlisted),
        algorithm=ALGORITHM,
        seed_source=event.seed_source,
        seed_commitment=event.seed_commitment,
        weights={str(signup): weight_text(weights[signup]) for signup in ordered},
        capacity=event.capacity,
    )
    session.add(run)
    await session.flush()
    record_action(
        session,
        actor=principal.user_id,
        action="draw.ran",
        subject=event_id,
        confirmed=run.confirmed,
        waitlisted=run.waitlisted,
        seed_source=event.seed_source,
    )
    return run


def _require_drawable(event: Event, now: datetime) -> None:
    if event.signup_mode != SignupMode.DRAW:
        raise Conflict("this event is first come, first served", code="not-a-draw")
    if event.status != EventStatus.PUBLISHED:
        raise Conflict(f"the event is {event.status}", code="event-not-open")
    if event.drawn_at is not None:
        raise Conflict("the draw of this event has already run", code="already-drawn")
    if now < event.closes_at:
        raise Conflict(
            f"the draw runs after applications close at {event.closes_at.isoformat()}",
            code="draw-too-early",
            closes_at=event.closes_at.isoformat(),
        )


class SeedRefused(Problem):
    """A draw's ``seed`` that cannot be used (422); ``errors`` names the field, as a 422 on
    the schema does."""

    status = 422

    def __init__(self, detail: str, *, code: str, **extensions: Any) -> None:
        field_error = {"loc": ["body", "seed"], "msg": detail, "type": code}
        super().__init__(detail, code=code, errors=[field_error], **extensions)


def _revealed_seed(event: Event, seed: int | None) -> int:
    """The seed to draw with: the server's, or the organizer's reveal checked against the
    commitment. Refused (422) before anything is written."""
    if event.seed_source == SeedSource.SERVER:
        if seed is not None:
            raise SeedRefused(
                "this event's seed is held by the server: the draw takes no seed",
                code="seed-not-expected",
            )
        assert event.draw_seed is not None  # CHECK seed_held_by_its_source
        return event.draw_seed
    if seed is None:
        raise SeedRefused(
            "the organizer committed to this draw's seed: reveal it as 'seed'",
            code="seed-required",
        )
    if not hmac.compare_digest(commitment(seed), event.seed_commitment):
        raise SeedRefused(
            "the seed does not match the event's seed_commitment",
            code="seed-mismatch",
            seed_commitment=event.seed_commitment,
        )
    return seed


async def _claim(session: AsyncSession, event: Event, now: datetime) -> Event:
    claimed = await session.scalar(
        update(Event)
        .where(col(Event.id) == event.id, col(Event.drawn_at).is_(None))
        .where(col(Event.status) == EventStatus.PUBLISHED)
        .where(col(Event.seed_commitment) == event.seed_commitment)
        .values(drawn_at=now, updated_at=now)
        .returning(Event)
        .execution_options(populate_existing=True)
    )
    if claimed is None:
        raise Conflict("the draw of this event has already run", code="already-drawn")
    return claimed


async def _applicants(session: AsyncSession, event_id: uuid.UUID) -> dict[uuid.UUID, Signup]:
    query = select(Signup).where(
        col(Signup.event_id) == event_id,
        col(Signup.status) == SignupStatus.APPLIED,
    )
    return {signup.id: signup for signup in (await session.scalars(query)).all()}


async def _apply(
    session: AsyncSession,
    event: Event,
    result: Allocation,
    applicants: dict[uuid.UUID, Signup],
    actor: uuid.UUID,
) -> None:
    """Write the allocation: statuses, waitlist positions, counters and outbox rows."""
    now = utcnow()
    for signup_id in result.confirmed:
        signup = applicants[signup_id]
        signup.status, signup.updated_at = SignupStatus.CONFIRMED, now
        publish(session, confirmed_payload(signup, "draw"), actor=actor)
    for index, signup_id in enumerate(result.waitlisted, start=event.waitlist_next + 1):
        signup = applicants[signup_id]
        signup.status, signup.updated_at = SignupStatus.WAITLISTED, now
        signup.waitlist_position, signup.lost_draw = index, True
        publish(session, waitlisted_payload(signup), actor=actor)
    await session.execute(
        update(Event)
        .where(col(Event.id) == event.id)
        .values(
            confirmed_count=col(Event.confirmed_count) + len(result.confirmed),
            waitlist_next=col(Event.waitlist_next) + len(result.waitlisted),
        )
        .execution_options(synchronize_session=False)
    )


async def get_draw(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal | None
) -> DrawRun:
    event = await session.get(Event, event_id)
    if event is None or not can_see(principal, event):
        raise NotFound("no such event")
    run = await session.get(DrawRun, event_id)
    if run is None:
        raise NotFound("the draw of this event has not run yet", code="not-drawn")
    return run
