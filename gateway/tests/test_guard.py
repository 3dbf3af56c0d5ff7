"""Token checks and rate limits at the gateway."""

import logging
import uuid

import httpx
import jwt
import pytest

from gateway.tests.conftest import SettingsFactory, gateway_client
from kit.logs import ACCESS_LOGGER
from kit.testing.clock import FakeClock
from kit.testing.tokens import TokenMinter


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _alg_none(minter: TokenMinter) -> str:
    claims = jwt.decode(minter.token(), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none", headers={"kid": minter.kid})  # type: ignore[arg-type]


def _forged(minter: TokenMinter) -> str:
    return TokenMinter(kid=minter.kid).token()


def _expired(minter: TokenMinter) -> str:
    return minter.token(ttl=-60)


def _wrong_audience(minter: TokenMinter) -> str:
    return minter.token(aud="someone-else")


@pytest.mark.parametrize("make_token", [_alg_none, _forged, _expired, _wrong_audience])
async def test_invalid_tokens_are_refused_at_the_gateway(
    gateway: httpx.AsyncClient, minter: TokenMinter, make_token: object
) -> None:
    assert callable(make_token)
    response = await gateway.get("/v1/echo/x", headers=_bearer(make_token(minter)))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_protected_route_without_token_is_401(gateway: httpx.AsyncClient) -> None:
    response = await gateway.delete("/v1/me")
    assert response.status_code == 401
    assert response.json()["status"] == 401


async def test_other_schemes_are_refused(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/echo/x", headers={"authorization": "Basic YTpi"})
    assert response.status_code == 401


async def test_public_route_ignores_a_stale_token(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.post("/v1/auth/login", headers=_bearer(_expired(minter)), json={})
    assert response.status_code == 200


async def test_cached_verification_still_honours_expiry(
    settings_for: SettingsFactory, minter: TokenMinter
) -> None:
    clock = FakeClock()
    token = minter.with_clock(clock).token(ttl=60)
    async with gateway_client(settings_for(), clock) as client:
        assert (await client.get("/v1/echo/x", headers=_bearer(token))).status_code == 200
        clock.advance(59)
        assert (await client.get("/v1/echo/x", headers=_bearer(token))).status_code == 200
        clock.advance(1)  # exp passes while the verification sits cached
        expired = await client.get("/v1/echo/x", headers=_bearer(token))
    assert expired.status_code == 401
    assert expired.json()["detail"] == "token expired"


async def test_per_user_limit_answers_429_with_retry_after(
    settings_for: SettingsFactory, minter: TokenMinter
) -> None:
    clock = FakeClock()
    at_clock = minter.with_clock(clock)
    headers = at_clock.headers(uuid.uuid4())
    async with gateway_client(settings_for(rate_limit_per_user="3/minute"), clock) as client:
        statuses = [(await client.get("/v1/echo/x", headers=headers)).status_code for _ in range(3)]
        clock.advance(20)
        refused = await client.get("/v1/echo/x", headers=headers)
        other_user = await client.get("/v1/echo/x", headers=at_clock.headers(uuid.uuid4()))
        clock.advance(39)
        last_second = await client.get("/v1/echo/x", headers=headers)
        clock.advance(1)  # the window that started at the first request is over
        next_window = await client.get("/v1/echo/x", headers=headers)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "40"
    assert refused.json()["status"] == 429
    assert other_user.status_code == 200
    assert (last_second.status_code, last_second.headers["retry-after"]) == (429, "1")
    assert next_window.status_code == 200


async def test_per_ip_limit_covers_anonymous_callers(settings_for: SettingsFactory) -> None:
    clock = FakeClock()
    async with gateway_client(settings_for(rate_limit_per_ip="2/minute"), clock) as client:
        statuses = [(await client.post("/v1/auth/login", json={})).status_code for _ in range(3)]
        refused = await client.post("/v1/auth/login", json={})
        clock.advance(60)
        next_window = await client.post("/v1/auth/login", json={})
    assert statuses == [200, 200, 429]
    assert refused.headers["retry-after"] == "60"
    assert next_window.status_code == 200


class AccessRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.fields.append(record.fields)  # type: ignore[attr-defined]


async def test_the_access_log_names_the_caller_of_a_proxied_request(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    user_id = uuid.uuid4()
    records = AccessRecords()
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(records)
    try:
        response = await gateway.get("/v1/echo/x", headers=minter.headers(user_id))
    finally:
        logger.removeHandler(records)
    assert response.status_code == 200
    [proxied] = [fields for fields in records.fields if fields["path"] == "/v1/echo/x"]
    assert proxied["user_id"] == str(user_id)
