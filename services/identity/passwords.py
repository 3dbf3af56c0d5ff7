"""Password hashing (Argon2id) and the password rule.

Hashing is deliberately slow, so it runs in a worker thread and never blocks the event
loop. Verifying against a missing hash still spends the same work on a dummy hash, so
that a login for an unknown email takes as long as one for a wrong password.

The rule: 10 to 256 characters, not only digits, at least 4 different characters, and
not the email address or its local part (case-insensitive).
"""

import asyncio
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from kit.problems import Problem
from services.identity.config import IdentitySettings

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_DISTINCT = 4


class WeakPassword(Problem):
    """A password that breaks a rule; ``errors`` names the field, as a 422 on the schema does,
    so that an app shows the reason beside the password field."""

    status, code = 422, "weak-password"

    def __init__(self, detail: str) -> None:
        field_error = {"loc": ["body", "password"], "msg": detail, "type": self.code}
        super().__init__(detail, errors=[field_error])


def check_strength(password: str, email: str) -> None:
    """Raise :class:`WeakPassword` with the first rule ``password`` breaks."""
    lowered = password.lower()
    email = email.lower()
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_LENGTH} characters")
    if password.isdigit():
        raise WeakPassword("the password cannot be only digits")
    if len(set(password)) < MIN_DISTINCT:
        raise WeakPassword(f"the password needs at least {MIN_DISTINCT} different characters")
    if lowered in (email, email.partition("@")[0]):
        raise WeakPassword("the password cannot be the email address")


class Passwords:
    """Hash and verify passwords off the event loop."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._dummy_hash = hasher.hash(secrets.token_urlsafe())

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> "Passwords":
        return cls(
            PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost_kib,
                parallelism=settings.argon2_parallelism,
                type=Type.ID,
            )
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; a missing hash costs the same and never matches."""
        matches = await asyncio.to_thread(self._verify, stored_hash or self._dummy_hash, password)
        return matches and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
