"""Token verification: only RS256 tokens from the right issuer, key and type pass."""

import base64
import hashlib
import hmac
import json
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from kit.auth import CLOCK_SKEW_SECONDS, JwksCache, TokenVerifier
from kit.problems import Unauthorized
from kit.testing.clock import FakeClock
from kit.testing.tokens import AUDIENCE, ISSUER, TokenMinter

MINTER = TokenMinter()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(data: dict[str, object]) -> str:
    return _b64(json.dumps(data).encode())


def _unsigned(claims: dict[str, object]) -> str:
    return f"{_part({'alg': 'none', 'typ': 'JWT', 'kid': MINTER.kid})}.{_part(claims)}."


async def test_a_valid_token_gives_its_principal() -> None:
    user_id = uuid.uuid4()
    principal = await MINTER.verifier().verify(MINTER.token(user_id, ["fan", "owner"]))
    assert principal.user_id == user_id
    assert principal.roles == {"fan", "owner"}
    assert principal.tier == 0  # a token without the optional tier claim


async def test_the_tier_claim_is_the_principals_tier_and_must_be_a_whole_number() -> None:
    principal = await MINTER.verifier().verify(MINTER.token(tier=3))
    assert principal.tier == 3
    for bad in (-1, "3", True, 2.5):
        with pytest.raises(Unauthorized, match="invalid tier claim"):
            await MINTER.verifier().verify(MINTER.token(tier=bad))


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (MINTER.token(ttl=-60), "token expired"),
        (TokenMinter(kid=MINTER.kid).token(), "invalid token"),
        (TokenMinter(kid="other").token(), "unknown key"),
        (MINTER.token(typ="refresh"), "not an access token"),
        (MINTER.token(iss="someone-else"), "invalid token"),
        (MINTER.token(aud="another-app"), "invalid token"),
        (MINTER.token(sub="not-a-uuid"), "invalid subject"),
        (_unsigned({"sub": str(uuid.uuid4()), "typ": "access"}), "algorithm not accepted"),
        ("not.a.jwt", "malformed"),
    ],
    ids=[
        "expired",
        "forged",
        "wrong-key",
        "refresh",
        "issuer",
        "audience",
        "subject",
        "none",
        "junk",
    ],
)
async def test_bad_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        await MINTER.verifier().verify(token)


async def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the public JWK."""
    public_pem = MINTER.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': MINTER.kid})}."
        f"{_part({'sub': str(uuid.uuid4()), 'typ': 'access'})}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(signature)}"
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await MINTER.verifier().verify(forged)


async def test_a_cached_token_still_expires() -> None:
    clock = FakeClock()
    minter = MINTER.with_clock(clock)
    verifier = minter.verifier()
    token = minter.token(ttl=60)
    await verifier.verify(token)
    clock.advance(59.9)
    assert (await verifier.verify(token)).roles == {"fan"}
    assert token in verifier._verified, "the second answer did not come from the cache"
    clock.advance(0.1)  # now == exp: expired, cached or not
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)


async def test_expiry_is_judged_by_the_verifiers_clock_alone() -> None:
    """PyJWT's own exp/iat checks (system clock) are off: only the injected clock counts."""
    future = FakeClock()  # 2030: a token minted then is not valid yet by the system clock
    token = MINTER.with_clock(future).token(ttl=60)
    assert (await MINTER.with_clock(future).verifier().verify(token)).roles == {"fan"}
    with pytest.raises(Unauthorized, match="not valid yet"):
        await MINTER.verifier().verify(token)
    stale = MINTER.token(ttl=60)  # valid by the system clock, long expired in 2030
    with pytest.raises(Unauthorized, match="expired"):
        await MINTER.with_clock(future).verifier().verify(stale)


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"iat_ahead": CLOCK_SKEW_SECONDS}, True),
        ({"iat_ahead": CLOCK_SKEW_SECONDS + 1}, False),
        ({"nbf_ahead": CLOCK_SKEW_SECONDS}, True),
        ({"nbf_ahead": CLOCK_SKEW_SECONDS + 1}, False),
    ],
    ids=["iat-within-skew", "iat-beyond-skew", "nbf-within-skew", "nbf-beyond-skew"],
)
async def test_iat_and_nbf_may_be_ahead_only_by_the_clock_skew(
    claims: dict[str, float], accepted: bool
) -> None:
    clock = FakeClock()
    minter = MINTER.with_clock(clock)
    now = int(clock.time())
    overrides = {name.removesuffix("_ahead"): now + int(ahead) for name, ahead in claims.items()}
    token = minter.token(None, ("fan",), ttl=900, **overrides)
    if accepted:
        assert (await minter.verifier().verify(token)).roles == {"fan"}
    else:
        with pytest.raises(Unauthorized, match="not valid yet"):
            await minter.verifier().verify(token)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": None}, "invalid token"),
        ({"iat": None}, "invalid token"),
        ({"exp": "tomorrow"}, "invalid exp claim"),
        ({"exp": True}, "invalid exp claim"),
        ({"iat": [1]}, "invalid iat claim"),
        ({"nbf": "now"}, "invalid nbf claim"),
    ],
    ids=["no-exp", "no-iat", "exp-string", "exp-bool", "iat-list", "nbf-string"],
)
async def test_time_claims_must_be_present_and_numeric(
    overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        await MINTER.verifier().verify(MINTER.token(None, ("fan",), ttl=900, **overrides))


async def test_the_jwks_is_refetched_for_an_unknown_key_once_per_interval() -> None:
    clock = FakeClock()
    fetches: list[httpx.Request] = []

    def serve_jwks(request: httpx.Request) -> httpx.Response:
        fetches.append(request)
        return httpx.Response(200, json=MINTER.jwks)

    cache = JwksCache("http://identity.test/jwks.json", refresh_interval=30, clock=clock)
    cache._client = httpx.AsyncClient(transport=httpx.MockTransport(serve_jwks))
    verifier = TokenVerifier(cache, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    stranger = TokenMinter(kid="rotated-in-later", clock=clock)
    assert (await verifier.verify(MINTER.with_clock(clock).token())).roles == {"fan"}
    assert len(fetches) == 1
    for _ in range(3):
        with pytest.raises(Unauthorized, match="unknown key"):
            await verifier.verify(stranger.token())
    assert len(fetches) == 1, "an unknown kid refetched the JWKS before the interval passed"
    clock.advance(30.1)
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(stranger.token())
    assert len(fetches) == 2
    await cache.stop()


async def test_the_cache_is_bounded() -> None:
    minter = TokenMinter()
    verifier = minter.verifier()
    verifier.cache_size = 3
    for _ in range(5):
        await verifier.verify(minter.token())
    assert len(verifier._verified) == 3


async def test_a_broken_jwks_means_unknown_key_not_a_crash() -> None:
    cache = JwksCache("http://identity.invalid/.well-known/jwks.json")
    cache._client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=b"<html>"))
    )
    verifier = TokenVerifier(cache, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(MINTER.token())
    await cache.stop()
