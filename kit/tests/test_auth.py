"""Token verification: only RS256 tokens from the right issuer, key and type pass."""

import asyncio
import base64
import hashlib
import hmac
import json
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from kit.auth import JwksCache, TokenVerifier
from kit.problems import Unauthorized
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
    verifier = MINTER.verifier()
    token = MINTER.token(ttl=1)
    await verifier.verify(token)
    assert (await verifier.verify(token)).roles == {"fan"}
    await asyncio.sleep(1.1)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)


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
