"""Token checks and rate limits at the gateway."""

import asyncio
import time
import uuid

import httpx
import jwt
import pytest

from gateway.tests.conftest import SettingsFactory, gateway_client
from kit.testing.tokens import TokenMinter


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _alg_none(minter: TokenMinter) -> str:
    claims = jwt.decode(minter.token(), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none", headers={"kid": minter.kid})


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
    token = minter.token(ttl=2)  # exp is at least 1 s away (iat is truncated to seconds)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    async with gateway_client(settings_for()) as client:
        assert (await client.get("/v1/echo/x", headers=_bearer(token))).status_code == 200
        await asyncio.sleep(expires - time.time() + 0.1)  # exp passes while it sits cached
        assert (await client.get("/v1/echo/x", headers=_bearer(token))).status_code == 401


async def test_per_user_limit_answers_429_with_retry_after(
    settings_for: SettingsFactory, minter: TokenMinter
) -> None:
    headers = minter.headers(uuid.uuid4())
    async with gateway_client(settings_for(rate_limit_per_user="3/minute")) as client:
        statuses = [(await client.get("/v1/echo/x", headers=headers)).status_code for _ in range(4)]
        refused = await client.get("/v1/echo/x", headers=headers)
        other_user = await client.get("/v1/echo/x", headers=minter.headers(uuid.uuid4()))
    assert statuses == [200, 200, 200, 429]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["status"] == 429
    assert other_user.status_code == 200


async def test_per_ip_limit_covers_anonymous_callers(settings_for: SettingsFactory) -> None:
    async with gateway_client(settings_for(rate_limit_per_ip="2/minute")) as client:
        statuses = [(await client.post("/v1/auth/login", json={})).status_code for _ in range(3)]
        refused = await client.post("/v1/auth/login", json={})
    assert statuses == [200, 200, 429]
    assert int(refused.headers["retry-after"]) >= 1
