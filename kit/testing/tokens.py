"""Test tokens: a throwaway RS256 key pair and access tokens signed with it, so that a
service's tests can authenticate without running identity."""

import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from kit.auth import ACCESS_TOKEN_TYPE, ALGORITHM, StaticKeys, TokenVerifier

ISSUER = "paddock-identity"
AUDIENCE = "paddock"


class TokenMinter:
    """Signs access tokens the way identity does, with a key of its own."""

    def __init__(self, kid: str = "test-key") -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        self.jwks: dict[str, Any] = {
            "keys": [{**public, "kid": kid, "use": "sig", "alg": ALGORITHM}]
        }

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(StaticKeys(self.jwks), issuer=ISSUER, audience=AUDIENCE)

    def token(
        self,
        user_id: uuid.UUID | None = None,
        roles: Iterable[str] = ("fan",),
        *,
        ttl: int = 900,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id or uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "typ": ACCESS_TOKEN_TYPE,
            "roles": list(roles),
            **overrides,
        }
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def headers(
        self, user_id: uuid.UUID | None = None, roles: Iterable[str] = ("fan",)
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, roles)}"}
