"""Codes and links: every member has one stable, short, unambiguous code, and a code
resolves, without a token, to its referrer's public name only."""

import re
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from contracts.identity import UserDeleted, UserUpdated
from kit.db import Database
from services.referrals.models import CODE_ALPHABET
from services.referrals.tests.support import Member, code_of, handle, register


async def test_a_member_keeps_one_code_and_link(
    client: httpx.AsyncClient, make_member: Callable[..., Member]
) -> None:
    member = make_member()
    first = await client.get("/v1/me/referral-code", headers=member.headers)
    again = await client.get("/v1/me/referral-code", headers=member.headers)
    assert first.status_code == 200, first.text
    assert first.json() == again.json()
    code = first.json()["code"]
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{8}}", code)
    assert first.json()["link"] == f"https://paddock.example/r/{code}"


async def test_the_code_made_at_registration_is_the_one_the_member_sees(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    member = make_member()
    await register(database, member.id, name="Li Wei")
    await register(database, member.id, name="Li Wei")  # redelivered
    code = await code_of(client, member)
    resolved = await client.get(f"/v1/referral-codes/{code}")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json() == {"code": code, "referrer_name": "Li Wei"}


async def test_a_code_resolves_in_any_case_and_follows_the_public_name(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    member = make_member()
    await register(database, member.id, name="Before")
    await handle(database, UserUpdated(user_id=member.id, display_name="After", city="Hefei"))
    code = await code_of(client, member)
    resolved = await client.get(f"/v1/referral-codes/{code.lower()}")
    assert resolved.json() == {"code": code, "referrer_name": "After"}


async def test_unknown_and_malformed_codes_are_problems(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/v1/referral-codes/ZZZZZZZZ")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/unknown-code")
    for malformed in ("SHORT", "K7M3QX9O", "K7M3QX9P1", "K7M3-X9P"):
        response = await client.get(f"/v1/referral-codes/{malformed}")
        assert response.status_code == 422, malformed
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_deleted_members_code_no_longer_resolves(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    member = make_member()
    await register(database, member.id, name="Gone Soon")
    code = await code_of(client, member)
    await handle(database, UserDeleted(user_id=member.id, deleted_at=datetime.now(UTC)))
    assert (await client.get(f"/v1/referral-codes/{code}")).status_code == 404


async def test_my_code_needs_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/v1/me/referral-code", "/v1/me/referrals", "/v1/me/referrals/summary"):
        response = await client.get(path)
        assert response.status_code == 401, path
    claim = await client.put("/v1/me/referrer", json={"code": "K7M3QX9P"})
    assert claim.status_code == 401


async def test_codes_are_distinct_across_many_members(
    client: httpx.AsyncClient, make_member: Callable[..., Member]
) -> None:
    codes = {await code_of(client, make_member()) for _ in range(50)}
    assert len(codes) == 50
