"""Attribution: an account registered with a code is that referrer's lead, announced once;
an account names its referrer afterwards only within the window and only once; the first
valid code wins. Registrations that fail a fraud check are kept but held for staff, and
nothing about them is published until staff approve."""

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from kit.db import Database
from services.referrals.tests.support import (
    Member,
    code_of,
    published,
    referrals_of,
    register,
)

LEAD = "referrals.funnel.lead_created.v1"


async def test_registering_with_a_code_makes_one_announced_lead(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    referrer, prospect = make_member(), make_member()
    await register(database, referrer.id, name="Referrer")
    code = await code_of(client, referrer)
    for _ in range(3):  # redelivered, and announced anew under other CloudEvent ids
        await register(database, prospect.id, name="Prospect", code=code)
    (lead,) = await referrals_of(database, referrer.id)
    assert (lead.referee_user_id, lead.source, lead.announced) == (
        prospect.id,
        "registration",
        True,
    )
    assert await published(database, lead.id) == [LEAD]
    mine = await client.get("/v1/me/referrer", headers=prospect.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["code"] == code
    assert mine.json()["referrer_name"] == "Referrer"
    listed = await client.get("/v1/me/referrals", headers=referrer.headers)
    (item,) = listed.json()["items"]
    assert (item["referee_name"], item["stage"], item["reward_state"]) == (
        "Prospect",
        "lead",
        "none",
    )


async def test_a_later_code_does_not_steal_the_referee(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    first, second, prospect = make_member(), make_member(), make_member()
    first_code, second_code = await code_of(client, first), await code_of(client, second)
    await register(database, prospect.id, code=first_code)
    claim = await client.put(
        "/v1/me/referrer", json={"code": second_code}, headers=prospect.headers
    )
    assert claim.status_code == 409
    assert claim.json()["type"].endswith("/already-attributed")
    assert await referrals_of(database, second.id) == []
    assert len(await referrals_of(database, first.id)) == 1


async def test_an_account_names_its_referrer_within_the_window_once(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    referrer, other, prospect = make_member(), make_member(), make_member()
    await register(database, prospect.id, at=datetime.now(UTC) - timedelta(days=89))
    code, other_code = await code_of(client, referrer), await code_of(client, other)
    claim = await client.put("/v1/me/referrer", json={"code": code}, headers=prospect.headers)
    assert claim.status_code == 200, claim.text
    assert claim.json()["source"] == "claimed"
    (lead,) = await referrals_of(database, referrer.id)
    assert await published(database, lead.id) == [LEAD]
    again = await client.put("/v1/me/referrer", json={"code": other_code}, headers=prospect.headers)
    assert again.status_code == 409


async def test_bad_claims_are_refused_and_write_nothing(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    referrer, late, fresh = make_member(), make_member(), make_member()
    await register(database, referrer.id, device_hash=hashlib.sha256(b"shared-device").hexdigest())
    await register(database, late.id, at=datetime.now(UTC) - timedelta(days=91))
    code = await code_of(client, referrer)
    cases = [
        ("after the window", late, {"code": code}, {}, 409, "attribution-window-closed"),
        ("own code", referrer, {"code": code}, {}, 422, "self-referral"),
        (
            "own device",
            fresh,
            {"code": code},
            {"X-Device-Id": "shared-device"},
            422,
            "self-referral",
        ),
        ("unknown code", fresh, {"code": "ZZZZZZZZ"}, {}, 404, "unknown-code"),
        ("malformed code", fresh, {"code": "0OIL0OIL"}, {}, 422, "malformed-code"),
        ("no code", fresh, {}, {}, 422, "validation-error"),
    ]
    for name, member, body, headers, status, problem in cases:
        response = await client.put(
            "/v1/me/referrer", json=body, headers={**member.headers, **headers}
        )
        assert response.status_code == status, (name, response.text)
        assert response.json()["type"].endswith(f"/{problem}"), (name, response.json())
    assert await referrals_of(database, referrer.id) == []
    none = await client.get("/v1/me/referrer", headers=fresh.headers)
    assert none.status_code == 404


async def test_a_registration_from_the_referrers_device_is_held_for_staff(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    staff: Member,
) -> None:
    device = hashlib.sha256(b"one-phone-two-accounts").hexdigest()
    referrer, second_account = make_member(), make_member()
    await register(database, referrer.id, device_hash=device)
    code = await code_of(client, referrer)
    await register(database, second_account.id, code=code, device_hash=device)
    (lead,) = await referrals_of(database, referrer.id)
    assert (lead.announced, lead.review_open, lead.review_reasons) == (
        False,
        True,
        ["self-referral"],
    )
    assert await published(database, lead.id) == []
    queue = await client.get("/v1/referrals", params={"review_open": "true"}, headers=staff.headers)
    assert lead.id in {uuid.UUID(item["id"]) for item in queue.json()["items"]}
    mine = await client.get("/v1/me/referrals", headers=referrer.headers)
    assert mine.json()["items"][0]["under_review"] is True
    approved = await client.post(
        f"/v1/referrals/{lead.id}/approve",
        json={"reason": "a family sharing one phone"},
        headers=staff.headers,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["announced"] is True
    assert approved.json()["review_open"] is False
    assert await published(database, lead.id) == [LEAD]


async def test_registrations_beyond_the_velocity_limit_are_held(
    strict_client: httpx.AsyncClient, strict_database: Database, make_member: Callable[..., Member]
) -> None:
    referrer = make_member()
    code = await code_of(strict_client, referrer)
    for _ in range(12):
        await register(strict_database, uuid.uuid4(), code=code)
    stored = await referrals_of(strict_database, referrer.id)
    assert len(stored) == 12
    assert [row.announced for row in stored] == [True] * 10 + [False] * 2
    assert all(row.review_reasons == ["velocity"] for row in stored[10:])


async def test_a_hundred_registrations_with_one_code_at_once_are_a_hundred_leads(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    referrer = make_member()
    code = await code_of(client, referrer)
    prospects = [uuid.uuid4() for _ in range(100)]
    await asyncio.gather(*(register(database, p, code=code) for p in prospects))
    stored = await referrals_of(database, referrer.id)
    assert sorted(row.referee_user_id for row in stored) == sorted(prospects)
    assert all(row.announced for row in stored)


async def test_twenty_registrations_of_one_prospect_at_once_are_one_lead(
    client: httpx.AsyncClient, database: Database, make_member: Callable[..., Member]
) -> None:
    referrers = [make_member() for _ in range(4)]
    codes = [await code_of(client, referrer) for referrer in referrers]
    prospect = uuid.uuid4()
    await asyncio.gather(*(register(database, prospect, code=codes[i % 4]) for i in range(20)))
    leads = [row for r in referrers for row in await referrals_of(database, r.id)]
    assert len(leads) == 1
    assert await published(database, leads[0].id) == [LEAD]
