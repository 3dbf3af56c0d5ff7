"""The dispatcher: takes due deliveries off the queue and sends them, signed, then records
each attempt and decides what comes next.

**Claiming.** One replica at a time claims (a transaction-scoped advisory lock on
PostgreSQL; SQLite, in ``make run``, writes one at a time anyway), so the limits below hold
across replicas. A claim leases the rows (``leased_until`` = now + the timeout + a margin):
a replica killed mid-attempt leaves its leases to run out and the rows are claimed again
(at least once; the receiver dedupes on ``webhook-id``, the same on every attempt). A
delivery is claimable when it is pending, due and not leased, and its endpoint is enabled,
its partner active and its circuit not open; per endpoint, no more than ``max_in_flight``
are in flight and no more than ``rate_per_second`` were claimed in the last second (an
endpoint whose circuit is half open gets one probe). An ordered endpoint's delivery waits
while an earlier one of the same subject is pending. Claims take every endpoint's first
due delivery before any endpoint's second, so a backlog at one endpoint never starves
the others, and a slow endpoint holds only its own ``max_in_flight`` slots.

**Recording.** A 2xx within the timeout succeeds. Anything else (another status, a
redirect, which is never followed, a timeout, a refused target, a connection error) is a
failure: the delivery waits for the next step of the retry schedule (with jitter), or is
exhausted after the last (``webhooks.message.exhausted.v1``). A 429 or 503 with
``Retry-After`` pauses the endpoint that long. ``circuit_failures`` failures in a row open
the endpoint's circuit for ``circuit_cooldown_seconds``; an endpoint that has not succeeded
since it began failing ``disable_after_seconds`` ago is disabled
(``webhooks.endpoint.disabled.v1``).
"""

import asyncio
import contextlib
import email.utils
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from contracts.webhooks import MessageExhausted
from kit.bus.outbox import publish
from kit.db import Database, UTCDateTime, utcnow
from services.webhooks.config import WebhooksSettings
from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Message,
    Partner,
    PartnerStatus,
)
from services.webhooks.service import endpoints, targets
from services.webhooks.service.fanout import WAKE_KEY
from services.webhooks.service.secrets import SecretBox
from services.webhooks.service.signing import SigningKey, signature_header

log = logging.getLogger(__name__)

CLAIM_LOCK = 0x77656268  # "webh"
LEASE_MARGIN_SECONDS = 10.0
GATHER_SECONDS = 0.005
EXCERPT_CHARS = 1000
UNLIMITED = 1_000_000
NO_KEY_UPDATE = {"key_share": True}
"""``FOR NO KEY UPDATE``: the fan-out's inserts, which share the key lock of the endpoint they
reference, do not wait for an attempt being recorded."""


@dataclass(frozen=True)
class Claimed:
    """A delivery leased for one attempt, with what the attempt needs."""

    delivery_id: int
    message_id: str
    endpoint_id: uuid.UUID
    url: str
    event_type: str
    attempt: int
    """1 for the first attempt."""
    body: bytes
    keys: list[SigningKey]


@dataclass(frozen=True)
class Outcome:
    """How an attempt went."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    excerpt: str = ""
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


async def claim(
    *,
    session: AsyncSession,
    box: SecretBox,
    now: datetime,
    limit: int,
    lease_seconds: float,
    circuit_failures: int,
) -> list[Claimed]:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
    parameters = {
        "now": now,
        "second_ago": now - timedelta(seconds=1),
        "circuit_failures": circuit_failures,
        "limit": limit,
    }
    ids = list((await session.scalars(CLAIMABLE, parameters)).all())
    if not ids:
        return []
    await session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids))
        .values(
            leased_until=now + timedelta(seconds=lease_seconds),
            claimed_at=now,
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(
        select(
            col(Delivery.id),
            col(Delivery.message_id),
            col(Delivery.endpoint_id),
            col(Delivery.attempts),
            col(Endpoint.url),
            col(Message.event_type),
            col(Message.body),
        )
        .join(Endpoint, col(Endpoint.id) == Delivery.endpoint_id)
        .join(Message, col(Message.id) == Delivery.message_id)
        .where(col(Delivery.id).in_(ids))
        .order_by(col(Delivery.id))
    )
    keys: dict[uuid.UUID, list[SigningKey]] = {}
    claimed = []
    for delivery_id, message_id, endpoint_id, attempt, url, event_type, body in rows.all():
        assert delivery_id is not None, "a claimed row has its id"
        if endpoint_id not in keys:
            keys[endpoint_id] = await endpoints.signing_keys(
                session=session, box=box, endpoint_id=endpoint_id, now=now
            )
        claimed.append(
            Claimed(
                delivery_id=delivery_id,
                message_id=message_id,
                endpoint_id=endpoint_id,
                url=url,
                event_type=event_type,
                attempt=attempt,
                body=body.encode(),
                keys=keys[endpoint_id],
            )
        )
    return claimed


def _claimable() -> Select[uuid.UUID]:
    """The ids of the deliveries to claim at ``:now`` (see the module docstring), fairest
    first, at most ``:limit``; an endpoint ``:circuit_failures`` failures in a row is half
    open. Built once: building it took a fifth of the dispatcher's time (profiled)."""
    now = bindparam("now", type_=UTCDateTime)
    second_ago = bindparam("second_ago", type_=UTCDateTime)
    circuit_failures = bindparam("circuit_failures", type_=Integer)
    earlier = aliased(Delivery)
    due = (
        select(
            col(Delivery.id).label("id"),
            col(Delivery.endpoint_id).label("endpoint_id"),
            func.row_number()
            .over(
                partition_by=col(Delivery.endpoint_id),
                order_by=(col(Delivery.next_attempt_at), col(Delivery.id)),
            )
            .label("rank"),
        )
        .where(
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
            or_(col(Delivery.leased_until).is_(None), col(Delivery.leased_until) <= now),
            or_(
                col(Delivery.ordering_key).is_(None),
                ~exists().where(
                    col(earlier.endpoint_id) == Delivery.endpoint_id,
                    col(earlier.ordering_key) == Delivery.ordering_key,
                    col(earlier.status) == DeliveryStatus.PENDING,
                    col(earlier.id) < col(Delivery.id),
                ),
            ),
        )
        .subquery()
    )
    leased = aliased(Delivery)
    in_flight = (
        select(func.count())
        .where(
            col(leased.endpoint_id) == Endpoint.id,
            col(leased.status) == DeliveryStatus.PENDING,
            col(leased.leased_until) > now,
        )
        .scalar_subquery()
    )
    recent = aliased(Delivery)
    claimed_last_second = (
        select(func.count())
        .where(
            col(recent.endpoint_id) == Endpoint.id,
            col(recent.claimed_at) > second_ago,
        )
        .scalar_subquery()
    )
    slots = case(
        (col(Endpoint.consecutive_failures) >= circuit_failures, 1),
        else_=col(Endpoint.max_in_flight),
    )
    rate = case(
        (col(Endpoint.rate_per_second).is_(None), UNLIMITED),
        else_=col(Endpoint.rate_per_second) - claimed_last_second,
    )
    return (
        select(due.c.id)
        .join(Endpoint, col(Endpoint.id) == due.c.endpoint_id)
        .join(Partner, col(Partner.id) == Endpoint.partner_id)
        .where(
            col(Endpoint.status) == EndpointStatus.ENABLED,
            col(Partner.status) == PartnerStatus.ACTIVE,
            or_(col(Endpoint.paused_until).is_(None), col(Endpoint.paused_until) <= now),
            due.c.rank <= slots - in_flight,
            due.c.rank <= rate,
        )
        .order_by(due.c.rank, due.c.id)
        .limit(bindparam("limit", type_=Integer))
    )


CLAIMABLE = _claimable()


async def record(
    *,
    session: AsyncSession,
    claimed: Claimed,
    outcome: Outcome,
    settings: WebhooksSettings,
    now: datetime,
) -> None:
    """Log the attempt and move the delivery and its endpoint on (see the module docstring).
    A delivery replayed or finished by another replica meanwhile is left as it is."""
    if outcome.succeeded:
        await _succeeded(session, claimed, outcome, now)
        return
    delivery = await session.get(Delivery, claimed.delivery_id, with_for_update=NO_KEY_UPDATE)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return
    next_attempt_at = _next_attempt(delivery, outcome, settings, now)
    session.add(Attempt(**_attempt(claimed, outcome, next_attempt_at=next_attempt_at)))
    delivery.leased_until = None
    delivery.last_status = outcome.status_code
    delivery.updated_at = now
    endpoint = await session.get(Endpoint, claimed.endpoint_id, with_for_update=NO_KEY_UPDATE)
    assert endpoint is not None, "deliveries reference their endpoint"
    if next_attempt_at is None:
        delivery.status = DeliveryStatus.EXHAUSTED
        publish(
            session,
            MessageExhausted(
                partner_id=endpoint.partner_id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                message_id=claimed.message_id,
                message_type=claimed.event_type,
                attempts=delivery.attempts,
                last_status=outcome.status_code,
                exhausted_at=now,
            ),
            actor=None,
        )
    else:
        delivery.next_attempt_at = next_attempt_at
    _endpoint_failed(session, endpoint, outcome, settings, now)


async def _succeeded(
    session: AsyncSession, claimed: Claimed, outcome: Outcome, now: datetime
) -> None:
    """The common case, in three Core statements (the ORM's unit of work was most of what
    a delivery cost, profiled)."""
    finished = await session.execute(
        update(Delivery)
        .where(col(Delivery.id) == claimed.delivery_id)
        .where(col(Delivery.status) == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.SUCCEEDED,
            succeeded_at=now,
            leased_until=None,
            last_status=outcome.status_code,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not finished.rowcount:  # type: ignore[attr-defined]
        return
    await session.execute(insert(Attempt).values(_attempt(claimed, outcome, next_attempt_at=None)))
    await _endpoint_succeeded(session, claimed.endpoint_id, now)


def _attempt(
    claimed: Claimed, outcome: Outcome, *, next_attempt_at: datetime | None
) -> dict[str, Any]:
    """The attempt's row of the log."""
    return {
        "delivery_id": claimed.delivery_id,
        "endpoint_id": claimed.endpoint_id,
        "message_id": claimed.message_id,
        "attempt": claimed.attempt,
        "started_at": outcome.started_at,
        "duration_ms": outcome.duration_ms,
        "succeeded": outcome.succeeded,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "response_excerpt": outcome.excerpt[:EXCERPT_CHARS],
        "next_attempt_at": next_attempt_at,
    }


def _next_attempt(
    delivery: Delivery, outcome: Outcome, settings: WebhooksSettings, now: datetime
) -> datetime | None:
    """When to try again, or ``None`` when the schedule is spent."""
    schedule = settings.retry_schedule_seconds
    if delivery.attempts >= len(schedule):
        return None
    wait = schedule[delivery.attempts] * (1 + random.uniform(0, settings.retry_jitter))  # noqa: S311
    if outcome.retry_after is not None:
        wait = max(wait, min(outcome.retry_after, settings.max_retry_after_seconds))
    return now + timedelta(seconds=wait)


async def _endpoint_succeeded(session: AsyncSession, endpoint_id: uuid.UUID, now: datetime) -> None:
    """Close the circuit; written only when there is something to change (an endpoint taking
    hundreds of deliveries a second would otherwise be one hot row)."""
    await session.execute(
        update(Endpoint)
        .where(
            col(Endpoint.id) == endpoint_id,
            or_(
                col(Endpoint.consecutive_failures) > 0,
                col(Endpoint.last_success_at).is_(None),
                col(Endpoint.last_success_at) < now - timedelta(seconds=60),
            ),
        )
        .values(
            consecutive_failures=0,
            failing_since=None,
            paused_until=None,
            last_success_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _endpoint_failed(
    session: AsyncSession,
    endpoint: Endpoint,
    outcome: Outcome,
    settings: WebhooksSettings,
    now: datetime,
) -> None:
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or outcome.started_at
    pauses = []
    if outcome.retry_after is not None:
        pauses.append(min(outcome.retry_after, settings.max_retry_after_seconds))
    if endpoint.consecutive_failures >= settings.circuit_failures:
        pauses.append(settings.circuit_cooldown_seconds)
    if pauses:
        until = now + timedelta(seconds=max(pauses))
        endpoint.paused_until = max(until, endpoint.paused_until or until)
    endpoint.updated_at = now
    if now - endpoint.failing_since >= timedelta(seconds=settings.disable_after_seconds):
        endpoints.disable(session=session, endpoint=endpoint, reason="failing", now=now, actor=None)


async def attempt(
    client: httpx.AsyncClient,
    claimed: Claimed,
    *,
    timeout_seconds: float,
    policy: targets.TargetPolicy,
    resolver: targets.Resolver | None = None,
) -> Outcome:
    """Send one attempt, signed now; never raises for the endpoint's faults."""
    started_at = utcnow()
    clock = time.perf_counter()
    timestamp = int(started_at.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": claimed.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            claimed.keys, message_id=claimed.message_id, timestamp=timestamp, body=claimed.body
        ),
    }
    try:
        sent = await targets.post(
            client,
            url=claimed.url,
            content=claimed.body,
            headers=headers,
            timeout=timeout_seconds,
            policy=policy,
            resolver=resolver,
        )
    except targets.TargetRefused as refused:
        return _failed(started_at, clock, f"target refused: {refused.reason}")
    except TimeoutError:
        return _failed(started_at, clock, f"no answer within {timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return _failed(started_at, clock, f"{type(exc).__name__}: {exc}"[:200])
    return Outcome(
        started_at=started_at,
        duration_ms=_elapsed_ms(clock),
        status_code=sent.status,
        excerpt=sent.excerpt,
        retry_after=_retry_after(sent.status, sent.headers.get("retry-after"), started_at),
    )


def _failed(started_at: datetime, clock: float, error: str) -> Outcome:
    return Outcome(started_at=started_at, duration_ms=_elapsed_ms(clock), error=error)


def _elapsed_ms(clock: float) -> int:
    return round((time.perf_counter() - clock) * 1000)


def _retry_after(status: int, value: str | None, now: datetime) -> float | None:
    """The wait a 429 or 503 asked for (seconds, or an HTTP date), or ``None``."""
    if status not in (429, 503) or not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (email.utils.parsedate_to_datetime(value) - now).total_seconds())
    return None


class Dispatcher:
    """The dispatcher of one replica (a :class:`kit.app.Component`): claims as many
    deliveries as it has free slots (``dispatch_concurrency``), attempts each in its own
    task, records it, and claims again; it sleeps until a fan-out commits (:meth:`wake`),
    an attempt ends or ``dispatch_poll_seconds`` pass."""

    name = "dispatcher"

    def __init__(
        self,
        *,
        database: Database,
        settings: WebhooksSettings,
        box: SecretBox,
        policy: targets.TargetPolicy,
        resolver: targets.Resolver | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.box = box
        self.policy = policy
        self.resolver = resolver
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._last_error: str | None = "not started"
        database.session_info[WAKE_KEY] = self.wake

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._client = targets.new_client()
        self._task = asyncio.create_task(self._run(), name="webhooks-dispatcher")

    async def stop(self) -> None:
        tasks = [task for task in (self._task, *self._in_flight) if task]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._client:
            await self._client.aclose()

    async def check(self) -> None:
        if self._last_error is not None:
            raise ConnectionError(self._last_error)

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self._claim()
                self._last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: say so in /readyz, try again
                self._last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("dispatcher cannot claim: %s", self._last_error)
                claimed = []
            for item in claimed:
                task = asyncio.create_task(self._deliver(item))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if not claimed or len(self._in_flight) >= self.settings.dispatch_concurrency:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.dispatch_poll_seconds)
                    # woken: let the burst of commits and finished attempts that woke it
                    # gather, so that one claim takes them all
                    await asyncio.sleep(GATHER_SECONDS)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _claim(self) -> list[Claimed]:
        free = self.settings.dispatch_concurrency - len(self._in_flight)
        if free <= 0:
            return []
        async with self.database.transaction() as session:
            return await claim(
                session=session,
                box=self.box,
                now=utcnow(),
                limit=min(free, self.settings.claim_batch_size),
                lease_seconds=self.settings.delivery_timeout_seconds + LEASE_MARGIN_SECONDS,
                circuit_failures=self.settings.circuit_failures,
            )

    async def _deliver(self, claimed: Claimed) -> None:
        assert self._client is not None, "started"
        outcome = await attempt(
            self._client,
            claimed,
            timeout_seconds=self.settings.delivery_timeout_seconds,
            policy=self.policy,
            resolver=self.resolver,
        )
        try:
            async with self.database.transaction() as session:
                await record(
                    session=session,
                    claimed=claimed,
                    outcome=outcome,
                    settings=self.settings,
                    now=utcnow(),
                )
        except Exception:  # the lease runs out and the delivery is attempted again
            log.exception("cannot record attempt %s of %s", claimed.attempt, claimed.message_id)
