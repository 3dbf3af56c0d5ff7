"""Registration, login, lockout, refresh rotation, logout and the JWKS over HTTP."""

import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import ColumnElement, update
from sqlmodel import col

from kit.db import Database, utcnow
from kit.testing.services import outbox_events
from services.identity.models import LoginThrottle, User
from services.identity.tests.support import (
    PASSWORD,
    Account,
    login,
    new_email,
    register,
    row_counts,
)
from services.identity.tokens import hash_secret


async def test_register_login_me(client: httpx.AsyncClient, database: Database) -> None:
    email = new_email()
    registered = await register(client, email.upper(), display_name="  Ann  ", referral_code="R-42")
    assert registered.status_code == 201
    user = registered.json()
    assert user["email"] == email
    assert user["display_name"] == "Ann"
    assert user["roles"] == ["fan"]
    assert "password" not in str(user)

    tokens = (await login(client, email)).json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json() == user

    user_id = uuid.UUID(user["id"])
    [staged] = await outbox_events(database, subject=user_id)
    assert staged.type == "identity.user.registered.v1"
    assert staged.data["referral_code"] == "R-42"
    assert staged.data["display_name"] == "Ann"
    assert staged.actor == user_id, "the user registered themselves"


async def test_access_token_claims(client: httpx.AsyncClient, account: Account) -> None:
    header = jwt.get_unverified_header(account.access_token)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in keys}
    assert claims["sub"] == str(account.id)
    assert claims["typ"] == "access"
    assert claims["roles"] == ["fan"]
    assert claims["exp"] - claims["iat"] == 900
    assert {"iss", "aud", "jti"} <= claims.keys()


async def test_duplicate_email_is_409(client: httpx.AsyncClient, database: Database) -> None:
    email = new_email()
    assert (await register(client, email)).status_code == 201
    before = await row_counts(database)
    duplicate = await register(client, email.upper())
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json()["type"].endswith("/email-taken")
    assert await row_counts(database) == before


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("12345678901234", "only digits"),
        ("abababababab", "different characters"),
        ("{email}", "email"),
        ("{local}", "email"),
    ],
)
async def test_weak_password_is_422(
    client: httpx.AsyncClient, database: Database, password: str, reason: str
) -> None:
    email = new_email()
    before = await row_counts(database)
    password = password.format(email=email.upper(), local=email.split("@")[0])
    response = await register(client, email, password=password)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/weak-password")
    assert reason in response.json()["detail"]
    assert await row_counts(database) == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD, "display_name": "Ann"},
        {"email": "a@example.com", "password": PASSWORD, "display_name": 7},
        {"email": "a@example.com", "password": ["x"], "display_name": "Ann"},
        {"email": "a@example.com", "password": PASSWORD, "display_name": "   "},
        {"email": "a@example.com", "password": PASSWORD, "display_name": "a\x00b"},
        {"email": "a@example.com", "password": PASSWORD, "display_name": "Ann", "roles": ["admin"]},
        {"email": "a@example.com", "password": PASSWORD, "display_name": "Ann", "is_owner": True},
        {"email": "a@example.com", "password": PASSWORD},
        {"email": "a@example.com", "password": "x" * 257, "display_name": "Ann"},
        {
            "email": "a@example.com",
            "password": PASSWORD,
            "display_name": "Ann",
            "referral_code": "a b",
        },
        [],
    ],
)
async def test_register_rejects_bad_bodies(
    client: httpx.AsyncClient, database: Database, body: object
) -> None:
    before = await row_counts(database)
    response = await client.post("/v1/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")
    assert await row_counts(database) == before


async def test_malformed_json_is_422(client: httpx.AsyncClient, database: Database) -> None:
    before = await row_counts(database)
    response = await client.post(
        "/v1/auth/register",
        content=b'{"email": "a@example.com", "password":',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert await row_counts(database) == before


async def test_oversized_body_is_413(client: httpx.AsyncClient, database: Database) -> None:
    before = await row_counts(database)
    body = {"email": new_email(), "password": PASSWORD, "display_name": "x" * 70_000}
    response = await client.post("/v1/auth/register", json=body)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert await row_counts(database) == before


async def test_wrong_password_and_unknown_email_look_alike(
    client: httpx.AsyncClient, account: Account
) -> None:
    wrong = await login(client, account.email, "wrong password 123")
    unknown = await login(client, new_email(), "wrong password 123")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "invalid email or password"
    assert wrong.json()["type"] == unknown.json()["type"]


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient, account: Account) -> None:
    assert (await login(client, account.email.upper())).status_code == 200


async def _fail_five_times(client: httpx.AsyncClient, email: str) -> None:
    for _ in range(5):
        assert (await login(client, email, "wrong password 123")).status_code == 401


async def test_a_refused_login_is_still_counted(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    """The 401 is raised with ``commit=True``: the failure it answers stays recorded."""
    assert (await login(client, account.email, "wrong password 123")).status_code == 401
    unknown = new_email()
    assert (await login(client, unknown, "wrong password 123")).status_code == 401
    async with database.reading() as session:
        user = await session.get(User, account.id)
        throttle = await session.get(LoginThrottle, hash_secret(unknown))
    assert user is not None
    assert (user.failed_logins, user.last_failed_at is not None) == (1, True)
    assert throttle is not None
    assert (throttle.failed_logins, throttle.last_failed_at is not None) == (1, True)


async def test_lockout_after_five_failures(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    await _fail_five_times(client, account.email)
    locked = await login(client, account.email)
    assert locked.status_code == 429
    assert 890 <= int(locked.headers["retry-after"]) <= 900
    assert locked.json()["type"].endswith("/too-many-requests")

    await _expire_lock(database, User, col(User.id) == account.id)
    assert (await login(client, account.email)).status_code == 200


async def test_unknown_email_locks_the_same_way(
    client: httpx.AsyncClient, database: Database
) -> None:
    email = new_email()
    await _fail_five_times(client, email)
    locked = await login(client, email)
    assert locked.status_code == 429
    assert 890 <= int(locked.headers["retry-after"]) <= 900

    await _expire_lock(database, LoginThrottle, col(LoginThrottle.email_hash) == hash_secret(email))
    assert (await login(client, email)).status_code == 401


async def test_success_resets_the_failure_count(
    client: httpx.AsyncClient, account: Account
) -> None:
    for _ in range(4):
        await login(client, account.email, "wrong password 123")
    assert (await login(client, account.email)).status_code == 200
    for _ in range(4):
        assert (await login(client, account.email, "wrong password 123")).status_code == 401
    assert (await login(client, account.email)).status_code == 200


async def _expire_lock(database: Database, model: type, condition: ColumnElement[bool]) -> None:
    async with database.transaction() as session:
        past = utcnow() - timedelta(seconds=1)
        await session.execute(update(model).where(condition).values(locked_until=past))


async def test_refresh_rotates(client: httpx.AsyncClient, account: Account) -> None:
    rotated = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert rotated.status_code == 200
    pair = rotated.json()
    assert pair["refresh_token"] != account.refresh_token
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200

    again = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


async def test_refresh_reuse_revokes_the_family(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    newest = first.json()["refresh_token"]

    reused = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reused.status_code == 401
    assert reused.json()["type"].endswith("/refresh-reused")
    revoked = await client.post("/v1/auth/refresh", json={"refresh_token": newest})
    assert revoked.status_code == 401


async def test_other_sessions_survive_a_reuse(client: httpx.AsyncClient, account: Account) -> None:
    other = (await login(client, account.email)).json()["refresh_token"]
    await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    survived = await client.post("/v1/auth/refresh", json={"refresh_token": other})
    assert survived.status_code == 200


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient, database: Database) -> None:
    before = await row_counts(database)
    response = await client.post("/v1/auth/refresh", json={"refresh_token": "nope"})
    assert response.status_code == 401
    assert await row_counts(database) == before


async def test_logout_revokes_the_family(client: httpx.AsyncClient, account: Account) -> None:
    rotated = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    newest = rotated.json()["refresh_token"]
    assert (await client.post("/v1/auth/logout", json={"refresh_token": newest})).status_code == 204
    refused = await client.post("/v1/auth/refresh", json={"refresh_token": newest})
    assert refused.status_code == 401
    assert (await client.post("/v1/auth/logout", json={"refresh_token": newest})).status_code == 204
    unknown = await client.post("/v1/auth/logout", json={"refresh_token": "nope"})
    assert unknown.status_code == 401


async def test_jwks(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert "d" not in key


async def test_password_length_is_in_the_schema(client: httpx.AsyncClient) -> None:
    response = await register(client, new_email(), password="short1!")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "password"]
    assert "at least 10 characters" in response.json()["errors"][0]["msg"]
