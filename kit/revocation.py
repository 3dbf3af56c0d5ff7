"""The revocation view: which access tokens identity has invalidated before their ``exp``.

Identity publishes on ``identity.users`` (keyed by user, so ordered per user) what ends a
token's validity (ADR 0009): ``identity.user.deleted.v1``, ``identity.user.role_changed.v1``
that revokes a role, and ``identity.user.sessions_revoked.v1`` (logout, a reused refresh
token's family). Every replica of every service keeps this small view of them in memory,
fed from the bus, and :class:`kit.auth.TokenVerifier` asks it on every request:

* user → *tokens issued before T are refused* (account deleted, a role revoked, every
  session revoked);
* session (``sid``, identity's refresh-token family) → revoked at T: every token of that
  session is refused (a revoked family never issues another one).

The view reads **without a consumer group** (manual assignment of every partition,
``read_committed``): every replica needs every revocation, and nothing is committed. On
start it seeks each partition to the first record newer than ``now - max_token_lifetime -
skew`` (``offsets_for_times``): anything older concerns only tokens that have expired
anyway (the verifier caps ``exp - iat``). :meth:`RevocationView.start` returns once it has
read up to the end offsets seen at start, so a starting service neither refuses wrongly
nor admits a token revoked before it started; the wait is bounded (``catch_up_timeout``),
after which the service starts degraded (``/readyz`` says so) and the view keeps reading.
Entries older than the maximum token lifetime are dropped.
"""

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from contracts.catalog import Payload
from contracts.identity import IDENTITY_USERS, SessionsRevoked, UserDeleted, UserRoleChanged
from kit.auth import CLOCK_SKEW_SECONDS, MAX_TOKEN_LIFETIME_SECONDS, Principal, TokenVerifier
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, committed_reader, stop_within
from kit.clock import SYSTEM_CLOCK, Clock
from kit.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

CATCH_UP_TIMEOUT_SECONDS = 15.0
POLL_TIMEOUT_MS = 200
TOPIC_RECHECK_SECONDS = 2.0
MAX_LAG_RECORDS = 1_000
REVOKED = "token revoked"
MODELS: Mapping[str, type[Payload]] = {
    model.event_type: model for model in (UserDeleted, UserRoleChanged, SessionsRevoked)
}


class RevocationView:
    """Revocations from ``identity.users``, in memory (a :class:`kit.app.Component`)."""

    name = "revocations"

    def __init__(
        self,
        kafka: KafkaConnection,
        *,
        service: str,
        topic: str = IDENTITY_USERS.name,
        max_token_lifetime: float = MAX_TOKEN_LIFETIME_SECONDS,
        catch_up_timeout: float = CATCH_UP_TIMEOUT_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.kafka = kafka
        self.service = service
        self.topic = topic
        self.max_token_lifetime = max_token_lifetime
        self.catch_up_timeout = catch_up_timeout
        self.clock = clock
        self.users: dict[uuid.UUID, float] = {}
        self.sessions: dict[uuid.UUID, float] = {}
        self.caught_up = asyncio.Event()
        self._failed = asyncio.Event()
        self.lag = 0
        self._targets: dict[TopicPartition, int] = {}
        self._last_error: str | None = "not started"
        self._task: asyncio.Task[None] | None = None

    # What the verifier asks

    def refuses(self, principal: Principal) -> str | None:
        """Why ``principal``'s token is revoked, or ``None``: two dictionary lookups."""
        before = self.users.get(principal.user_id)
        if before is not None and principal.issued_at < before:
            return REVOKED
        if principal.session_id is not None and principal.session_id in self.sessions:
            return REVOKED
        return None

    # What the bus tells

    def apply(self, envelope: Envelope) -> None:
        """Fold one event of ``identity.users`` into the view (other types are ignored)."""
        model = MODELS.get(envelope.type)
        if model is None:
            return
        try:
            payload = model.model_validate(envelope.data)
        except ValidationError as exc:
            log.warning("revocation view skips invalid %s %s: %s", envelope.type, envelope.id, exc)
            return
        if isinstance(payload, UserDeleted):
            self._refuse_user(payload.user_id, payload.deleted_at)
        elif isinstance(payload, UserRoleChanged):
            if payload.revoked:  # a grant waits for the next refresh; a loss is at once
                self._refuse_user(payload.user_id, payload.changed_at or envelope.time)
        elif isinstance(payload, SessionsRevoked):
            if not payload.session_ids:
                self._refuse_user(payload.user_id, payload.revoked_at)
            for session_id in payload.session_ids:
                at = payload.revoked_at.timestamp()
                self.sessions[session_id] = max(self.sessions.get(session_id, at), at)

    def _refuse_user(self, user_id: uuid.UUID, at: datetime) -> None:
        before = at.timestamp()
        self.users[user_id] = max(self.users.get(user_id, before), before)

    def prune(self) -> None:
        """Forget revocations older than the longest token lifetime: every token they
        refused has expired (``exp - iat`` is capped by the verifier)."""
        horizon = self.clock.time() - self.max_token_lifetime - CLOCK_SKEW_SECONDS
        for entries in (self.users, self.sessions):
            for key in [key for key, at in entries.items() if at < horizon]:
                del entries[key]

    # Lifecycle

    async def start(self) -> None:
        """Read until the end offsets seen now, then go on reading in the background. Waits
        at most ``catch_up_timeout``, and not at all once Kafka failed to answer: a service
        whose broker is down starts degraded at once rather than late."""
        self._task = asyncio.create_task(self._run(), name=f"{self.service}.revocations")
        waits = [
            asyncio.create_task(self.caught_up.wait()),
            asyncio.create_task(self._failed.wait()),
        ]
        await asyncio.wait(
            waits, timeout=self.catch_up_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for wait in waits:
            wait.cancel()
        if not self.caught_up.is_set():
            log.warning(
                "revocation view of %s not caught up (%s): serving degraded",
                self.service,
                self._last_error or f"{self.lag} records behind after {self.catch_up_timeout} s",
            )

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5.0)

    async def check(self) -> None:
        if self._last_error is not None:
            raise ConnectionError(self._last_error)
        if not self.caught_up.is_set():
            raise RuntimeError(f"catching up with {self.topic}: {self.lag} records behind")
        if self.lag > MAX_LAG_RECORDS:
            raise RuntimeError(f"{self.lag} records behind on {self.topic}")

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker trouble: back off, reconnect, seek again
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._failed.set()
                log.warning("revocation view of %s failing: %s", self.service, self._last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _read(self) -> None:
        consumer = committed_reader(
            self.kafka, group_id=None, client_id=f"{self.service}-revocations"
        )
        try:
            await consumer.start()
            assigned = await self._assign(consumer, set())
            self._targets = await consumer.end_offsets(list(assigned)) if assigned else {}
            self._last_error = None
            rechecked = self.clock.monotonic()
            while True:
                await self._check_caught_up(consumer)
                if assigned:
                    batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=500)
                    for records in batches.values():
                        for record in records:
                            self._apply_record(record)
                else:  # no topic yet (getmany would wait for an assignment forever)
                    await asyncio.sleep(POLL_TIMEOUT_MS / 1000)
                self.prune()
                await self._record_lag(consumer)
                if self.clock.monotonic() - rechecked > TOPIC_RECHECK_SECONDS:
                    assigned = await self._assign(consumer, assigned)  # created, or grew
                    rechecked = self.clock.monotonic()
        finally:
            await stop_within(consumer)

    async def _assign(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> set[TopicPartition]:
        """Assign every partition of the topic; seek the new ones to the time horizon."""
        # fresh metadata: the topic may have been created or grown (topics() only returns
        # names, and partitions_for_topic() reads a cache that manual assignment never fills)
        cluster = await consumer._client.fetch_all_metadata()
        numbers = cluster.partitions_for_topic(self.topic) or set()
        partitions = {TopicPartition(self.topic, number) for number in numbers}
        fresh = partitions - assigned
        if not fresh:
            return assigned
        positions = {partition: await consumer.position(partition) for partition in assigned}
        consumer.assign(list(partitions))  # forgets the positions: seek the old ones back
        for partition, offset in positions.items():
            consumer.seek(partition, offset)
        if not assigned:  # the first assignment: start at the horizon
            since_ms = int(
                (self.clock.time() - self.max_token_lifetime - CLOCK_SKEW_SECONDS) * 1000
            )
            offsets = await consumer.offsets_for_times(dict.fromkeys(fresh, since_ms))
            ends = await consumer.end_offsets(list(fresh))
            for partition in fresh:
                found = offsets.get(partition)
                consumer.seek(partition, found.offset if found is not None else ends[partition])
        else:  # partitions created while running hold only new records: read them all
            await consumer.seek_to_beginning(*fresh)
        return partitions

    def _apply_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = Envelope.from_record(record.key, record.value, list(record.headers))
        except ValueError as exc:
            log.warning("revocation view skips %s@%d: %s", record.topic, record.offset, exc)
            return
        self.apply(envelope)

    async def _check_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        if self.caught_up.is_set():
            return
        for partition, end in self._targets.items():
            if await consumer.position(partition) < end:
                return
        self.caught_up.set()

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        lag = 0
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            behind = max(highwater - await consumer.position(partition), 0)
            CONSUMER_LAG.labels(
                self.service, "revocations", partition.topic, str(partition.partition)
            ).set(behind)
            lag += behind
        self.lag = lag


def attach_revocation_view(
    verifier: TokenVerifier, *, kafka: KafkaConnection, service: str
) -> RevocationView:
    """A view read from ``kafka`` that ``verifier`` consults from now on, with
    the verifier's clock and lifetime cap; start it as a component of the app."""
    view = RevocationView(
        kafka,
        service=service,
        max_token_lifetime=verifier.max_token_lifetime,
        clock=verifier.clock,
    )
    verifier.revocations = view
    return view
