"""Fixtures for cross-service tests: signing keys and identity's database on PostgreSQL."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kit.testing.plugin import MigratedDatabaseFactory

FAST_ARGON2 = {"IDENTITY_ARGON2_MEMORY_COST_KIB": "8192", "IDENTITY_ARGON2_TIME_COST": "1"}


@pytest.fixture(scope="session")
def identity_signing_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
async def identity_database(migrated_database_factory: MigratedDatabaseFactory) -> str:
    return await migrated_database_factory("identity")


@pytest.fixture
def identity_env(identity_database: str, identity_signing_key: str) -> dict[str, str]:
    return {
        "IDENTITY_DATABASE_URL": identity_database,
        "IDENTITY_JWT_PRIVATE_KEY": identity_signing_key,
        **FAST_ARGON2,
    }
