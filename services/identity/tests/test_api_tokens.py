"""Access tokens identity must refuse: expired, forged, unsigned, foreign, or not access."""

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from kit.testing.tokens import TokenMinter
from services.identity.tests.support import Account, bearer
from services.identity.tokens import KeyRing


def _claims(app: FastAPI, account: Account, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    settings = app.state.settings
    return {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(account.id),
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "roles": ["fan", "admin"],
        **overrides,
    }


def _signed(app: FastAPI, account: Account, **overrides: Any) -> str:
    keys: KeyRing = app.state.key_ring
    return keys.sign(_claims(app, account, **overrides))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(app: FastAPI, account: Account) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": app.state.key_ring.kid}
    return f"{_b64(header)}.{_b64(_claims(app, account))}."


def _tampered(app: FastAPI, account: Account) -> str:
    header, _, signature = account.access_token.split(".")
    return f"{header}.{_b64(_claims(app, account, roles=['admin']))}.{signature}"


def _foreign_key(app: FastAPI, account: Account) -> str:
    minter = TokenMinter(kid=app.state.key_ring.kid)
    return jwt.encode(
        _claims(app, account), minter.private_key, algorithm="RS256", headers={"kid": minter.kid}
    )


def _hs256_with_public_key(app: FastAPI, account: Account) -> str:
    n = app.state.key_ring.jwks()["keys"][0]["n"]
    header = {"alg": "HS256", "typ": "JWT", "kid": app.state.key_ring.kid}
    return f"{_b64(header)}.{_b64(_claims(app, account))}.{n[:43]}"


FORGERIES: dict[str, Callable[[FastAPI, Account], str]] = {
    "expired": lambda app, acc: _signed(
        app, acc, iat=int(time.time()) - 2000, exp=int(time.time()) - 1000
    ),
    "wrong issuer": lambda app, acc: _signed(app, acc, iss="someone-else"),
    "wrong audience": lambda app, acc: _signed(app, acc, aud="another-app"),
    "refresh type": lambda app, acc: _signed(app, acc, typ="refresh"),
    "no exp": lambda app, acc: app.state.key_ring.sign(
        {k: v for k, v in _claims(app, acc).items() if k != "exp"}
    ),
    "alg none": _unsigned,
    "tampered payload": _tampered,
    "wrong key": _foreign_key,
    "hs256 confusion": _hs256_with_public_key,
    "garbage": lambda app, acc: "not.a.jwt",
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_bad_access_tokens_are_401(
    client: httpx.AsyncClient, app: FastAPI, account: Account, forge: Callable[..., str]
) -> None:
    response = await client.get("/v1/me", headers=bearer(forge(app, account)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.get("/v1/me", headers=bearer(account.refresh_token))
    assert response.status_code == 401


async def test_missing_credentials_are_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/me")).status_code == 401
    basic = await client.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401


async def test_token_of_an_unknown_user_is_401(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    token = _signed(app, account, sub=str(uuid.uuid4()))
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
