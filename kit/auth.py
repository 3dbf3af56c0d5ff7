"""Access-token verification for every service (zero trust: each one checks again).

Tokens are RS256 JWTs signed by identity; the algorithm is pinned, issuer, audience,
expiry and token type are required. Keys come from identity's JWKS, cached and
refreshed when an unknown ``kid`` shows up (at most once per ``refresh_interval``),
so a key rotation needs no restart.

Every reading of the time goes through a :class:`kit.clock.Clock`: ``exp``, ``iat`` and
``nbf`` are checked here against ``clock.time()`` rather than by PyJWT, which would read
the system clock, so the cache of verified tokens, the expiry check and the JWKS refresh
interval all agree on what time it is, and tests advance a fake clock instead of sleeping.
"""

import asyncio
import base64
import binascii
import enum
import json
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit.clock import SYSTEM_CLOCK, Clock
from kit.problems import Forbidden, Unauthorized

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
ACCESS_TOKEN_TYPE = "access"


class Role(enum.StrEnum):
    """A role a user holds; the access token's ``roles`` claim lists them."""

    FAN = "fan"
    OWNER = "owner"
    VOLUNTEER = "volunteer"
    STAFF = "staff"
    ADMIN = "admin"
    CLUB = "club"
    """In rewards' club: granted and revoked by identity as rewards announces, never by hand."""


ROLES = tuple(role.value for role in Role)
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
CLOCK_SKEW_SECONDS = 60.0  # how far in our future iat/nbf may be: identity's clock vs ours
ACCESS_TOKEN_TTL_SECONDS = 15 * 60.0  # identity's default access-token lifetime (ADR 0006)
MAX_TOKEN_LIFETIME_SECONDS = ACCESS_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS
"""The longest ``exp - iat`` a verifier accepts: the cap holds even if an issuer is wrong,
and it bounds how long the revocation view must remember a revocation (ADR 0009)."""


class RevocationCheck(Protocol):
    """What the verifier asks after the signature: is this principal's token revoked?
    (:class:`kit.revocation.RevocationView`; a protocol so that kit.auth imports no Kafka.)"""

    def refuses(self, principal: "Principal") -> str | None:
        """Why the token is refused, or ``None`` when it is not revoked."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: uuid.UUID
    roles: frozenset[str]
    session_id: uuid.UUID | None = None
    """The token's ``sid``: identity's refresh-token family (one login on one device)."""
    issued_at: float = 0.0
    """The token's ``iat`` (epoch seconds, possibly fractional)."""
    tier: int = 0
    """The token's optional ``tier`` claim: the member's rewards tier (0 when absent)."""

    def has_any(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


class KeySet:
    """Public keys by ``kid``, built from a JWKS document."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.keys = {
            key["kid"]: jwt.PyJWK(key, algorithm=ALGORITHM)
            for key in jwks.get("keys", [])
            if key.get("kid")
        }


class JwksCache:
    """A JWKS fetched over HTTP and cached; also a readiness component.

    One fetch at a time: requests that need the keys while a fetch is under way wait for
    that fetch instead of starting their own or finding the cache empty (right after a
    restart, the first requests all arrive before the first fetch has answered). A fetch
    counts only once it succeeded: ``refresh_interval`` then bounds how often an unknown
    ``kid`` refetches; a failed fetch is retried after ``retry_interval`` at the earliest.
    """

    name = "jwks"

    def __init__(
        self,
        url: str,
        *,
        refresh_interval: float = 30.0,
        retry_interval: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.url = url
        self.refresh_interval = refresh_interval
        self.retry_interval = retry_interval
        self.clock = clock
        self._keys = KeySet({})
        self._fetched_at = float("-inf")  # the last successful fetch
        self._attempted_at = float("-inf")  # the last fetch, successful or not
        self._attempts = 0
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(3.0))

    async def stop(self) -> None:
        if self._client:
            await self._client.aclose()

    async def check(self) -> None:
        if not self._keys.keys:
            await self._refresh_once(force=True)
            if not self._keys.keys:
                raise ConnectionError(f"no keys fetched from {self.url}")

    async def refresh(self) -> None:
        """Fetch the JWKS now (waiting for a fetch under way first); raise when it fails."""
        async with self._lock:
            await self._fetch()

    async def _fetch(self) -> None:
        assert self._client is not None, "JwksCache.start() was not awaited"
        self._attempts += 1
        self._attempted_at = self.clock.monotonic()
        response = await self._client.get(self.url)
        response.raise_for_status()
        keys = KeySet(response.json())
        self._keys = keys
        self._fetched_at = self.clock.monotonic()

    def _due(self) -> bool:
        now = self.clock.monotonic()
        return (
            now - self._fetched_at > self.refresh_interval
            and now - self._attempted_at > self.retry_interval
        )

    async def _refresh_once(self, *, force: bool = False) -> None:
        """Fetch unless one is not due yet, or one ended while this caller waited for it."""
        attempts = self._attempts
        async with self._lock:
            if self._attempts != attempts:
                return  # a fetch finished while we waited: its answer is ours
            if not force and not self._due():
                return
            try:
                await self._fetch()
            except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKError) as exc:
                log.warning("JWKS refresh from %s failed: %s", self.url, exc)
                if force:
                    raise

    async def key(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.keys.get(kid)
        if key is None:
            await self._refresh_once()
            key = self._keys.keys.get(kid)
        return key


class StaticKeys:
    """A fixed key set (identity verifies its own tokens with it; tests use it too)."""

    name = "keys"

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = KeySet(jwks)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.keys.get(kid)


class TokenVerifier:
    """Verify access tokens against a key source with the algorithm pinned.

    A verified token is remembered until its ``exp`` (at most ``cache_size`` tokens, oldest
    dropped first): a client's next requests cost a dictionary lookup instead of an RSA
    verification and claim checks (about a millisecond in PyJWT). Revocation is not
    cached: every request, cached or not, asks ``revocations`` (two dictionary lookups)
    whether the user or the session was revoked after the token was issued (ADR 0009).
    Tokens whose ``exp - iat`` exceeds ``max_token_lifetime`` are refused, whatever the
    issuer meant. ``clock`` is the only source of time: for the cache and for
    ``exp``/``iat`` alike.
    """

    def __init__(
        self,
        keys: JwksCache | StaticKeys,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
        clock: Clock = SYSTEM_CLOCK,
        revocations: RevocationCheck | None = None,
        max_token_lifetime: float = MAX_TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.cache_size = cache_size
        self.clock = clock
        self.revocations = revocations
        self.max_token_lifetime = max_token_lifetime
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > self.clock.time():
            principal = cached[0]
        else:
            principal, expires_at = await self._verify(token)
            if len(self._verified) >= self.cache_size:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (principal, expires_at)
        if self.revocations is not None and (reason := self.revocations.refuses(principal)):
            raise Unauthorized(reason, code="token-revoked")
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        header = _unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token algorithm not accepted")
        key = await self.keys.key(str(header.get("kid", "")))
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                # exp and iat stay required; their values are checked below against our clock
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("invalid token") from exc
        expires_at = self._check_times(claims)
        return _principal(claims, issued_at=_numeric_date(claims, "iat")), expires_at

    def _check_times(self, claims: dict[str, Any]) -> float:
        """``exp``, once it is in the future by ``clock`` and ``iat``/``nbf`` are not."""
        expires_at = _numeric_date(claims, "exp")
        not_before = max(
            _numeric_date(claims, "iat"),
            _numeric_date(claims, "nbf") if "nbf" in claims else float("-inf"),
        )
        now = self.clock.time()
        if expires_at <= now:
            raise Unauthorized("token expired")
        if not_before > now + CLOCK_SKEW_SECONDS:
            raise Unauthorized("token not valid yet")
        if expires_at - _numeric_date(claims, "iat") > self.max_token_lifetime:
            raise Unauthorized("token lifetime exceeds the maximum")
        return expires_at


def _unverified_header(token: str) -> dict[str, Any]:
    """The token's JOSE header, read only to choose the key: ``jwt.decode`` then checks the
    whole token, header included. (PyJWT's ``get_unverified_header`` would decode and
    character-check every segment, as ``decode`` does again: half a fresh token's cost.)"""
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise Unauthorized("malformed token") from exc
    if not isinstance(header, dict):
        raise Unauthorized("malformed token")
    return header


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    """An RFC 7519 NumericDate claim (a JSON number of seconds), or 401."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(f"invalid {name} claim")
    return float(value)


def _principal(claims: dict[str, Any], *, issued_at: float) -> Principal:
    if claims.get("typ") != ACCESS_TOKEN_TYPE:
        raise Unauthorized("not an access token")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("invalid subject") from exc
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        raise Unauthorized("invalid roles claim")
    session_id = None
    if "sid" in claims:
        try:
            session_id = uuid.UUID(str(claims["sid"]))
        except ValueError as exc:
            raise Unauthorized("invalid session claim") from exc
    tier = claims.get("tier", 0)
    if isinstance(tier, bool) or not isinstance(tier, int) or tier < 0:
        raise Unauthorized("invalid tier claim")
    return Principal(
        user_id=user_id,
        roles=frozenset(str(role) for role in roles),
        session_id=session_id,
        issued_at=issued_at,
        tier=tier,
    )


_bearer = HTTPBearer(auto_error=False, description="Access token from identity's /v1/auth/login")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    request.scope.setdefault("state", {})["user_id"] = str(principal.user_id)  # the access log
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller when a token is presented (and valid), ``None`` when anonymous."""
    if credentials is None:
        return None
    return await current_principal(request, credentials)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: str) -> Any:
    """A dependency that lets only principals holding one of ``roles`` through."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise Forbidden(f"requires one of the roles: {', '.join(roles)}")
        return principal

    return Depends(dependency)
