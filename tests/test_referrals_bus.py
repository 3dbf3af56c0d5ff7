"""Referrals end to end on real Kafka and PostgreSQL, identity, referrals and rewards with
their consumers and outbox relays on: A registers; B registers with A's code from another
device; the sales system reports B's test drive, order and delivery on ``partners.inbound``
(every report twice, the order after the delivery) → identity makes B an owner, the
referral's reward is pending, the jobs run approves it after the refund window, and
rewards credits A's lead, test drive and delivery and B's welcome exactly once, released
on approval. C, also A's, returns the car inside the window: the referral is voided and
rewards takes back what it earned.

Every app runs under a service name unique to the test, so its consumer groups are its
own on the session's shared broker.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.catalog import Payload
from contracts.identity import IDENTITY_USERS
from contracts.partners import (
    PARTNERS_INBOUND,
    SalesOrderPlaced,
    SalesOrderRefunded,
    SalesReport,
    SalesTestDriveDone,
    SalesVehicleDelivered,
)
from contracts.referrals import REFERRALS_FUNNEL, REFERRALS_REWARDS
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection, idempotent_producer, stop_within
from kit.db import Database
from kit.testing.kafka import create_topics
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import rows, running, scalar, service_client
from kit.testing.tokens import TokenMinter
from kit.testing.waiting import eventually
from services.identity.app import create_app as create_identity
from services.identity.tests.support import PASSWORD, identity_settings, new_email
from services.referrals.app import create_app as create_referrals
from services.referrals.config import ReferralsSettings
from services.referrals.service import jobs
from services.rewards.app import create_app as create_rewards
from services.rewards.config import RewardsSettings

SETTLE_SECONDS = 90
# rewards' seeded referral rules: a lead 50 points, a test drive 200, the delivery 5000
# for the referrer and 2000 for the referee, held from pending until approval
LEAD, DRIVE, DELIVERY, WELCOME = 50, 200, 5000, 2000


@dataclass
class Stack:
    identity: httpx.AsyncClient
    referrals: httpx.AsyncClient
    identity_db: Database
    referrals_db: Database
    rewards_db: Database
    minter: TokenMinter
    kafka: str


@pytest.fixture
async def stack(
    migrated_database_factory: MigratedDatabaseFactory, kafka_bootstrap: str, minter: TokenMinter
) -> AsyncIterator[Stack]:
    await create_topics(
        kafka_bootstrap,
        [IDENTITY_USERS.name, PARTNERS_INBOUND.name, REFERRALS_FUNNEL.name, REFERRALS_REWARDS.name],
        partitions=3,
    )
    run = uuid.uuid4().hex[:8]
    identity = create_identity(
        identity_settings(
            await migrated_database_factory("identity"),
            kafka_bootstrap,
            service_name=f"identity-{run}",
        )
    )
    referrals = create_referrals(
        ReferralsSettings(
            service_name=f"referrals-{run}",
            database_url=await migrated_database_factory("referrals"),
            kafka_bootstrap_servers=kafka_bootstrap,
            bus_enabled=True,
        ),
        token_verifier=minter.verifier(),
    )
    rewards = create_rewards(
        RewardsSettings(
            service_name=f"rewards-{run}",
            database_url=await migrated_database_factory("rewards"),
            kafka_bootstrap_servers=kafka_bootstrap,
            bus_enabled=True,
        ),
        token_verifier=minter.verifier(),
    )
    async with (
        running(identity),
        running(referrals),
        running(rewards),
        service_client(identity) as identity_http,
        service_client(referrals, base_url="http://referrals") as referrals_http,
    ):
        yield Stack(
            identity=identity_http,
            referrals=referrals_http,
            identity_db=identity.state.database,
            referrals_db=referrals.state.database,
            rewards_db=rewards.state.database,
            minter=minter,
            kafka=kafka_bootstrap,
        )


async def announce(bootstrap: str, reports: list[Payload]) -> None:
    producer = idempotent_producer(KafkaConnection(bootstrap), client_id="test-sales-system")
    await producer.start()
    try:
        for report in reports:
            envelope = Envelope(
                type=report.event_type,
                source="webhooks",
                subject=report.subject(),
                data=report.model_dump(mode="json"),
            )
            key, value, headers = envelope.to_record()
            await producer.send_and_wait(report.topic.name, value, key=key, headers=headers)
    finally:
        await stop_within(producer)


def sales_reports(customer: uuid.UUID, delivered: datetime, *, refunded: bool) -> list[Payload]:
    ref = f"crm-{uuid.uuid4().hex[:8]}"

    def report(kind: type[SalesReport], at: datetime, **fields: Any) -> SalesReport:
        return kind(
            partner_id="sales-crm",
            report_id=f"{ref}-{kind.__name__}",
            customer_ref=ref,
            customer_user_id=customer,
            occurred_at=at,
            **fields,
        )

    vin = f"LNBSC{uuid.uuid4().hex[:12].upper()}"
    drive = report(SalesTestDriveDone, delivered - timedelta(days=20))
    order = report(SalesOrderPlaced, delivered - timedelta(days=14), order_ref=ref)
    delivery = report(SalesVehicleDelivered, delivered, order_ref=ref, vin=vin)
    reports: list[Payload] = [drive, delivery, order, drive, delivery, order]
    if refunded:
        reports.append(report(SalesOrderRefunded, delivered + timedelta(days=3), order_ref=ref))
    return reports


async def registered(stack: Stack, device: str, **fields: Any) -> uuid.UUID:
    body = {"email": new_email(), "password": PASSWORD, **fields}
    response = await stack.identity.post(
        "/v1/auth/register", json=body, headers={"X-Device-Id": device}
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def referral_points(database: Database, user_id: uuid.UUID) -> tuple[int, int, int]:
    """The member's points from referrals: spendable, held, and how many entries."""
    entries = await rows(
        database,
        "SELECT amount FROM ledger_entries WHERE user_id = :u AND currency = 'points'"
        " AND reference_type = 'referral'",
        u=user_id,
    )
    account = await rows(
        database, "SELECT points, pending_points FROM accounts WHERE user_id = :u", u=user_id
    )
    return sum(e.amount for e in entries), account[0].pending_points if account else 0, len(entries)


async def test_a_referral_from_registration_to_approved_rewards(stack: Stack) -> None:
    a = await registered(stack, "device-of-a-0001", display_name="Owner A")
    code_response = await stack.referrals.get(
        "/v1/me/referral-code", headers=stack.minter.headers(a, ("fan",))
    )
    code = code_response.json()["code"]
    b = await registered(stack, "device-of-b-0002", display_name="Friend B", referral_code=code)
    c = await registered(stack, "device-of-c-0003", display_name="Friend C", referral_code=code)

    async def leads() -> list[Any]:
        return await rows(
            stack.referrals_db,
            "SELECT id, referee_user_id, announced FROM referrals WHERE referrer_id = :a",
            a=a,
        )

    async def both_leads() -> bool:
        return len(await leads()) == 2

    await eventually(both_leads, timeout=SETTLE_SECONDS)
    by_referee = {row.referee_user_id: row for row in await leads()}
    assert all(row.announced for row in by_referee.values())

    long_ago = datetime.now(UTC) - timedelta(days=31)
    await announce(stack.kafka, sales_reports(b, long_ago, refunded=False))
    await announce(
        stack.kafka, sales_reports(c, datetime.now(UTC) - timedelta(days=5), refunded=True)
    )

    async def owner_and_pending() -> bool:
        roles = await rows(stack.identity_db, "SELECT role FROM user_roles WHERE user_id = :u", u=b)
        states = await rows(
            stack.referrals_db,
            "SELECT referee_user_id, reward_state FROM referrals WHERE referrer_id = :a",
            a=a,
        )
        wanted = {(b, "pending"), (c, "voided")}
        return "owner" in {row.role for row in roles} and {tuple(s) for s in states} == wanted

    await eventually(owner_and_pending, timeout=SETTLE_SECONDS)

    async def held() -> bool:
        return await referral_points(stack.rewards_db, b) == (WELCOME, WELCOME, 1)

    await eventually(held, timeout=SETTLE_SECONDS)
    assert await jobs.approve_rewards(stack.referrals_db, batch_size=10) == 1

    async def settled() -> bool:
        referrer = await referral_points(stack.rewards_db, a)
        referee = await referral_points(stack.rewards_db, b)
        counted = await scalar(
            stack.rewards_db,
            "SELECT count(*) FROM referral_rewards WHERE referrer_id = :a"
            " AND counted_year IS NOT NULL",
            a=a,
        )
        # A keeps B's lead, drive and delivery; C's were taken back; A counts once
        return (
            referrer[0] == LEAD + DRIVE + DELIVERY
            and referrer[1] == 0
            and referee == (WELCOME, 0, 1)
            and counted == 1
        )

    await eventually(settled, timeout=SETTLE_SECONDS)
    c_referral = by_referee[c].id
    c_entries = await rows(
        stack.rewards_db,
        "SELECT amount FROM ledger_entries WHERE reference_id = :r AND currency = 'points'",
        r=str(c_referral),
    )
    assert sum(e.amount for e in c_entries) == 0, "the voided referral's credit was taken back"
    assert any(e.amount < 0 for e in c_entries)
