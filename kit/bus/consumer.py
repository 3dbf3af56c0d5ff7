"""Idempotent consumers: handler effects and a ``processed_events`` row commit together.

For every record: decode the CloudEvent, look up the handler for its type, then in one
database transaction claim ``(consumer, event id)`` and run the handler. The Kafka
offset is committed only after that transaction, so a crash anywhere redelivers the
record and the claim turns the redelivery into a no-op. A handler that keeps failing
is retried ``max_attempts`` times, then the record goes to ``<topic>.dlq`` with the
reason in its headers (``python -m kit.bus.dlq`` lists and replays it). Records that
cannot be decoded or validated go to the DLQ at once: retrying cannot fix them.

Replicas of a service share its consumer group. When the group rebalances (a replica
starts, stops or dies), a replica losing partitions finishes the record in hand, commits
what it has handled and stops there before the partitions move (:class:`_Handover`), so the
new owner starts where it left off. A replica that dies takes nothing committed with it:
the new owner gets its uncommitted records again and their claims make them no-ops. Lag is
exported per partition the replica owns (``paddock_consumer_lag``).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import TopicPartition
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import Payload
from kit.bus.envelope import Envelope
from kit.bus.kafka import (
    STOP_TIMEOUT_SECONDS,
    KafkaConnection,
    committed_reader,
    idempotent_producer,
    stop_within,
)
from kit.bus.outbox import ProcessedEvent
from kit.db import Database
from kit.metrics import CONSUMER_EVENTS, CONSUMER_LAG

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
DLQ_HEADER_PREFIX = "paddock_dlq_"
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, ConnectionError, OSError)


class PoisonMessage(Exception):
    """A record no retry can fix (undecodable, or a payload that fails its schema)."""


class EventConsumer:
    """One consumer group of one service (a :class:`kit.app.Component`).

    ``handlers`` maps payload models from ``contracts`` to coroutines taking
    ``(session, payload, envelope)``; the topics to read follow from the models.
    """

    def __init__(
        self,
        *,
        name: str,
        service: str,
        database: Database,
        kafka: KafkaConnection,
        handlers: Mapping[type[Payload], Handler],
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
    ) -> None:
        self.name = f"consumer:{name}"
        self.consumer_name = name
        self.service = service
        self.database = database
        self.kafka = kafka
        self.handlers = {model.event_type: (model, handler) for model, handler in handlers.items()}
        self.topics = sorted({model.topic.name for model in handlers})
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self._task: asyncio.Task[None] | None = None
        self._last_error: str | None = "not started"
        self._handling = asyncio.Lock()
        self._handing_over = False

    @property
    def group_id(self) -> str:
        return f"{self.service}.{self.consumer_name}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.group_id)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=STOP_TIMEOUT_SECONDS)

    async def check(self) -> None:
        if self._last_error is not None:
            raise ConnectionError(self._last_error)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database trouble: back off and reconnect
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("consumer %s failing: %s", self.group_id, self._last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        client_id = f"{self.group_id}"
        consumer = committed_reader(self.kafka, group_id=self.group_id, client_id=client_id)
        consumer.subscribe(self.topics, listener=_Handover(self))
        dlq = idempotent_producer(self.kafka, client_id=f"{client_id}-dlq")
        try:
            await consumer.start()
            await dlq.start()
            self._last_error = None
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=200)
                async with self._handling:
                    for partition, records in batches.items():
                        await self._handle_batch(consumer, dlq, partition, records)
                await self._record_lag(consumer)
        finally:
            await stop_within(consumer)
            await stop_within(dlq)

    async def _handle_batch(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        partition: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> None:
        """Handle ``records`` in order and commit them; during a handover, stop after the
        record in hand and commit up to it."""
        handled = None
        for record in records:
            if self._handing_over or partition not in consumer.assignment():
                break
            await self._process(record, dlq)
            handled = record.offset
        if handled is None:
            return
        try:
            await consumer.commit({partition: handled + 1})
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on without us (a session timed out): the new owner gets these
            # records again and the claims make them no-ops.
            log.warning("%s could not commit %s: %s", self.group_id, partition, exc)

    async def hand_over(self, revoked: set[TopicPartition]) -> None:
        """Before ``revoked`` move to another replica: let the batch in hand stop and commit."""
        self._handing_over = True
        try:
            async with self._handling:
                pass
        finally:
            self._handing_over = False
        for partition in revoked:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(
                    self.service, self.consumer_name, partition.topic, str(partition.partition)
                )

    async def _process(self, record: ConsumerRecord[bytes, bytes], dlq: AIOKafkaProducer) -> None:
        try:
            outcome = await self._handle_with_retries(record)
        except PoisonMessage as exc:
            await self._dead_letter(dlq, record, str(exc))
            outcome = "dead-lettered"
        CONSUMER_EVENTS.labels(self.service, self.consumer_name, outcome).inc()

    async def _handle_with_retries(self, record: ConsumerRecord[bytes, bytes]) -> str:
        envelope, model, handler = self._decode(record)
        if handler is None:
            return "ignored"
        payload = _validate(model, envelope)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.apply(envelope, payload, handler)
            except INFRASTRUCTURE_ERRORS:
                raise  # the database is away: reconnect and get the record redelivered
            except Exception as exc:  # the handler's failure, retried then dead-lettered
                log.warning(
                    "%s failed on %s (attempt %d/%d): %s",
                    self.group_id,
                    envelope.id,
                    attempt,
                    self.max_attempts,
                    exc,
                )
                if attempt == self.max_attempts:
                    raise PoisonMessage(f"handler failed: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _decode(
        self, record: ConsumerRecord[bytes, bytes]
    ) -> tuple[Envelope, type[Payload] | None, Handler | None]:
        try:
            envelope = Envelope.from_record(record.key, record.value, list(record.headers))
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        model, handler = self.handlers.get(envelope.type, (None, None))
        return envelope, model, handler

    async def apply(self, envelope: Envelope, payload: Payload, handler: Handler) -> str:
        """Run ``handler`` once per event id: effects and claim commit together."""
        async with self.database.transaction() as session:
            if not await self._claim(session, envelope.id):
                return "duplicate"
            await handler(session, payload, envelope)
        return "handled"

    async def _claim(self, session: AsyncSession, event_id: str) -> bool:
        dialect = postgresql if self.database.engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(ProcessedEvent)
            .values(consumer=self.consumer_name, event_id=event_id, processed_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        result = await session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _dead_letter(
        self, dlq: AIOKafkaProducer, record: ConsumerRecord[bytes, bytes], reason: str
    ) -> None:
        log.error("%s dead-letters %s@%d: %s", self.group_id, record.topic, record.offset, reason)
        headers = [h for h in record.headers if not h[0].startswith(DLQ_HEADER_PREFIX)]
        headers += [
            (f"{DLQ_HEADER_PREFIX}reason", reason[:1000].encode()),
            (f"{DLQ_HEADER_PREFIX}topic", record.topic.encode()),
            (f"{DLQ_HEADER_PREFIX}partition", str(record.partition).encode()),
            (f"{DLQ_HEADER_PREFIX}offset", str(record.offset).encode()),
            (f"{DLQ_HEADER_PREFIX}consumer", self.group_id.encode()),
            (f"{DLQ_HEADER_PREFIX}at", datetime.now(UTC).isoformat().encode()),
        ]
        await dlq.send_and_wait(
            f"{record.topic}.dlq", value=record.value, key=record.key, headers=headers
        )

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            behind = max(highwater - await consumer.position(partition), 0)
            CONSUMER_LAG.labels(
                self.service, self.consumer_name, partition.topic, str(partition.partition)
            ).set(behind)


class _Handover(ConsumerRebalanceListener):
    """The group waits for these callbacks before it moves partitions."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.consumer.hand_over(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s now owns %s", self.consumer.group_id, sorted(assigned))


def _validate(model: type[Payload] | None, envelope: Envelope) -> Payload:
    assert model is not None
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PoisonMessage(f"payload does not match {model.__name__}: {exc}") from exc
