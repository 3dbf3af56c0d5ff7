"""Registration, login, throttling, refresh rotation, logout and the JWKS over HTTP."""

import asyncio
import hashlib
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from kit.db import Database, utcnow
from kit.testing.services import outbox_events
from services.identity.models import KnownDevice, LoginClientThrottle, LoginThrottle
from services.identity.service.throttle import LoginClient
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
    assert registered.headers["location"] == f"/v1/users/{user['id']}"

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
    assert staged.data["device_hash"] is None, "the app sent no X-Device-Id"
    assert staged.actor == user_id, "the user registered themselves"


async def test_registration_announces_the_devices_hash_not_its_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    email, phone = new_email(), str(uuid.uuid4())
    body = {"email": email, "password": PASSWORD, "display_name": "Ann"}
    registered = await client.post("/v1/auth/register", json=body, headers={"X-Device-Id": phone})
    assert registered.status_code == 201, registered.text
    [staged] = await outbox_events(database, subject=uuid.UUID(registered.json()["id"]))
    assert staged.data["device_hash"] == hashlib.sha256(phone.encode()).hexdigest()
    assert phone not in str(staged.data)

    assert (await login(client, email, device=phone)).status_code == 200
    async with database.reading() as session:
        known = await session.scalar(
            select(col(KnownDevice.device_hash)).where(
                col(KnownDevice.user_id) == uuid.UUID(registered.json()["id"])
            )
        )
    assert known == staged.data["device_hash"], "hashed as login hashes known devices"


async def test_registration_refuses_a_malformed_device_id(
    client: httpx.AsyncClient, database: Database
) -> None:
    before = await row_counts(database)
    for device in ("short", "x" * 129, "has space in it"):
        body = {"email": new_email(), "password": PASSWORD, "display_name": "Ann"}
        response = await client.post(
            "/v1/auth/register", json=body, headers={"X-Device-Id": device}
        )
        assert response.status_code == 422, response.text
    assert await row_counts(database) == before


async def test_access_token_claims(client: httpx.AsyncClient, account: Account) -> None:
    header = jwt.get_unverified_header(account.access_token)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in keys}
    assert claims["sub"] == str(account.id)
    assert claims["typ"] == "access"
    assert claims["roles"] == ["fan"]
    assert claims["exp"] - claims["iat"] == pytest.approx(900, abs=1)  # iat keeps its fraction
    assert claims["sid"], "the session (refresh family) that a revocation names"
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
    [field_error] = response.json()["errors"]
    assert field_error["loc"] == ["body", "password"]
    assert reason in field_error["msg"]
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


WRONG = "wrong password 123"


async def _fail(
    client: httpx.AsyncClient,
    email: str,
    times: int = 5,
    *,
    address: str | None = None,
    device: str | None = None,
) -> None:
    for _ in range(times):
        failed = await login(client, email, WRONG, address=address, device=device)
        assert failed.status_code == 401, failed.text


def _address() -> str:
    """A fresh client address (as the gateway forwards it)."""
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def _device() -> str:
    return str(uuid.uuid4())


async def _client_row(database: Database, email: str, key: str) -> LoginClientThrottle | None:
    async with database.reading() as session:
        return await session.get(LoginClientThrottle, (hash_secret(email), key))


async def _unblock(database: Database, email: str) -> None:
    """Let every client's delay for ``email`` run out, keeping the failure counts."""
    async with database.transaction() as session:
        past = utcnow() - timedelta(seconds=1)
        await session.execute(
            update(LoginClientThrottle)
            .where(col(LoginClientThrottle.email_hash) == hash_secret(email))
            .values(blocked_until=past)
        )


async def test_a_refused_login_is_still_counted(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    """The 401 is raised with ``commit=True``: the failure it answers stays recorded, for
    the account and for the client, whether or not the email has an account."""
    unknown, address = new_email(), _address()
    for email in (account.email, unknown):
        assert (await login(client, email, WRONG, address=address)).status_code == 401
        async with database.reading() as session:
            ceiling = await session.get(LoginThrottle, hash_secret(email))
        pair = await _client_row(database, email, LoginClient(address=address).keys()[0])
        assert ceiling is not None
        assert pair is not None
        assert (ceiling.failed_logins, pair.failed_logins, pair.blocked_until) == (1, 1, None)


async def test_five_failures_from_one_client_do_not_stop_the_owner_elsewhere(
    client: httpx.AsyncClient, account: Account
) -> None:
    """Issue 12, item 5: a stranger's five wrong passwords delay only the stranger."""
    phone, home, stranger = _device(), _address(), _address()
    assert (await login(client, account.email, address=home, device=phone)).status_code == 200

    await _fail(client, account.email, address=stranger)
    blocked = await login(client, account.email, address=stranger)
    assert blocked.status_code == 429, "the right password waits too: the delay comes first"
    assert 28 <= int(blocked.headers["retry-after"]) <= 30
    assert blocked.json()["type"].endswith("/too-many-requests")

    assert (await login(client, account.email, address=_address())).status_code == 200
    # The owner's known device, even from the stranger's address (a shared NAT).
    assert (await login(client, account.email, address=stranger, device=phone)).status_code == 200


async def test_a_fresh_device_id_does_not_escape_the_address_delay(
    client: httpx.AsyncClient, account: Account
) -> None:
    stranger = _address()
    await _fail(client, account.email, address=stranger, device=_device())
    again = await login(client, account.email, WRONG, address=stranger, device=_device())
    assert again.status_code == 429


async def test_the_delay_doubles_up_to_fifteen_minutes(
    client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    stranger = _address()
    await _fail(client, account.email, 4, address=stranger)
    waits = []
    for _ in range(7):
        await _unblock(database, account.email)
        assert (await login(client, account.email, WRONG, address=stranger)).status_code == 401
        blocked = await login(client, account.email, address=stranger)
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["retry-after"]))
    expected = [30, 60, 120, 240, 480, 900, 900]
    assert all(want - 2 <= got <= want for got, want in zip(waits, expected, strict=True)), waits


async def test_unknown_emails_are_throttled_exactly_like_accounts(
    client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    answers = []
    for email in (account.email, new_email()):
        address = _address()
        seen = []
        for _ in range(6):
            response = await login(client, email, WRONG, address=address)
            seen.append((response.status_code, response.json()["detail"]))
        await _unblock(database, email)
        seen.append(((await login(client, email, WRONG, address=address)).status_code, ""))
        answers.append(seen)
    assert answers[0] == answers[1]
    assert [status for status, _ in answers[0]] == [401] * 5 + [429, 401]


async def test_success_resets_that_clients_failures(
    client: httpx.AsyncClient, account: Account
) -> None:
    for _ in range(4):
        await login(client, account.email, WRONG)
    assert (await login(client, account.email)).status_code == 200
    for _ in range(4):
        assert (await login(client, account.email, WRONG)).status_code == 401
    assert (await login(client, account.email)).status_code == 200


async def test_the_account_ceiling_locks_out_all_but_known_devices(
    client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    """100 failures from 100 addresses (each under its own limit, concurrently: they all
    count) lock the account for an hour, except for the owner's known device."""
    phone = _device()
    assert (await login(client, account.email, device=phone)).status_code == 200
    unknown = new_email()
    for email in (account.email, unknown):
        for _ in range(10):
            batch = [login(client, email, WRONG, address=_address()) for _ in range(10)]
            assert {r.status_code for r in await asyncio.gather(*batch)} == {401}
        async with database.reading() as session:
            ceiling = await session.get(LoginThrottle, hash_secret(email))
        assert ceiling is not None
        assert ceiling.locked_until is not None
        assert ceiling.failed_logins == 0, "the count starts again once the account is locked"

    for email in (account.email, unknown):
        locked = await login(client, email, address=_address())
        assert locked.status_code == 429
        assert 3500 <= int(locked.headers["retry-after"]) <= 3600
        assert (await login(client, email, address=_address(), device=_device())).status_code == 429
    assert (await login(client, account.email, address=_address(), device=phone)).status_code == 200
    known_but_wrong = await login(client, account.email, WRONG, device=phone)
    assert known_but_wrong.status_code == 401, "a known device still has its own limit"


async def test_a_known_device_is_remembered_hashed(
    client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    phone = _device()
    assert (await login(client, account.email, device=phone)).status_code == 200
    assert (await login(client, account.email, device=phone)).status_code == 200
    async with database.reading() as session:
        known = (
            await session.scalars(select(KnownDevice).where(col(KnownDevice.user_id) == account.id))
        ).all()
    assert [device.device_hash for device in known] == [hash_secret(phone)]


async def test_a_malformed_device_id_is_refused(
    client: httpx.AsyncClient, account: Account
) -> None:
    for device in ("short", "x" * 129, "has space in it"):
        response = await login(client, account.email, device=device)
        assert response.status_code == 422, response.text


async def test_the_address_is_the_one_the_gateway_appended(
    client: httpx.AsyncClient, account: Account
) -> None:
    """A caller cannot pick its address: the gateway appends what it saw, identity reads
    the rightmost entry."""
    stranger = _address()
    for _ in range(5):
        forged = f"{_address()}, {stranger}"
        assert (await login(client, account.email, WRONG, address=forged)).status_code == 401
    assert (await login(client, account.email, address=stranger)).status_code == 429


async def test_stale_throttle_rows_are_swept(client: httpx.AsyncClient, database: Database) -> None:
    email, address = new_email(), _address()
    assert (await login(client, email, WRONG, address=address)).status_code == 401
    key = LoginClient(address=address).keys()[0]
    async with database.transaction() as session:
        old = utcnow() - timedelta(hours=2)
        await session.execute(
            update(LoginClientThrottle)
            .where(col(LoginClientThrottle.email_hash) == hash_secret(email))
            .values(last_failed_at=old)
        )
        await session.execute(
            update(LoginThrottle)
            .where(col(LoginThrottle.email_hash) == hash_secret(email))
            .values(last_failed_at=old)
        )
    assert (await login(client, new_email(), WRONG)).status_code == 401
    assert await _client_row(database, email, key) is None
    async with database.reading() as session:
        assert await session.get(LoginThrottle, hash_secret(email)) is None


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
