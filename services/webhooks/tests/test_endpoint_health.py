"""One endpoint's trouble stays its own: a slow and a dead endpoint never delay a healthy
one, a 429 with ``Retry-After`` pauses only its endpoint, a run of failures opens the circuit
and an endpoint failing for too long is disabled (and says so) until it is enabled again;
ordered endpoints get one subject's messages in order; URLs that must not be called are
refused when they are set."""

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from contracts.referrals import LeadCreated, RefereeDriveBooked
from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.services import outbox_events, running, scalar, service_client
from kit.testing.tokens import TokenMinter
from kit.testing.waiting import eventually
from services.webhooks.app import create_app
from services.webhooks.tests.conftest import settings_for
from services.webhooks.tests.support import (
    Receiver,
    always,
    new_endpoint,
    new_partner,
    publish_to_webhooks,
    sleeping,
)


def lead(referral_id: uuid.UUID | None = None) -> LeadCreated:
    return LeadCreated(
        referral_id=referral_id or uuid.uuid4(),
        referrer_id=uuid.uuid4(),
        referee_user_id=None,
        occurred_at=datetime.now(UTC),
        source="share_form",
    )


MESSAGES = 30


def name() -> str:
    return uuid.uuid4().hex


async def test_a_slow_and_a_dead_endpoint_do_not_delay_a_healthy_one(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    slow, dead, healthy = name(), name(), name()
    receiver.answers[slow] = sleeping(5.0)  # past the one-second timeout
    receiver.answers[dead] = always(503)
    partner = await new_partner(client, admin)
    for hook in (slow, dead, healthy):
        await new_endpoint(client, admin, partner, receiver.url(hook), max_in_flight=2)
    for _ in range(MESSAGES):
        await publish_to_webhooks(database, lead())

    await receiver.wait_for(healthy, MESSAGES, within=60)
    # the slow endpoint can start two attempts per timeout (a second): had the healthy one
    # waited behind it, the slow one would have been tried with every message first
    assert len(receiver.received[slow]) < MESSAGES


async def test_a_429_with_retry_after_pauses_that_endpoint_only(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    limited, other = name(), name()
    receiver.answers[limited] = lambda n: (
        always(429, {"Retry-After": "2"})(n) if n == 1 else always(200)(n)
    )
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(limited))
    await new_endpoint(client, admin, partner, receiver.url(other))
    await publish_to_webhooks(database, lead())
    [first] = await receiver.wait_for(limited, 1)

    async def paused() -> bool:
        found = await client.get(f"/v1/webhook-endpoints/{endpoint.id}", headers=admin)
        return found.json()["paused_until"] is not None

    await eventually(paused, timeout=15)
    await publish_to_webhooks(database, lead())
    await receiver.wait_for(other, 2)
    assert len(receiver.received[limited]) == 1, "paused while Retry-After lasts"
    later = await receiver.wait_for(limited, 3, within=10)
    assert later[1].at - first.at >= 1.9


async def test_an_ordered_endpoint_gets_one_subjects_messages_in_order(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, database: Database
) -> None:
    hook = name()
    receiver.answers[hook] = lambda n: always(500)(n) if n == 1 else always(200)(n)
    partner = await new_partner(client, admin)
    await new_endpoint(client, admin, partner, receiver.url(hook), ordered=True)
    referral = uuid.uuid4()
    first = await publish_to_webhooks(database, lead(referral))
    second = await publish_to_webhooks(
        database,
        RefereeDriveBooked(
            referral_id=referral,
            referrer_id=uuid.uuid4(),
            referee_user_id=None,
            occurred_at=datetime.now(UTC),
        ),
    )
    received = await receiver.wait_for(hook, 3)
    assert [request.json()["id"] for request in received] == [first.id, first.id, second.id]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://100.64.0.1/",
        "ftp://partner.example/hook",
        "http://user:pass@partner.example/hook",
        "https://private.partner.test/hook",
        "https://rebinding.partner.test/hook",
    ],
)
async def test_a_url_that_must_not_be_called_is_refused_when_it_is_set(
    strict_client: httpx.AsyncClient, admin: dict[str, str], strict_database: Database, url: str
) -> None:
    partner = await new_partner(strict_client, admin)
    before = await scalar(strict_database, "SELECT count(*) FROM endpoints")
    response = await strict_client.post(
        f"/v1/partner-apps/{partner.id}/endpoints",
        json={"url": url, "event_types": ["*"]},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await scalar(strict_database, "SELECT count(*) FROM endpoints") == before


async def test_an_unknown_event_type_pattern_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    partner = await new_partner(client, admin)
    for patterns in (["identity.user.*"], ["referrals.funel.*"], ["not a pattern"]):
        response = await client.post(
            f"/v1/partner-apps/{partner.id}/endpoints",
            json={"url": "http://127.0.0.1:9/hook", "event_types": patterns},
            headers=admin,
        )
        assert response.status_code == 422, (patterns, response.text)


FAKE_DNS = {
    "private.partner.test": ["10.1.2.3"],
    "rebinding.partner.test": ["93.184.216.34", "10.0.0.1"],
}


async def fake_dns(host: str, _: int) -> list[str]:
    return FAKE_DNS[host]


# --- apps of their own, each alone on its database (a dispatcher works its whole queue) ---


@pytest.fixture(scope="module")
async def strict_app(
    migrated_database_factory: MigratedDatabaseFactory, minter: TokenMinter
) -> AsyncIterator[FastAPI]:
    """The production policy: no allow-list; partner.test names resolve as FAKE_DNS says."""
    url = await migrated_database_factory("webhooks")
    settings = settings_for(url, allowed_targets=[])
    app = create_app(settings, token_verifier=minter.verifier(), resolver=fake_dns)
    async with running(app):
        yield app


@pytest.fixture(scope="module")
async def strict_client(strict_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(strict_app, base_url="http://webhooks") as client:
        yield client


@pytest.fixture(scope="module")
def strict_database(strict_app: FastAPI) -> Database:
    database: Database = strict_app.state.database
    return database


@pytest.fixture(scope="module")
async def impatient_app(
    migrated_database_factory: MigratedDatabaseFactory, minter: TokenMinter
) -> AsyncIterator[FastAPI]:
    """Opens a circuit after three failures and disables an endpoint after 1.5 s failing."""
    url = await migrated_database_factory("webhooks")
    settings = settings_for(
        url,
        circuit_failures=3,
        circuit_cooldown_seconds=0.5,
        disable_after_seconds=1.5,
        retry_schedule_seconds=[0.0] + [0.1] * 30,
    )
    async with running(create_app(settings, token_verifier=minter.verifier())) as app:
        yield app


async def test_a_dead_endpoint_opens_its_circuit_then_is_disabled_and_can_be_enabled(
    impatient_app: FastAPI, admin: dict[str, str], receiver: Receiver
) -> None:
    hook = name()
    receiver.answers[hook] = always(500)
    database: Database = impatient_app.state.database
    async with service_client(impatient_app, base_url="http://webhooks") as client:
        await _disabled_then_enabled(client, database, admin, receiver, hook)


async def _disabled_then_enabled(
    client: httpx.AsyncClient,
    database: Database,
    admin: dict[str, str],
    receiver: Receiver,
    hook: str,
) -> None:
    partner = await new_partner(client, admin)
    endpoint = await new_endpoint(client, admin, partner, receiver.url(hook))
    await publish_to_webhooks(database, lead())

    async def disabled() -> bool:
        found = await client.get(f"/v1/webhook-endpoints/{endpoint.id}", headers=admin)
        return bool(found.json()["status"] == "disabled")

    await eventually(disabled, timeout=20)
    attempts = receiver.received[hook]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert any(gap >= 0.45 for gap in gaps), "the circuit opened after three failures"
    [announced] = await outbox_events(
        database, subject=endpoint.id, event_type="webhooks.endpoint.disabled.v1"
    )
    assert announced.data["reason"] == "failing"
    assert announced.data["partner_id"] == str(partner.id)

    count = len(receiver.received[hook])
    await publish_to_webhooks(database, lead())
    receiver.answers[hook] = always(200)
    enabled = await client.post(f"/v1/webhook-endpoints/{endpoint.id}/enable", headers=admin)
    assert enabled.json()["status"] == "enabled"
    assert enabled.json()["consecutive_failures"] == 0
    await receiver.wait_for(hook, count + 1)
    [_] = await outbox_events(
        database, subject=endpoint.id, event_type="webhooks.endpoint.enabled.v1"
    )
