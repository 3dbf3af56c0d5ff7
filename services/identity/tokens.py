"""Signing keys, access tokens and refresh tokens.

Access tokens are RS256 JWTs carrying ``iss aud sub exp iat jti typ roles sid``; ``sid`` is
the refresh-token family (the session a revocation names), ``iat`` keeps its fraction of a
second so that a token issued just after a revocation is not taken for one issued before
(ADR 0009). Their header
names the signing key's ``kid`` (its RFC 7638 thumbprint). The JWKS publishes the
current key and the previous ones still trusted after a rotation: to rotate, set the
new private key and move the old public key to ``IDENTITY_JWT_PREVIOUS_PUBLIC_KEYS``
until the last token it signed has expired (one access-token TTL).

Refresh tokens are opaque random strings; only their SHA-256 is stored.
"""

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from kit.auth import ACCESS_TOKEN_TYPE, ALGORITHM
from kit.ids import new_id
from services.identity.config import IdentitySettings

MIN_KEY_BITS = 2048
REFRESH_TOKEN_BYTES = 32


def load_private_key(settings: IdentitySettings) -> rsa.RSAPrivateKey:
    """The signing key from the environment, or (development only) from the key file."""
    pem = settings.jwt_private_key.get_secret_value().strip()
    if pem:
        return _parse_private_key(pem.encode())
    if not settings.is_development:
        raise ValueError("IDENTITY_JWT_PRIVATE_KEY must be set outside development")
    return _parse_private_key(_dev_key_pem(settings.jwt_private_key_file))


def generate_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _dev_key_pem(path: Path) -> bytes:
    """Read the development key, creating it (mode 0600) exactly once if it is missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    pem = generate_private_key_pem()
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return pem


def _parse_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
        raise ValueError(f"the JWT signing key must be an RSA key of at least {MIN_KEY_BITS} bits")
    return key


def _parse_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("previous JWT keys must be RSA public keys")
    return key


def _public_jwk(key: rsa.RSAPublicKey) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "kid": kid, "use": "sig", "alg": ALGORITHM}


class KeyRing:
    """The current signing key and the public keys still accepted after a rotation."""

    def __init__(
        self, signing_key: rsa.RSAPrivateKey, previous: Iterable[rsa.RSAPublicKey] = ()
    ) -> None:
        self._signing_key = signing_key
        self._signing_jwk = _public_jwk(signing_key.public_key())
        self._jwks = [self._signing_jwk, *(_public_jwk(key) for key in previous)]

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> "KeyRing":
        previous = [_parse_public_key(pem) for pem in settings.jwt_previous_public_keys]
        return cls(load_private_key(settings), previous)

    @property
    def kid(self) -> str:
        return str(self._signing_jwk["kid"])

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(jwk) for jwk in self._jwks]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._signing_key, algorithm=ALGORITHM, headers={"kid": self.kid})


@dataclass(frozen=True)
class TokenIssuer:
    """Mints access tokens and says how long refresh tokens live."""

    keys: KeyRing
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta

    def access_token(
        self,
        *,
        user_id: UUID,
        roles: Sequence[str],
        now: datetime,
        session_id: UUID,
        tier: int = 0,
    ) -> str:
        return self.keys.sign(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": str(user_id),
                "sid": str(session_id),
                "iat": now.timestamp(),
                "exp": now + self.access_ttl,
                "jti": str(new_id()),
                "typ": ACCESS_TOKEN_TYPE,
                "roles": sorted(roles),
                "tier": tier,
            }
        )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_secret(value: str) -> str:
    """SHA-256 hex digest: how refresh tokens and throttled emails are stored."""
    return hashlib.sha256(value.encode()).hexdigest()
