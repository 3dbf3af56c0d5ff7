"""Cluster-wide rate limits: gateway replicas sharing one real Redis server, and what each
replica does while that server is stopped, frozen or back."""

import os
import signal
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import pydantic
import pytest
import redis

from devstack import LOCALHOST, free_port
from devstack.redis import RedisServer
from gateway.config import GatewaySettings
from gateway.ratelimit import STORE_COMPONENT
from gateway.tests.conftest import SettingsFactory, gateway_client
from kit.testing.clock import FakeClock
from kit.testing.tokens import TokenMinter

# Where a test is about sharing, not slowness: a loaded test machine may stall one check past
# the default timeout, and the replica would then rightly count on its own.
PATIENT = 2.0
UP_METRIC = f'paddock_component_up{{component="{STORE_COMPONENT}",service="gateway"}}'


async def _alternating(
    replicas: Sequence[httpx.AsyncClient], headers: dict[str, str], count: int
) -> list[httpx.Response]:
    """``count`` requests of one caller, spread over the replicas in turn."""
    return [
        await replicas[i % len(replicas)].get("/v1/echo/x", headers=headers) for i in range(count)
    ]


def _statuses(responses: list[httpx.Response]) -> list[int]:
    return [response.status_code for response in responses]


async def _store_check(gateway: httpx.AsyncClient) -> tuple[int, str, str]:
    """``/readyz``'s status code, its status and its line for the store. (The test gateway
    is ``degraded`` anyway: its ``events`` upstream is down.)"""
    ready = await gateway.get("/readyz")
    return ready.status_code, ready.json()["status"], ready.json()["checks"][STORE_COMPONENT]


async def _store_up_metric(gateway: httpx.AsyncClient) -> float:
    metrics = (await gateway.get("/metrics")).text
    line = next(line for line in metrics.splitlines() if line.startswith(UP_METRIC))
    return float(line.rsplit(" ", 1)[1])


async def test_two_replicas_share_one_limit(
    settings_for: SettingsFactory, minter: TokenMinter, own_redis: RedisServer
) -> None:
    settings = settings_for(
        rate_limit_per_user="10/minute",
        rate_limit_storage_url=own_redis.url,
        rate_limit_storage_timeout=PATIENT,
    )
    headers = minter.headers(uuid.uuid4())
    async with gateway_client(settings) as first, gateway_client(settings) as second:
        responses = await _alternating([first, second], headers, 20)
        other_user = await second.get("/v1/echo/x", headers=minter.headers(uuid.uuid4()))
        check = await _store_check(first)
    assert _statuses(responses) == [200] * 10 + [429] * 10
    refused = responses[10]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert other_user.status_code == 200
    assert check == (200, "degraded", "ok")


async def test_replicas_count_on_their_own_while_the_store_is_down_and_heal(
    settings_for: SettingsFactory, minter: TokenMinter, own_redis: RedisServer
) -> None:
    clock = FakeClock()  # moves the back-off; the store's own windows run in real time
    at_clock = minter.with_clock(clock)
    settings = settings_for(
        rate_limit_per_user="3/minute",
        rate_limit_storage_url=own_redis.url,
        rate_limit_storage_timeout=PATIENT,
        rate_limit_storage_retry_seconds=5,
    )
    async with gateway_client(settings, clock) as first, gateway_client(settings, clock) as second:
        replicas = [first, second]
        own_redis.stop()
        down = await _alternating(replicas, at_clock.headers(uuid.uuid4()), 8)
        down_check, down_metric = await _store_check(first), await _store_up_metric(first)

        own_redis.start()  # empty, on the same port
        before_retry = await _alternating(replicas, at_clock.headers(uuid.uuid4()), 2)
        untouched = redis.Redis.from_url(own_redis.url).dbsize()
        clock.advance(5)  # the back-off is over: the next request tries the store
        healed = await _alternating(replicas, at_clock.headers(uuid.uuid4()), 6)
        healed_check, healed_metric = await _store_check(second), await _store_up_metric(second)
    assert _statuses(down) == [200] * 6 + [429] * 2  # each replica its own 3
    assert down[-1].headers["retry-after"] == "60"
    status, overall, store = down_check
    assert (status, overall) == (200, "degraded")
    assert store.startswith("failing: StoreUnavailable: limits count per replica: ConnectionError")
    assert down_metric == 0
    assert _statuses(before_retry) == [200, 200]
    assert untouched == 0  # no replica asked the store before its back-off ended
    assert _statuses(healed) == [200] * 3 + [429] * 3  # one limit again, across both
    assert healed_check == (200, "degraded", "ok")
    assert healed_metric == 1


async def test_a_frozen_store_costs_one_timeout_then_the_replica_counts_alone(
    settings_for: SettingsFactory, minter: TokenMinter, own_redis: RedisServer
) -> None:
    clock = FakeClock()
    at_clock = minter.with_clock(clock)
    headers = at_clock.headers(uuid.uuid4())
    settings = settings_for(
        rate_limit_per_user="3/minute",
        rate_limit_storage_url=own_redis.url,
        rate_limit_storage_timeout=0.5,
    )
    async with gateway_client(settings, clock) as gateway:
        shared = await gateway.get("/v1/echo/x", headers=headers)  # connected and counted
        os.kill(own_redis.pid, signal.SIGSTOP)  # accepts, never answers: a slow store
        try:
            started = time.monotonic()
            first = await gateway.get("/v1/echo/x", headers=headers)
            first_took = time.monotonic() - started
            started = time.monotonic()
            local = await _alternating([gateway], headers, 3)
            local_took = time.monotonic() - started
            status, overall, store = await _store_check(gateway)
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)
    assert shared.status_code == 200
    assert first.status_code == 200
    assert 0.5 <= first_took < 2.0
    assert _statuses(local) == [200, 200, 429]  # the local window started with `first`
    assert local_took < 0.5  # the frozen store is not asked again (that would be 1.5 s)
    assert (status, overall) == (200, "degraded")
    assert store.endswith("TimeoutError: no answer within 500 ms")


async def test_a_gateway_started_without_its_store_counts_alone(
    settings_for: SettingsFactory, minter: TokenMinter
) -> None:
    nothing_there = f"redis://{LOCALHOST}:{free_port()}/0"
    settings = settings_for(rate_limit_per_user="2/minute", rate_limit_storage_url=nothing_there)
    async with gateway_client(settings) as gateway:
        responses = await _alternating([gateway], minter.headers(uuid.uuid4()), 3)
        status, _, store = await _store_check(gateway)
    assert _statuses(responses) == [200, 200, 429]
    assert status == 200
    assert "ConnectionError" in store


async def test_the_store_password_is_sent(
    settings_for: SettingsFactory, minter: TokenMinter, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", password="s3cret-store")
    server.start()
    try:
        right = settings_for(
            rate_limit_storage_url=server.url,
            rate_limit_storage_password="s3cret-store",
            rate_limit_storage_timeout=PATIENT,
        )
        wrong = settings_for(
            rate_limit_storage_url=server.url, rate_limit_storage_password="guessed"
        )
        async with gateway_client(right) as with_it, gateway_client(wrong) as without_it:
            _, _, accepted = await _store_check(with_it)
            _, _, refused = await _store_check(without_it)
    finally:
        server.stop()
    assert accepted == "ok"
    assert "AuthenticationError" in refused


async def test_without_a_store_the_limits_are_in_memory(settings_for: SettingsFactory) -> None:
    async with gateway_client(settings_for()) as gateway:
        checks = (await gateway.get("/readyz")).json()["checks"]
    assert STORE_COMPONENT not in checks


def test_the_store_url_must_be_redis() -> None:
    with pytest.raises(pydantic.ValidationError, match="must start with one of"):
        GatewaySettings(rate_limit_storage_url="http://127.0.0.1:6379")
    settings = GatewaySettings(
        rate_limit_storage_url="rediss://store:6380/0", rate_limit_storage_password="pw"
    )
    assert "pw" not in repr(settings)
