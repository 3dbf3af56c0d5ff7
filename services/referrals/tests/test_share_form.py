"""The share form: a prospect leaves name, phone, city, consent and a test-drive wish with
a member's code. The phone is kept in E.164; the lead is announced; every refusal is a
problem document and writes nothing; a phone is one lead, however many submit it at once."""

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from kit.db import Database
from kit.testing.services import rows, scalar
from services.referrals.tests.support import (
    Member,
    Phones,
    code_of,
    published,
    referrals_of,
    register,
)


def form(code: str, phone: str, **overrides: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "Zhang Min",
        "phone": phone,
        "city": "Shanghai",
        "consent": True,
        "test_drive_requested": True,
        **overrides,
    }


async def test_a_share_form_lead_is_kept_in_e164_and_announced(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
    staff: Member,
) -> None:
    referrer = make_member()
    await register(database, referrer.id, name="Referrer One")
    code = await code_of(client, referrer)
    number = phones.next()
    spaced = f"+86 {number[3:6]} {number[6:10]} {number[10:]}"
    response = await client.post("/v1/referrals/leads", json=form(code.lower(), spaced))
    assert response.status_code == 201, response.text
    lead = response.json()
    assert lead["referrer_name"] == "Referrer One"
    assert lead["test_drive_requested"] is True
    stored = await client.get(f"/v1/referrals/{lead['id']}", headers=staff.headers)
    assert stored.json()["phone"] == number
    assert stored.json()["source"] == "share_form"
    assert stored.json()["stage"] == "lead"
    assert await published(database, uuid.UUID(lead["id"])) == ["referrals.funnel.lead_created.v1"]
    mine = await client.get("/v1/me/referrals", headers=referrer.headers)
    assert [item["referee_name"] for item in mine.json()["items"]] == ["Zhang Min"]
    assert "phone" not in mine.json()["items"][0]


async def test_bad_share_forms_are_refused_and_write_nothing(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
) -> None:
    referrer = make_member()
    await register(
        database, referrer.id, device_hash=hashlib.sha256(b"referrers-phone-1").hexdigest()
    )
    code = await code_of(client, referrer)
    taken = phones.next()
    assert (await client.post("/v1/referrals/leads", json=form(code, taken))).status_code == 201
    before = await scalar(database, "SELECT count(*) FROM referrals")
    outbox_before = await scalar(database, "SELECT count(*) FROM outbox")
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
        ("no consent", form(code, phones.next(), consent=False), {}, 422, "consent-required"),
        ("invalid phone", form(code, "+86 123"), {}, 422, "invalid-phone"),
        ("letters for a phone", form(code, "call me maybe"), {}, 422, "invalid-phone"),
        ("unknown code", form("ZZZZZZZZ", phones.next()), {}, 404, "unknown-code"),
        ("malformed code", form("K7M3QX9O", phones.next()), {}, 422, "malformed-code"),
        ("own account", form(code, phones.next()), referrer.headers, 422, "self-referral"),
        (
            "own device",
            form(code, phones.next()),
            {"X-Device-Id": "referrers-phone-1"},
            422,
            "self-referral",
        ),
        ("duplicate phone", form(code, taken), {}, 409, "duplicate-phone"),
        ("duplicate, written otherwise", form(code, taken[3:]), {}, 409, "duplicate-phone"),
        (
            "unknown field",
            {**form(code, phones.next()), "referrer_id": str(uuid.uuid4())},
            {},
            422,
            "",
        ),
    ]
    for name, body, headers, status, problem in cases:
        response = await client.post("/v1/referrals/leads", json=body, headers=headers)
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.json()["type"].endswith(f"/{problem}") or not problem, name
    assert await scalar(database, "SELECT count(*) FROM referrals") == before
    assert await scalar(database, "SELECT count(*) FROM outbox") == outbox_before
    other = make_member()
    other_code = await code_of(client, other)
    stolen = await client.post("/v1/referrals/leads", json=form(other_code, taken))
    assert stolen.status_code == 409, "a later code does not steal the lead"


async def test_blocked_phones_and_referrers_are_refused(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
    staff: Member,
) -> None:
    referrer, blocked_referrer = make_member(), make_member()
    code, blocked_code = await code_of(client, referrer), await code_of(client, blocked_referrer)
    blocked_phone = phones.next()
    for kind, value in (("phone", blocked_phone), ("referrer", str(blocked_referrer.id))):
        added = await client.post(
            "/v1/referral-blocklist",
            json={"kind": kind, "value": value, "reason": "fake leads"},
            headers=staff.headers,
        )
        assert added.status_code == 201, added.text
    listed = await client.get("/v1/referral-blocklist", headers=staff.headers)
    labels = [entry["label"] for entry in listed.json()["items"]]
    assert f"{blocked_phone[:6]}****{blocked_phone[-4:]}" in labels
    assert blocked_phone not in labels, "the blocklist shows phones masked"
    for body in (form(code, blocked_phone), form(blocked_code, phones.next())):
        response = await client.post("/v1/referrals/leads", json=body)
        assert response.status_code == 403, response.text
        assert response.json()["type"].endswith("/referral-blocked")
    assert await referrals_of(database, referrer.id) == []
    again = await client.post(
        "/v1/referral-blocklist",
        json={"kind": "phone", "value": blocked_phone, "reason": "again"},
        headers=staff.headers,
    )
    assert again.status_code == 409
    entry = next(e for e in listed.json()["items"] if e["label"] == str(blocked_referrer.id))
    removed = await client.delete(f"/v1/referral-blocklist/{entry['id']}", headers=staff.headers)
    assert removed.status_code == 204
    allowed = await client.post("/v1/referrals/leads", json=form(blocked_code, phones.next()))
    assert allowed.status_code == 201
    audit = await rows(
        database,
        "SELECT action FROM audit_records WHERE actor_id = :a ORDER BY at",
        a=staff.id,
    )
    assert [row.action for row in audit] == [
        "blocklist.added",
        "blocklist.added",
        "blocklist.removed",
    ]


async def test_too_many_leads_for_a_code_are_429_with_retry_after(
    strict_client: httpx.AsyncClient,
    strict_database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
) -> None:
    referrer = make_member()
    code = await code_of(strict_client, referrer)
    answers = await asyncio.gather(
        *(
            strict_client.post("/v1/referrals/leads", json=form(code, phones.next()))
            for _ in range(14)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 10 + [429] * 4, "10 an hour, counted under the referrer's lock"
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["type"].endswith("/referral-velocity")
    assert len(await referrals_of(strict_database, referrer.id)) == 10


async def test_one_phone_sent_twenty_times_at_once_is_one_lead(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
) -> None:
    referrers = [make_member() for _ in range(4)]
    codes = [await code_of(client, referrer) for referrer in referrers]
    number = phones.next()
    answers = await asyncio.gather(
        *(client.post("/v1/referrals/leads", json=form(codes[i % 4], number)) for i in range(20))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 19
    leads = sum([len(await referrals_of(database, r.id)) for r in referrers])
    assert leads == 1


async def test_a_hundred_prospects_at_once_are_a_hundred_leads(
    client: httpx.AsyncClient,
    database: Database,
    make_member: Callable[..., Member],
    phones: Phones,
) -> None:
    referrer = make_member()
    code = await code_of(client, referrer)
    numbers = [phones.next() for _ in range(100)]
    answers = await asyncio.gather(
        *(client.post("/v1/referrals/leads", json=form(code, number)) for number in numbers)
    )
    assert [answer.status_code for answer in answers] == [201] * 100
    stored = await referrals_of(database, referrer.id)
    assert sorted(row.phone for row in stored) == sorted(numbers)
    summary = await client.get("/v1/me/referrals/summary", headers=referrer.headers)
    assert summary.json()["leads"] == 100
