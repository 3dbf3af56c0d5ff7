"""The whole way of a webhook, on real Kafka and PostgreSQL, with webhooks as a real process:
events on the bus are delivered to a subscribed receiver, and when the process is killed
with SIGKILL in the middle of delivering, the restarted one delivers the rest: every event
is delivered at least once, none is lost (counted at the receiver against what was
published on the bus).

The SIGKILL is of webhooks, not of PostgreSQL: what is committed stays committed; what dies
is the deliveries leased and in flight, whose leases run out and are claimed again.
"""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.referrals import LeadCreated
from contracts.webhooks import WEBHOOKS_ENDPOINTS, WEBHOOKS_MESSAGES
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, idempotent_producer, stop_within
from kit.db import Database
from kit.testing.kafka import create_topics
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import scalar
from kit.testing.waiting import eventually
from services.webhooks.models import Signing
from services.webhooks.service import endpoints, partners
from services.webhooks.service.event_types import PARTNER_TOPICS
from services.webhooks.service.secrets import SecretBox
from services.webhooks.service.targets import TargetPolicy
from services.webhooks.tests.support import Receiver, receiving, sleeping
from tests.processes import ServiceProcess

WEBHOOKS = "services.webhooks.app:create_app"
SECRETS_KEY = "test-webhooks-secrets-key"
EVENTS = 60


@pytest.fixture
async def webhooks_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("webhooks")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


async def subscribe(database_url: str, url: str) -> None:
    """A partner with one endpoint on ``url``, made as the admin API makes them."""
    database = Database(database_url, service="webhooks")
    box = SecretBox(SECRETS_KEY)
    try:
        async with database.transaction() as session:
            partner, _ = await partners.create(
                session=session,
                box=box,
                slug=f"crash-{uuid.uuid4().hex[:8]}",
                name="Crash test dealer",
                contact_email="crash@example.com",
            )
            await endpoints.create(
                session=session,
                box=box,
                policy=TargetPolicy(require_https=False, allowed_hosts=frozenset({"127.0.0.0/8"})),
                partner_id=partner.id,
                url=url,
                description="",
                event_types=["referrals.funnel.*"],
                signing=Signing.HMAC,
                ordered=False,
                max_in_flight=5,
                rate_per_second=None,
            )
    finally:
        await database.dispose()


async def publish_leads(bootstrap: str, count: int) -> set[str]:
    producer = idempotent_producer(KafkaConnection(bootstrap), client_id="test-referrals")
    await producer.start()
    published = set()
    try:
        for _ in range(count):
            lead = LeadCreated(
                referral_id=uuid.uuid4(),
                referrer_id=uuid.uuid4(),
                referee_user_id=None,
                occurred_at=datetime.now(UTC),
                source="share_form",
            )
            envelope = Envelope(
                type=lead.event_type,
                source="referrals",
                subject=lead.subject(),
                data=lead.model_dump(mode="json"),
            )
            key, value, headers = envelope.to_record()
            await producer.send_and_wait(lead.topic.name, value, key=key, headers=headers)
            published.add(envelope.id)
    finally:
        await stop_within(producer)
    return published


def delivered(receiver: Receiver, hook: str, published: set[str]) -> set[str]:
    """The published events the receiver got (the group reads the shared topic from its
    start: other tests' leads come too, to this test's endpoint)."""
    return {request.json()["id"] for request in receiver.received[hook]} & published


async def test_sigkill_mid_delivery_loses_nothing(
    webhooks_database: str, kafka_bootstrap: str, receiver: Receiver, tmp_path: Path
) -> None:
    await create_topics(
        kafka_bootstrap,
        [topic.name for topic in PARTNER_TOPICS]
        + [WEBHOOKS_ENDPOINTS.name, WEBHOOKS_MESSAGES.name],
        partitions=3,
    )
    hook = uuid.uuid4().hex
    receiver.answers[hook] = sleeping(0.2)
    await subscribe(webhooks_database, receiver.url(hook))
    env = {
        "WEBHOOKS_SERVICE_NAME": f"webhooks-{uuid.uuid4().hex[:8]}",
        "WEBHOOKS_DATABASE_URL": webhooks_database,
        "WEBHOOKS_SECRETS_KEY": SECRETS_KEY,
        "WEBHOOKS_REQUIRE_HTTPS": "false",
        "WEBHOOKS_ALLOWED_TARGETS": '["127.0.0.0/8"]',
        "WEBHOOKS_DELIVERY_TIMEOUT_SECONDS": "2",
        "WEBHOOKS_RETRY_SCHEDULE_SECONDS": json.dumps([0] + [0.5] * 7),
        "WEBHOOKS_DATABASE_POOL_SIZE": "5",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    first = ServiceProcess(WEBHOOKS, env, tmp_path / "webhooks-1.log").start()
    try:
        published = await publish_leads(kafka_bootstrap, EVENTS)
        await eventually(
            lambda: len(delivered(receiver, hook, published)) >= EVENTS // 4,
            timeout=60,
            message="the first process delivered too little",
        )
        in_flight = await scalar_in_flight(webhooks_database)
    finally:
        first.kill()
    assert in_flight > 0, "the kill should land while deliveries are in flight"
    before_restart = len(delivered(receiver, hook, published))
    assert before_restart < EVENTS, "the kill should land before everything was delivered"

    second = ServiceProcess(WEBHOOKS, env, tmp_path / "webhooks-2.log").start()
    try:
        await eventually(
            lambda: delivered(receiver, hook, published) == published,
            timeout=90,
            message=lambda: (
                f"{EVENTS - len(delivered(receiver, hook, published))} of {EVENTS} never arrived"
            ),
        )
    finally:
        second.stop()


async def scalar_in_flight(url: str) -> int:
    database = Database(url, service="webhooks")
    try:
        return int(
            await scalar(
                database,
                "SELECT count(*) FROM deliveries WHERE status = 'pending' AND leased_until > now()",
            )
        )
    finally:
        await database.dispose()
