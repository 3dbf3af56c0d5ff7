"""Fixtures: a token minter, a fake upstream on a real uvicorn server, gateway clients, a
Redis server of the test's own (the shared rate-limit store)."""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import LOCALHOST, DevstackError, free_port
from devstack.redis import RedisServer
from gateway.app import create_app
from gateway.config import DEFAULT_ROUTES, GatewaySettings
from gateway.tests.fake_upstream import fake_upstream
from kit.clock import SYSTEM_CLOCK, Clock
from kit.testing.servers import serving
from kit.testing.tokens import TokenMinter

CLIENT_IP = "203.0.113.7"
SettingsFactory = Callable[..., GatewaySettings]


@pytest.fixture(scope="session")
async def upstream_url(minter: TokenMinter) -> AsyncIterator[str]:
    async with serving(fake_upstream(minter.jwks)) as url:
        yield url


@pytest.fixture
def settings_for(upstream_url: str) -> SettingsFactory:
    """Gateway settings: the fake upstream as identity, rewards, referrals and webhooks,
    events down."""

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "environment": "test",
            "bus_enabled": False,  # no revocation view: these tests run without Kafka
            "jwks_url": f"{upstream_url}/.well-known/jwks.json",
            "upstreams": {
                "identity": upstream_url,
                "rewards": upstream_url,
                "referrals": upstream_url,
                "webhooks": upstream_url,
                "events": f"http://{LOCALHOST}:{free_port()}",
            },
            "routes": {
                **DEFAULT_ROUTES,
                "/v1/echo": "identity",
                "/v1/slow": "identity",
                "/v1/redirect": "identity",
            },
            "total_timeout": 0.5,
            "home_part_timeout": 0.3,
        }
        return GatewaySettings(**{**values, **overrides})

    return make


@asynccontextmanager
async def gateway_client(
    settings: GatewaySettings, clock: Clock = SYSTEM_CLOCK
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client driving a gateway app (lifespan started) over ASGI; ``clock`` times
    token expiry and rate limits (pass a :class:`~kit.testing.clock.FakeClock` to move it)."""
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app, client=(CLIENT_IP, 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        yield client


@pytest.fixture
async def gateway(settings_for: SettingsFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(settings_for()) as client:
        yield client


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own (it starts in milliseconds), to stop and start again."""
    server = RedisServer(tmp_path / "redis")
    try:
        try:
            server.start()
        except DevstackError as exc:
            pytest.fail(f"cannot start Redis for the tests: {exc}", pytrace=False)
        yield server
    finally:
        server.stop()
