"""Revocation on real processes (identity, events, the gateway, Kafka, PostgreSQL): after an
account is deleted, a session logged out, a refresh family revoked for reuse or a role
revoked, the access token still within its 15 minutes is refused with 401 by events
directly, by the gateway and by identity, within a bounded time, and takes no seat and
creates no venue (ADR 0009). Each scenario prints how long the refusal took to arrive."""

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.waiting import eventually
from tests.processes import ServiceProcess
from tests.test_end_to_end import PASSWORD, create_admin, weekend_event

REVOCATION_TIMEOUT = 10.0


@dataclass
class Stack:
    identity: str
    events: str
    gateway: str


@pytest.fixture
async def events_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("events")


@pytest.fixture
def stack(
    identity_env: dict[str, str], events_database: str, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[Stack]:
    """identity, events and the gateway as processes. events runs under a service name of
    its own: its consumer groups must not share identity's partitions with the events
    process of another test on the same broker."""
    shared = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    identity = ServiceProcess(
        "services.identity.app:create_app", {**identity_env, **shared}, tmp_path / "identity.log"
    )
    started: list[ServiceProcess] = []
    try:
        started.append(identity.start())
        jwks = {"PADDOCK_JWKS_URL": f"{identity.url}/.well-known/jwks.json"}
        events_env = {
            "EVENTS_DATABASE_URL": events_database,
            "EVENTS_QR_SECRET": uuid.uuid4().hex,
            "EVENTS_SERVICE_NAME": f"events-revocation-{uuid.uuid4().hex[:8]}",
        }
        events = ServiceProcess(
            "services.events.app:create_app",
            {**shared, **jwks, **events_env},
            tmp_path / "events.log",
        )
        started.append(events.start())
        upstreams = {"identity": identity.url, "events": events.url}
        gateway = ServiceProcess(
            "gateway.app:create_app",
            {**shared, **jwks, "GATEWAY_UPSTREAMS": json.dumps(upstreams)},
            tmp_path / "gateway.log",
        )
        started.append(gateway.start())
        yield Stack(identity=identity.url, events=events.url, gateway=gateway.url)
    finally:
        for process in reversed(started):
            process.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    """Access and refresh token of a fresh login."""
    response = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def new_user(http: httpx.AsyncClient) -> tuple[str, str]:
    email = f"fan-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": "Ann"}
    registered = await http.post("/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    return email, str(registered.json()["id"])


async def published_event(http: httpx.AsyncClient, staff: dict[str, str]) -> str:
    draft = await http.post("/v1/events", json={**weekend_event(), "capacity": 5}, headers=staff)
    assert draft.status_code == 201, draft.text
    event_id = str(draft.json()["id"])
    published = await http.post(f"/v1/events/{event_id}/publish", headers=staff)
    assert published.status_code == 200, published.text
    return event_id


async def seats_left(http: httpx.AsyncClient, event_id: str) -> int:
    return int((await http.get(f"/v1/events/{event_id}")).json()["seats_left"])


async def await_refused(stack: Stack, token: str, what: str, since: float) -> float:
    """Wait until events (directly and through the gateway) and identity answer 401 to
    ``token`` on a read, which changes nothing while waiting; return the seconds since
    ``since`` (the revoking response) and print them."""
    probes = [
        (stack.events, "/v1/me/signups"),
        (stack.gateway, "/v1/me/signups"),
        (stack.identity, "/v1/me"),
    ]
    async with httpx.AsyncClient(timeout=5) as http:

        async def refused_everywhere() -> bool:
            for base, path in probes:
                answer = await http.get(f"{base}{path}", headers=bearer(token))
                if answer.status_code != 401:
                    return False
            return True

        await eventually(
            refused_everywhere,
            timeout=REVOCATION_TIMEOUT,
            interval=0.02,
            message=f"the token was still accepted somewhere after {what}",
        )
    latency = time.monotonic() - since
    print(f"revocation after {what}: refused everywhere {latency * 1000:.0f} ms later")
    return latency


async def refuse_signup(stack: Stack, token: str, event_id: str) -> None:
    """The revoked token signs up neither directly nor through the gateway."""
    async with httpx.AsyncClient(timeout=5) as http:
        for base in (stack.events, stack.gateway):
            signup = await http.post(f"{base}/v1/events/{event_id}/signups", headers=bearer(token))
            assert signup.status_code == 401, (base, signup.text)
            assert signup.headers["content-type"] == "application/problem+json"


async def test_revoked_tokens_are_refused_everywhere_and_take_no_seat(
    stack: Stack, identity_env: dict[str, str]
) -> None:
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    create_admin(identity_env, admin_email)
    latencies: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=30) as http:
        admin = bearer((await login(http, admin_email))["access_token"])
        event_id = await published_event(http, admin)

        # A deleted account
        email, _ = await new_user(http)
        token = (await login(http, email))["access_token"]
        deleted = await http.delete("/v1/me", headers=bearer(token))
        assert deleted.status_code == 204, deleted.text
        latencies["delete"] = await await_refused(stack, token, "DELETE /v1/me", time.monotonic())
        await refuse_signup(stack, token, event_id)

        # Logout: that session's token is refused, a new login is not
        email, _ = await new_user(http)
        tokens = await login(http, email)
        logged_out = await http.post(
            "/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        )
        assert logged_out.status_code == 204, logged_out.text
        latencies["logout"] = await await_refused(
            stack, tokens["access_token"], "logout", time.monotonic()
        )
        await refuse_signup(stack, tokens["access_token"], event_id)
        fresh = bearer((await login(http, email))["access_token"])
        assert (await http.get("/v1/me/signups", headers=fresh)).status_code == 200

        # A reused refresh token: its whole family is revoked, the rotated tokens too
        email, _ = await new_user(http)
        first = await login(http, email)
        rotated = await http.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert rotated.status_code == 200, rotated.text
        reused = await http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401, reused.text
        since = time.monotonic()
        latencies["refresh reuse"] = await await_refused(
            stack, rotated.json()["access_token"], "refresh-token reuse", since
        )
        await await_refused(stack, first["access_token"], "refresh-token reuse", since)
        await refuse_signup(stack, rotated.json()["access_token"], event_id)

        assert await seats_left(http, event_id) == 5, "a revoked token took a seat"

        # A revoked role: the staff token creates no venue; after a refresh, 403
        email, user_id = await new_user(http)
        granted = await http.post(f"/v1/admin/users/{user_id}/roles/staff", headers=admin)
        assert granted.status_code == 200, granted.text
        staff_tokens = await login(http, email)
        staff = bearer(staff_tokens["access_token"])
        venue = {
            "name": "Clubhouse",
            "city": "Shanghai",
            "address": "1 Bund",
            "capacity": 40,
            "timezone": "Asia/Shanghai",
        }
        assert (await http.post("/v1/venues", json=venue, headers=staff)).status_code == 201
        revoked = await http.delete(f"/v1/admin/users/{user_id}/roles/staff", headers=admin)
        assert revoked.status_code == 200, revoked.text
        latencies["role revoked"] = await await_refused(
            stack, staff_tokens["access_token"], "staff revoked", time.monotonic()
        )
        for base in (stack.events, stack.gateway):
            refused = await http.post(f"{base}/v1/venues", json=venue, headers=staff)
            assert refused.status_code == 401, refused.text
        venues = (await http.get("/v1/venues", params={"limit": 100})).json()["items"]
        assert len(venues) == 1, "the revoked staff member created a venue"
        renewed = await http.post(
            "/v1/auth/refresh", json={"refresh_token": staff_tokens["refresh_token"]}
        )
        assert renewed.status_code == 200, renewed.text
        demoted = bearer(renewed.json()["access_token"])
        assert (await http.post("/v1/venues", json=venue, headers=demoted)).status_code == 403

    print("revocation latencies (ms):", {k: round(v * 1000) for k, v in latencies.items()})
    assert max(latencies.values()) < REVOCATION_TIMEOUT
