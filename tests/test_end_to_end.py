"""What a developer does after `make run`: register, log in and read /v1/me through the
gateway, with identity and the gateway as real processes on PostgreSQL and Kafka; the
registration's CloudEvent is on ``identity.users`` exactly once."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kit.testing.kafka import events_for
from tests.processes import ServiceProcess


@pytest.fixture
def stack(
    identity_env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    shared = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    identity = ServiceProcess(
        "services.identity.app:create_app", {**identity_env, **shared}, tmp_path / "identity.log"
    ).start()
    gateway = ServiceProcess(
        "gateway.app:create_app",
        {
            **shared,
            "GATEWAY_UPSTREAMS": f'{{"identity": "{identity.url}"}}',
            "PADDOCK_JWKS_URL": f"{identity.url}/.well-known/jwks.json",
        },
        tmp_path / "gateway.log",
    )
    try:
        yield gateway.start()
    finally:
        gateway.stop()
        identity.stop()


async def test_register_login_me_through_the_gateway(
    stack: ServiceProcess, kafka_bootstrap: str
) -> None:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    password = "a long enough passphrase"
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        registered = await client.post(
            "/v1/auth/register",
            json={"email": email, "password": password, "display_name": "Lena"},
        )
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["id"]

        login = await client.post("/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]

        me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
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
