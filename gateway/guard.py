"""Who may pass the gateway: token verification and rate limits.

A bearer token is verified with kit's :class:`~kit.auth.TokenVerifier` against identity's
JWKS (which remembers a verified token until its ``exp``, so a client's burst costs one
RSA verification) and, on every request, against the revocation view of identity's events
(ADR 0009): a token of a deleted account, a logged-out or revoked session or a revoked role
is a 401 here within about a second. The services verify the token again (zero trust);
the gateway forwards it unchanged.

Protected paths need a valid token. On public paths (login, refresh, public profiles)
an invalid token is ignored rather than refused: a client holding an expired access
token must still be able to refresh it.
"""

from starlette.types import Scope

from gateway.ratelimit import RateLimits
from gateway.routing import PublicRoutes
from kit.auth import Principal, TokenVerifier
from kit.problems import Unauthorized

AUTHORIZATION = b"authorization"


class Guard:
    """Authenticate and rate-limit one request before anything is forwarded."""

    def __init__(self, tokens: TokenVerifier, limits: RateLimits, public: PublicRoutes) -> None:
        self.tokens = tokens
        self.limits = limits
        self.public = public

    async def admit(self, scope: Scope) -> Principal | None:
        """The caller's principal (``None`` when anonymous on a public path), or a problem."""
        principal = await self._authenticate(scope)
        if principal is not None:
            scope.setdefault("state", {})["user_id"] = str(principal.user_id)  # the access log
        client = scope.get("client")
        await self.limits.hit(
            user=str(principal.user_id) if principal else None,
            ip=client[0] if client else None,
        )
        return principal

    async def _authenticate(self, scope: Scope) -> Principal | None:
        public = self.public.allows(scope["method"], scope["path"])
        token = bearer_token(scope)
        if token is None:
            if public:
                return None
            raise Unauthorized()
        try:
            return await self.tokens.verify(token)
        except Unauthorized:
            if public:
                return None
            raise


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header; ``""`` for another scheme."""
    for name, value in scope["headers"]:
        if name == AUTHORIZATION:
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None
