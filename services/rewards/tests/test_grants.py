"""Admin grants and adjustments on PostgreSQL: each is one ledger entry naming its admin and
reason, audited; a retry with the same Idempotency-Key moves once; a debit beyond the
spendable points, bad input or a caller who is not an admin writes nothing."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.tests.support import User, assert_ledger_adds_up


async def entries_of(database: Database, user: uuid.UUID) -> list[Any]:
    return await rows(
        database,
        "SELECT kind, currency, dimension, amount, note, created_by FROM ledger_entries"
        " WHERE user_id = :u ORDER BY created_at, id",
        u=user,
    )


async def test_a_grant_credits_special_contribution_with_its_reason_and_is_audited(
    database: Database, client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    admin, member = make_user("admin"), make_user("fan")
    body = {"user_id": str(member.id), "amount": 40, "reason": "organised the festival"}
    granted = await client.post("/v1/rewards/grants", json=body, headers=admin.headers)
    assert granted.status_code == 201, granted.text
    answer = granted.json()
    assert (answer["currency"], answer["dimension"], answer["amount"]) == ("value", "special", 40)
    assert (answer["kind"], answer["reason"], answer["created_by"]) == (
        "grant",
        "organised the festival",
        str(admin.id),
    )
    wallet = (await client.get("/v1/me/wallet", headers=member.headers)).json()
    assert wallet["value"]["special"] == 40
    ledger = (await client.get("/v1/me/ledger", headers=member.headers)).json()["items"]
    assert [(item["kind"], item["note"]) for item in ledger] == [
        ("grant", "organised the festival")
    ]
    trail = await rows(
        database,
        "SELECT action, actor_id, detail FROM audit_records WHERE subject_id = :s",
        s=str(member.id),
    )
    assert [(row.action, row.actor_id) for row in trail] == [("rewards.granted", admin.id)]
    assert trail[0].detail["reason"] == "organised the festival"


async def test_a_retried_grant_grants_once(
    database: Database, client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    admin, member = make_user("admin"), make_user("fan")
    body = {"user_id": str(member.id), "dimension": "efficiency", "amount": 7, "reason": "docs"}
    headers = {**admin.headers, "Idempotency-Key": f"grant-{uuid.uuid4()}"}
    answers = [
        await client.post("/v1/rewards/grants", json=body, headers=headers) for _ in range(3)
    ]
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["id"] for answer in answers}) == 1
    at_once = await asyncio.gather(
        *(
            client.post(
                "/v1/rewards/grants",
                json=body,
                headers={**admin.headers, "Idempotency-Key": "race-" + str(member.id)},
            )
            for _ in range(5)
        )
    )
    assert all(answer.status_code in (201, 409) for answer in at_once)
    reused = await client.post("/v1/rewards/grants", json={**body, "amount": 8}, headers=headers)
    assert reused.status_code == 422
    assert [row.amount for row in await entries_of(database, member.id)] == [7, 7]


async def test_adjustments_credit_and_debit_points_never_beyond_the_spendable(
    database: Database, client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    admin, member = make_user("admin"), make_user("owner")

    async def adjust(amount: int, **headers: str) -> httpx.Response:
        return await client.post(
            "/v1/rewards/adjustments",
            json={"user_id": str(member.id), "amount": amount, "reason": "support ticket 12"},
            headers={**admin.headers, **headers},
        )

    assert (await adjust(100)).status_code == 201
    debited = await adjust(-30, **{"Idempotency-Key": "debit-1"})
    assert debited.status_code == 201, debited.text
    assert (debited.json()["amount"], debited.json()["kind"]) == (-30, "adjust")
    assert (await adjust(-30, **{"Idempotency-Key": "debit-1"})).json() == debited.json()
    too_much = await adjust(-71)
    assert too_much.status_code == 409
    assert too_much.json()["type"].endswith("/not-enough-points")
    assert [row.amount for row in await entries_of(database, member.id)] == [100, -30]
    assert all(row.created_by == admin.id for row in await entries_of(database, member.id))
    assert (await client.get("/v1/me/wallet", headers=member.headers)).json()["points"] == 70
    listed = await client.get(
        f"/v1/rewards/grants?user_id={member.id}&limit=1", headers=admin.headers
    )
    assert listed.status_code == 200
    first = listed.json()
    assert [item["amount"] for item in first["items"]] == [-30]
    rest = await client.get(
        f"/v1/rewards/grants?user_id={member.id}&cursor={first['next_cursor']}",
        headers=admin.headers,
    )
    assert [item["amount"] for item in rest.json()["items"]] == [100]
    assert rest.json()["next_cursor"] is None
    await assert_ledger_adds_up(database, member.id)


async def test_bad_grants_and_callers_who_are_not_admins_write_nothing(
    database: Database, client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    admin, member = make_user("admin"), make_user("fan")
    good = {"user_id": str(member.id), "amount": 5, "reason": "thanks"}
    bad_grants = [
        {**good, "amount": 0},
        {**good, "amount": -5},
        {**good, "dimension": "charm"},
        {**good, "currency": "points"},
        {key: value for key, value in good.items() if key != "reason"},
        {**good, "reason": "  "},
        {**good, "user_id": "someone"},
    ]
    for body in bad_grants:
        refused = await client.post("/v1/rewards/grants", json=body, headers=admin.headers)
        assert refused.status_code == 422, (body, refused.text)
    for body in ({**good, "amount": 0}, {**good, "reason": ""}, {**good, "amount": 10**9}):
        refused = await client.post("/v1/rewards/adjustments", json=body, headers=admin.headers)
        assert refused.status_code == 422, (body, refused.text)
    for caller in (make_user("fan"), make_user("staff"), member):
        for path in ("/v1/rewards/grants", "/v1/rewards/adjustments"):
            answer = await client.post(path, json=good, headers=caller.headers)
            assert answer.status_code == 403, answer.text
        assert (await client.get("/v1/rewards/grants", headers=caller.headers)).status_code == 403
    assert (await client.post("/v1/rewards/grants", json=good)).status_code == 401
    assert await entries_of(database, member.id) == []
    assert (
        await scalar(
            database, "SELECT count(*) FROM audit_records WHERE subject_id = :s", s=str(member.id)
        )
        == 0
    )
