"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

It wakes right after a commit that staged events (see :func:`kit.bus.outbox.publish`)
and also sweeps every ``sweep_interval`` for rows left by a crash or an outage. A row
is marked published only after Kafka acknowledged it (idempotent producer, acks=all),
so a crash between the two steps republishes the row: a duplicate, never a loss.
Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas share the
work. Each batch must be acknowledged within ``delivery_timeout``: while Kafka is
unreachable the attempt fails, the relay reports it in ``/readyz``, drops its producer,
backs off and keeps the backlog in the database until Kafka is back (the rows of a batch
that timed out are sent again: a duplicate at worst).
"""

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, func, select, update
from sqlmodel import col

from kit.bus.envelope import Envelope
from kit.bus.kafka import STOP_TIMEOUT_SECONDS, idempotent_producer, stop_within
from kit.bus.outbox import OUTBOX_WAKE_KEY, OutboxMessage
from kit.db import Database, utcnow
from kit.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)

RETENTION = timedelta(days=7)
MAX_BACKOFF_SECONDS = 10.0
DELIVERY_TIMEOUT_SECONDS = 5.0


class DeliveryTimeout(ConnectionError):
    """Kafka did not acknowledge a batch in time (the broker is unreachable or stalled)."""


class OutboxRelay:
    """Background publisher of one service's outbox (a :class:`kit.app.Component`)."""

    name = "kafka"

    def __init__(
        self,
        *,
        database: Database,
        bootstrap_servers: str,
        service: str,
        batch_size: int = 500,
        sweep_interval: float = 1.0,
        delivery_timeout: float = DELIVERY_TIMEOUT_SECONDS,
    ) -> None:
        self.database = database
        self.bootstrap_servers = bootstrap_servers
        self.service = service
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.delivery_timeout = delivery_timeout
        self._wake_event = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_error: str | None = "not started"

    async def start(self) -> None:
        self.database.session_info[OUTBOX_WAKE_KEY] = self.wake
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        self.database.session_info.pop(OUTBOX_WAKE_KEY, None)
        if self._task:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=STOP_TIMEOUT_SECONDS)
        await self._close_producer()

    async def check(self) -> None:
        if self._last_error is not None:
            raise ConnectionError(self._last_error)

    def wake(self) -> None:
        self._wake_event.set()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                producer = await self._ensure_producer()
                published = await self.publish_pending(producer)
                self._last_error = None
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka or database trouble: back off, stay visible
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay of %s failing: %s", self.service, self._last_error)
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if published < self.batch_size:
                await self._sweep_housekeeping()
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake_event.wait(), self.sweep_interval)
        self._wake_event.clear()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = idempotent_producer(
                self.bootstrap_servers, client_id=f"{self.service}-outbox"
            )
            try:
                await producer.start()
            except BaseException:
                await stop_within(producer)
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
            query = (
                select(OutboxMessage)
                .where(col(OutboxMessage.published_at).is_(None))
                .order_by(col(OutboxMessage.id))
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )
            rows = list((await session.scalars(query)).all())
            if not rows:
                return 0
            try:
                async with asyncio.timeout(self.delivery_timeout):
                    deliveries = [await self._send(producer, row) for row in rows]
                    await asyncio.gather(*deliveries)
            except TimeoutError as exc:
                raise DeliveryTimeout(
                    f"Kafka did not acknowledge a batch of {len(rows)} events within "
                    f"{self.delivery_timeout:g} s"
                ) from exc
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_([row.id for row in rows]))
                .values(published_at=utcnow())
            )
        for row in rows:
            OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
        return len(rows)

    async def _send(
        self, producer: AIOKafkaProducer, row: OutboxMessage
    ) -> "asyncio.Future[object]":
        key, value, headers = Envelope(
            id=str(row.id),
            type=row.type,
            source=row.source,
            subject=row.key,
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
            backlog = await session.scalar(
                select(func.count()).where(col(OutboxMessage.published_at).is_(None))
            )
        OUTBOX_BACKLOG.labels(self.service).set(backlog or 0)
