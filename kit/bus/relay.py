"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

It wakes right after a commit that staged events (see :func:`kit.bus.outbox.publish`)
and also sweeps every ``sweep_interval`` for rows left by a crash or an outage. A row
is marked published only after Kafka acknowledged it (idempotent producer, acks=all),
so a crash between the two steps republishes the row: a duplicate, never a loss.
Every aggregate's events reach Kafka in the order their transactions committed, with any
number of replicas: rows carry a per-aggregate ``sequence`` and a global ``position`` (see
:mod:`kit.bus.outbox`), and a relay publishes only rows of the lanes it has locked, oldest
position first, so two relays never publish one aggregate at once (ADR 0003). Each event
carries its sequence (CloudEvents ``sequence``), so consumers can see a gap or a replay.

Each batch must be acknowledged within ``delivery_timeout``: while Kafka is unreachable
the attempt fails, the relay reports it in ``/readyz``, drops its producer,
backs off and keeps the backlog in the database until Kafka is back (the rows of a batch
that timed out are sent again: a duplicate at worst). A batch waiting longer than
``stall_after`` for its acknowledgements already shows as failing, before it times out.

Its readiness (component ``kafka``) is about Kafka only: when the relay's own database is
away, that is the ``database`` check's news, and the relay keeps what it last knew about
Kafka. A small monitor task refreshes, every ``monitor_interval``, the backlog
(``paddock_outbox_backlog``), the age of the oldest unsent row
(``paddock_outbox_oldest_age_seconds``) and ``paddock_component_up{component="kafka"}``,
so an outage shows in metrics even when nobody asks ``/readyz``.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import Row, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.bus.envelope import Envelope
from kit.bus.kafka import STOP_TIMEOUT_SECONDS, KafkaConnection, idempotent_producer, stop_within
from kit.bus.outbox import OUTBOX_WAKE_KEY, OutboxMessage
from kit.db import Database, utcnow
from kit.metrics import COMPONENT_UP, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)

RETENTION = timedelta(days=7)
MAX_BACKOFF_SECONDS = 5.0
DELIVERY_TIMEOUT_SECONDS = 5.0
STALL_AFTER_SECONDS = 2.0
MONITOR_INTERVAL_SECONDS = 1.0
OUTBOX_COLUMNS = tuple(
    col(getattr(OutboxMessage, name))
    for name in (
        "id",
        "topic",
        "key",
        "type",
        "source",
        "actor_id",
        "data",
        "created_at",
        "sequence",
    )
)
"""What a relay reads of a row (plain rows: building ORM objects cost more than sending)."""
BUSY_LANES_PAUSE_SECONDS = 0.02
"""How long a relay waits when every pending lane is being published by another replica."""
LANE_LOCKS = 0x0B0C
"""The advisory lock namespace of outbox lanes: ``pg_try_advisory_xact_lock(LANE_LOCKS, lane)``."""
LOCK_LANES = text(
    "SELECT lane FROM unnest(CAST(:lanes AS integer[])) AS lane "
    "WHERE pg_try_advisory_xact_lock(:namespace, lane) LIMIT :most"
)


class KafkaUnavailable(ConnectionError):
    """Kafka could not be reached, or did not acknowledge what was sent."""


class DeliveryTimeout(KafkaUnavailable):
    """Kafka did not acknowledge a batch in time (the broker is unreachable or stalled)."""


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the database (driver errors wrapped by SQLAlchemy, a pool
    that timed out, or a socket error raised while the pool connects), not from Kafka.
    Only meaningful outside the relay's Kafka calls, whose errors become
    :class:`KafkaUnavailable`."""
    return isinstance(exc, DBAPIError | PoolTimeout | OSError) and not isinstance(
        exc, KafkaUnavailable
    )


class OutboxRelay:
    """Background publisher of one service's outbox (a :class:`kit.app.Component`)."""

    name = "kafka"

    def __init__(
        self,
        *,
        database: Database,
        kafka: KafkaConnection,
        service: str,
        batch_size: int = 500,
        sweep_interval: float = 1.0,
        delivery_timeout: float = DELIVERY_TIMEOUT_SECONDS,
        stall_after: float = STALL_AFTER_SECONDS,
        monitor_interval: float = MONITOR_INTERVAL_SECONDS,
    ) -> None:
        self.database = database
        self.kafka = kafka
        self.service = service
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.delivery_timeout = delivery_timeout
        self.stall_after = stall_after
        self.monitor_interval = monitor_interval
        self._wake_event = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._kafka_error: str | None = "not started"
        self._delivering_since: float | None = None
        self._lanes_busy = False

    async def start(self) -> None:
        self.database.session_info[OUTBOX_WAKE_KEY] = self.wake
        self._tasks = [
            asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay"),
            asyncio.create_task(self._monitor(), name=f"{self.service}-outbox-monitor"),
        ]

    async def stop(self) -> None:
        self.database.session_info.pop(OUTBOX_WAKE_KEY, None)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
        self._tasks = []
        await self._close_producer()

    async def check(self) -> None:
        reason = self.kafka_problem()
        if reason is not None:
            raise ConnectionError(reason)

    def kafka_problem(self) -> str | None:
        """Why Kafka looks unavailable to this relay, or ``None`` when it does not."""
        if self._delivering_since is not None:
            waited = asyncio.get_running_loop().time() - self._delivering_since
            if waited > self.stall_after:
                return f"Kafka has not acknowledged a batch for {waited:.1f} s"
        return self._kafka_error

    def wake(self) -> None:
        self._wake_event.set()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                producer = await self._ensure_producer()
                published = await self.publish_pending(producer)
                self._kafka_error = None
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka or database trouble: back off, stay visible
                reason = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, KafkaUnavailable):
                    self._kafka_error = reason
                    await self._close_producer()
                elif not is_database_error(exc):
                    self._kafka_error = reason  # unexpected: show it rather than hide it
                # else: the database check reports it; what we knew of Kafka still holds
                log.warning("outbox relay of %s failing: %s", self.service, reason)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if published:  # after a batch, look again at once: more may be waiting
                continue
            if self._lanes_busy:  # other replicas are publishing what is pending
                await asyncio.sleep(BUSY_LANES_PAUSE_SECONDS)
                continue
            await self._sweep_housekeeping()
            await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake_event.wait(), self.sweep_interval)
        self._wake_event.clear()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = idempotent_producer(self.kafka, client_id=f"{self.service}-outbox")
            try:
                async with asyncio.timeout(self.delivery_timeout):
                    await producer.start()
            except BaseException as exc:
                await stop_within(producer)
                if isinstance(exc, KafkaError | TimeoutError):
                    raise KafkaUnavailable(f"cannot start a producer: {exc!r}") from exc
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await stop_within(producer)

    async def publish_pending(self, producer: AIOKafkaProducer) -> int:
        """Publish one batch of pending rows in order; return how many were sent."""
        async with self.database.transaction() as session:
            rows = await self._claim(session)
            if not rows:
                return 0
            self._delivering_since = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(self.delivery_timeout):
                    deliveries = [await self._send(producer, row) for row in rows]
                    await asyncio.gather(*deliveries)
            except TimeoutError as exc:
                raise DeliveryTimeout(
                    f"Kafka did not acknowledge a batch of {len(rows)} events within "
                    f"{self.delivery_timeout:g} s"
                ) from exc
            except KafkaError as exc:
                raise KafkaUnavailable(f"{type(exc).__name__}: {exc}") from exc
            finally:
                self._delivering_since = None
            self._kafka_error = None  # acknowledged: Kafka is fine, whatever the database does
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_([row.id for row in rows]))
                .values(published_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        for row in rows:
            OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
        return len(rows)

    async def _claim(self, session: AsyncSession) -> Sequence[Row[Any]]:
        """The oldest pending rows this relay may publish now, in publication order.

        On PostgreSQL it first locks lanes (transaction-scoped advisory locks, released
        when the batch is marked published): the lanes of the oldest pending rows that no
        other relay holds, at most half of them so that other replicas find work too. It
        reads the rows only once it holds their lanes, so it never sees a row another relay
        is still publishing. SQLite runs one relay (``make run``): it reads in order.
        """
        self._lanes_busy = False
        pending = (
            select(*OUTBOX_COLUMNS)
            .where(col(OutboxMessage.published_at).is_(None))
            .order_by(col(OutboxMessage.position))
            .limit(self.batch_size)
        )
        if self.database.engine.dialect.name != "postgresql":
            return (await session.execute(pending)).all()
        oldest = pending.with_only_columns(col(OutboxMessage.lane)).subquery()
        lanes = [lane for lane in (await session.scalars(select(oldest.c.lane))).unique()]
        if not lanes:
            return []
        held = list(
            await session.scalars(
                LOCK_LANES, {"lanes": lanes, "namespace": LANE_LOCKS, "most": -(-len(lanes) // 2)}
            )
        )
        self._lanes_busy = not held
        if not held:
            return []
        owned = pending.where(col(OutboxMessage.lane).in_(held))
        return (await session.execute(owned)).all()

    async def _send(self, producer: AIOKafkaProducer, row: Row[Any]) -> "asyncio.Future[object]":
        key, value, headers = Envelope(
            id=str(row.id),
            type=row.type,
            source=row.source,
            subject=row.key,
            sequence=row.sequence,
            time=row.created_at,
            data=row.data,
            actor=str(row.actor_id) if row.actor_id else None,
        ).to_record()
        return await producer.send(row.topic, value=value, key=key, headers=headers)

    async def _sweep_housekeeping(self) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                delete(OutboxMessage).where(col(OutboxMessage.published_at) < utcnow() - RETENTION)
            )

    async def _monitor(self) -> None:
        """Refresh the backlog gauges and Kafka's ``paddock_component_up`` continuously."""
        while True:
            COMPONENT_UP.labels(self.service, self.name).set(self.kafka_problem() is None)
            try:
                await self.measure_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database check reports a database outage
                log.debug("outbox backlog of %s not measured: %s", self.service, exc)
            await asyncio.sleep(self.monitor_interval)

    async def measure_backlog(self) -> tuple[int, float]:
        """Set and return the number of unsent rows and the age of the oldest, in seconds."""
        async with self.database.reading() as session:
            backlog, oldest = (
                await session.execute(
                    select(func.count(), func.min(col(OutboxMessage.created_at))).where(
                        col(OutboxMessage.published_at).is_(None)
                    )
                )
            ).one()
        age = max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        OUTBOX_BACKLOG.labels(self.service).set(backlog or 0)
        OUTBOX_OLDEST_AGE.labels(self.service).set(age)
        return int(backlog or 0), age
