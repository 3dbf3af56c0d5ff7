"""Test tokens: a throwaway RS256 key pair and access tokens signed with it, so that a
service's tests can authenticate without running identity.

Tokens are minted at ``clock``'s time and :meth:`TokenMinter.verifier` checks them with the
same clock, so a test holding a :class:`kit.testing.clock.FakeClock` makes a token expire by
advancing the clock."""

import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from kit.auth import ACCESS_TOKEN_TYPE, ALGORITHM, StaticKeys, TokenVerifier
from kit.clock import SYSTEM_CLOCK, Clock

ISSUER = "paddock-identity"
AUDIENCE = "paddock"


class TokenMinter:
    """Signs access tokens the way identity does, with a key of its own."""

    def __init__(
        self,
        kid: str = "test-key",
        *,
        clock: Clock = SYSTEM_CLOCK,
        private_key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        self.kid = kid
        self.clock = clock
        self.private_key = private_key or rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        self.jwks: dict[str, Any] = {
            "keys": [{**public, "kid": kid, "use": "sig", "alg": ALGORITHM}]
        }

    def with_clock(self, clock: Clock) -> "TokenMinter":
        """The same key and ``kid``, minting (and verifying) at ``clock``'s time."""
        return TokenMinter(self.kid, clock=clock, private_key=self.private_key)

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            StaticKeys(self.jwks), issuer=ISSUER, audience=AUDIENCE, clock=self.clock
        )

    def token(
        self,
        user_id: uuid.UUID | None = None,
        roles: Iterable[str] = ("fan",),
        *,
        ttl: int = 900,
        **overrides: Any,
    ) -> str:
        now = int(self.clock.time())
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
        self, user_id: uuid.UUID | None = None, roles: Iterable[str] = ("fan",), *, tier: int = 0
    ) -> dict[str, str]:
        """A bearer header; a ``tier`` above 0 goes into the token's ``tier`` claim."""
        extra = {"tier": tier} if tier else {}
        return {"Authorization": f"Bearer {self.token(user_id, roles, **extra)}"}
