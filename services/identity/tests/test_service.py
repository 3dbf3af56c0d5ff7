"""Domain rules without HTTP: passwords, keys and settings, and the races the database
must decide (concurrent refreshes, concurrent failed logins)."""

import asyncio
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from kit.auth import StaticKeys, TokenVerifier
from kit.db import Database, utcnow
from kit.testing.services import TEST_CLIENT_ADDRESS
from services.identity.config import IdentitySettings
from services.identity.models import LoginClientThrottle, LoginThrottle
from services.identity.passwords import Passwords, WeakPassword, check_strength
from services.identity.tests.support import Account, login
from services.identity.tokens import (
    KeyRing,
    TokenIssuer,
    generate_private_key_pem,
    hash_secret,
    load_private_key,
)

PEM = generate_private_key_pem().decode()
USER_ID = uuid.uuid4()


def _settings(**values: object) -> IdentitySettings:
    return IdentitySettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "password", ["correct horse battery", "Tr0ub4dor&3x", "十个汉字的密码是可以的吧"]
)
def test_strong_passwords_pass(password: str) -> None:
    check_strength(password, "ann@example.com")


@pytest.mark.parametrize(
    "password", ["123456789", "1234567890123", "aaaaaaaaaaaa", "ann@example.com", "ANN@EXAMPLE.COM"]
)
def test_weak_passwords_fail(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_strength(password, "ann@example.com")


async def test_passwords_hash_verify_and_missing_hash() -> None:
    passwords = Passwords.from_settings(
        _settings(argon2_time_cost=1, argon2_memory_cost_kib=1024, argon2_parallelism=1)
    )
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "correct horse battery")
    assert not await passwords.verify(stored, "wrong")
    assert not await passwords.verify(None, "correct horse battery")
    assert not await passwords.verify("not a hash", "x")
    assert passwords.needs_rehash("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")


def test_production_requires_a_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADDOCK_ENV", "production")
    with pytest.raises(ValidationError, match="IDENTITY_JWT_PRIVATE_KEY"):
        IdentitySettings()
    monkeypatch.setenv("IDENTITY_JWT_PRIVATE_KEY", PEM)
    assert load_private_key(IdentitySettings()).key_size == 2048


def test_development_key_is_generated_once(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "identity-jwt.pem"
    settings = _settings(jwt_private_key_file=key_file)
    first = KeyRing.from_settings(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert KeyRing.from_settings(settings).kid == first.kid


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        lambda: ec.generate_private_key(ec.SECP256R1()),
    ],
    ids=["rsa-1024", "ec"],
)
def test_small_or_foreign_keys_are_refused(make_key: Callable[[], Any]) -> None:
    with pytest.raises(ValueError, match="RSA key of at least 2048 bits"):
        load_private_key(_settings(jwt_private_key=_pem(make_key())))


async def test_rotation_keeps_old_tokens_valid() -> None:
    old = KeyRing.from_settings(_settings(jwt_private_key=PEM))
    old_public = _public_pem(PEM)
    new = KeyRing.from_settings(
        _settings(
            jwt_private_key=generate_private_key_pem().decode(),
            jwt_previous_public_keys=[old_public],
        )
    )
    assert [key["kid"] for key in new.jwks()["keys"]] == [new.kid, old.kid]
    verifier = TokenVerifier(StaticKeys(new.jwks()), issuer="iss", audience="aud")
    for ring in (old, new):
        session_id = uuid.uuid4()
        token = _issuer(ring).access_token(
            user_id=USER_ID, roles=["fan"], now=utcnow(), session_id=session_id
        )
        principal = await verifier.verify(token)
        assert principal.user_id == USER_ID
        assert principal.session_id == session_id


def _issuer(keys: KeyRing) -> TokenIssuer:
    settings = _settings(jwt_private_key=PEM)
    return TokenIssuer(keys, "iss", "aud", settings.access_token_ttl, settings.refresh_token_ttl)


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def test_concurrent_refreshes_rotate_once(
    client: httpx.AsyncClient, account: Account
) -> None:
    body = {"refresh_token": account.refresh_token}
    responses = await asyncio.gather(
        *(client.post("/v1/auth/refresh", json=body) for _ in range(5))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401, 401, 401, 401], [response.text for response in responses]
    refused = {r.json()["type"].rsplit("/", 1)[-1] for r in responses if r.status_code == 401}
    assert refused <= {"refresh-reused", "invalid-refresh"}


async def test_concurrent_failures_all_count(
    client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    failures = await asyncio.gather(
        *(login(client, account.email, "wrong password 1") for _ in range(5))
    )
    # Each attempt checked the delay before its own failure counted, so none saw it.
    assert [response.status_code for response in failures] == [401] * 5
    email_hash = hash_secret(account.email)
    address = hash_secret(f"address:{TEST_CLIENT_ADDRESS[0]}")
    async with database.transaction() as session:
        pair = await session.get(LoginClientThrottle, (email_hash, address))
        ceiling = await session.get(LoginThrottle, email_hash)
    assert pair is not None
    assert ceiling is not None
    assert (pair.failed_logins, ceiling.failed_logins) == (5, 5)
    assert pair.blocked_until is not None
    assert pair.blocked_until > utcnow()
    assert (await login(client, account.email)).status_code == 429
