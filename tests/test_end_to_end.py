"""What a developer does after `make run`, with identity, events and the gateway as real
processes on PostgreSQL and Kafka: register, log in and read /v1/me through the gateway
(the registration's CloudEvent is on ``identity.users`` exactly once), then staff publish
an event, the user takes a seat, sees it on the home screen, deletes the account, and
events (told over Kafka) gives the seat back."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from devstack import REPO_ROOT
from kit.testing.kafka import events_for
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.waiting import eventually
from tests.processes import ServiceProcess

PASSWORD = "a long enough passphrase"


@pytest.fixture
async def events_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("events")


@contextmanager
def processes(
    identity_env: dict[str, str], kafka: str, logs: Path, events_database: str | None = None
) -> Iterator[ServiceProcess]:
    """identity, the gateway and (with a database for it) events; yields the gateway.

    Only one test runs events: its consumer group is the same in every events process, so
    two of them on one broker (pytest-xdist workers) would share identity's partitions."""
    shared = {"KAFKA_BOOTSTRAP_SERVERS": kafka}
    identity = ServiceProcess(
        "services.identity.app:create_app", {**identity_env, **shared}, logs / "identity.log"
    ).start()
    jwks = {"PADDOCK_JWKS_URL": f"{identity.url}/.well-known/jwks.json"}
    upstreams = {"identity": identity.url}
    events = None
    if events_database is not None:
        events_env = {"EVENTS_DATABASE_URL": events_database, "EVENTS_QR_SECRET": uuid.uuid4().hex}
        events = ServiceProcess(
            "services.events.app:create_app", {**shared, **jwks, **events_env}, logs / "events.log"
        )
        upstreams["events"] = events.url
    gateway = ServiceProcess(
        "gateway.app:create_app",
        {**shared, **jwks, "GATEWAY_UPSTREAMS": json.dumps(upstreams)},
        logs / "gateway.log",
    )
    try:
        if events is not None:
            events.start()
        yield gateway.start()
    finally:
        gateway.stop()
        if events is not None:
            events.stop()
        identity.stop()


@pytest.fixture
def identity_stack(
    identity_env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    with processes(identity_env, kafka_bootstrap, tmp_path) as gateway:
        yield gateway


@pytest.fixture
def stack(
    identity_env: dict[str, str], events_database: str, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    with processes(identity_env, kafka_bootstrap, tmp_path, events_database) as gateway:
        yield gateway


def create_admin(identity_env: dict[str, str], email: str) -> None:
    env = {**os.environ, **identity_env, "PADDOCK_ENV": "test", "IDENTITY_ADMIN_PASSWORD": PASSWORD}
    done = subprocess.run(
        [sys.executable, "-m", "services.identity.cli", "create-admin", "--email", email],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def weekend_event() -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "title": "Saturday coffee ride",
        "category": "ride",
        "city": "Shanghai",
        "capacity": 1,
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(),
        "starts_at": (now + timedelta(days=2)).isoformat(),
        "ends_at": (now + timedelta(days=2, hours=3)).isoformat(),
    }


async def test_register_login_me_through_the_gateway(
    identity_stack: ServiceProcess, kafka_bootstrap: str
) -> None:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=identity_stack.url, timeout=30) as client:
        registered = await client.post(
            "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Lena"}
        )
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["id"]

        me = await client.get("/v1/me", headers=await login(client, email))
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user_id
        assert me.json()["email"] == email
        assert me.headers["x-request-id"]

        anonymous = await client.get("/v1/me")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"

    events = await events_for(kafka_bootstrap, "identity.users", user_id)
    assert [event.type for event in events] == ["identity.user.registered.v1"]
    assert events[0].source == "identity"
    assert events[0].data["user_id"] == user_id
    assert events[0].actor == user_id, "the actor crosses Kafka in the CloudEvents auth context"


async def test_staff_publish_a_user_signs_up_and_sees_it_at_home(
    stack: ServiceProcess, identity_env: dict[str, str], kafka_bootstrap: str
) -> None:
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    fan_email = f"fan-{uuid.uuid4().hex[:8]}@example.com"
    create_admin(identity_env, admin_email)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        body = {"email": fan_email, "password": PASSWORD, "display_name": "Mo"}
        assert (await client.post("/v1/auth/register", json=body)).status_code == 201
        staff, fan = await login(client, admin_email), await login(client, fan_email)

        draft = await client.post("/v1/events", json=weekend_event(), headers=staff)
        assert draft.status_code == 201, draft.text
        event_id = draft.json()["id"]
        published = await client.post(f"/v1/events/{event_id}/publish", headers=staff)
        assert published.status_code == 200, published.text

        signup = await client.post(f"/v1/events/{event_id}/signups", headers=fan)
        assert signup.status_code == 201, signup.text
        assert signup.json()["status"] == "confirmed"

        page = await client.get(f"/v1/events/{event_id}")
        assert page.status_code == 200, page.text
        assert page.json()["seats_left"] == 0

        home = await client.get("/v1/me/home", headers=fan)
        assert home.status_code == 200, home.text
        assert home.json()["profile"]["email"] == fan_email
        assert [item["event_id"] for item in home.json()["signups"]["items"]] == [event_id]
        assert home.json()["offers"] == {"items": [], "next_cursor": None}
        assert set(home.json()["unavailable"]) == {"wallet", "feed", "referrals"}

        deleted = await client.delete("/v1/me", headers=fan)
        assert deleted.status_code == 204, deleted.text
        await wait_for_free_seat(client, event_id)

    moves = await events_for(kafka_bootstrap, "events.signups", event_id, expect=2)
    assert [event.type for event in moves] == [
        "events.signup.confirmed.v1",
        "events.signup.cancelled.v1",
    ]


async def wait_for_free_seat(client: httpx.AsyncClient, event_id: str) -> None:
    """identity.user.deleted crosses Kafka to events, which releases the user's seat."""

    async def freed() -> bool:
        return (await client.get(f"/v1/events/{event_id}")).json()["seats_left"] == 1

    await eventually(freed, timeout=60, message="the deleted user's seat was never freed")
