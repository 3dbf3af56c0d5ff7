"""Gifts of points on PostgreSQL: spent from the sender and credited to the recipient in
one step, shown in both ledgers, once per Idempotency-Key, within the daily limit even
when sent concurrently; refused gifts write nothing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from kit.db import Database
from kit.testing.services import scalar
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.tests.support import User, assert_ledger_adds_up


async def fund(database: Database, user: User, points: int) -> None:
    async with database.transaction() as session:
        await ledger.credit_points(
            session=session,
            user_id=user.id,
            amount=points,
            source=Source(type="test.funded", id=str(uuid.uuid4())),
            at=datetime.now(UTC),
        )


async def points_of(database: Database, user: User) -> int:
    return int(await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user.id))


async def entries_of(database: Database, user: User) -> int:
    return int(
        await scalar(database, "SELECT count(*) FROM ledger_entries WHERE user_id = :u", u=user.id)
    )


async def test_a_gift_moves_points_and_both_ledgers_show_it(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    sender, recipient = make_user(), make_user()
    await fund(database, sender, 100)
    await fund(database, recipient, 1)
    given = await client.post(
        "/v1/me/gifts",
        json={"recipient_id": str(recipient.id), "amount": 30, "message": "for the trip"},
        headers=sender.headers,
    )
    assert given.status_code == 201, given.text
    gift = given.json()
    assert (gift["sender_id"], gift["recipient_id"], gift["amount"], gift["direction"]) == (
        str(sender.id),
        str(recipient.id),
        30,
        "sent",
    )
    assert await points_of(database, sender) == 70
    assert await points_of(database, recipient) == 31

    sent = (await client.get("/v1/me/gifts", headers=sender.headers)).json()["items"]
    received = (await client.get("/v1/me/gifts", headers=recipient.headers)).json()["items"]
    assert [item["direction"] for item in sent] == ["sent"]
    assert [item["direction"] for item in received] == ["received"]
    for item in (sent[0], received[0]):
        assert item["id"] == gift["id"]
        assert (item["sender_id"], item["recipient_id"]) == (str(sender.id), str(recipient.id))
        assert (item["amount"], item["message"]) == (30, "for the trip")
    ledger_of_recipient = (await client.get("/v1/me/ledger", headers=recipient.headers)).json()
    assert [entry["kind"] for entry in ledger_of_recipient["items"]] == ["gift", "earn"]
    for user in (sender, recipient):
        await assert_ledger_adds_up(database, user.id)


async def test_a_retry_with_the_same_key_gives_once(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    sender, recipient = make_user(), make_user()
    await fund(database, sender, 100)
    await fund(database, recipient, 1)
    body = {"recipient_id": str(recipient.id), "amount": 40}
    headers = {**sender.headers, "Idempotency-Key": "gift-1"}
    first = await client.post("/v1/me/gifts", json=body, headers=headers)
    retry = await client.post("/v1/me/gifts", json=body, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert await points_of(database, sender) == 60
    assert await points_of(database, recipient) == 41
    other = await client.post("/v1/me/gifts", json={**body, "amount": 41}, headers=headers)
    assert other.status_code == 422
    assert await points_of(database, sender) == 60


async def test_gifts_to_oneself_to_nobody_or_beyond_the_balance_write_nothing(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    sender, deleted = make_user(), make_user()
    await fund(database, sender, 50)
    await fund(database, deleted, 1)
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE accounts SET deleted_at = now() WHERE user_id = :u"), {"u": deleted.id}
        )
    refused = {
        "self": ({"recipient_id": str(sender.id), "amount": 10}, 422, "gift-to-self"),
        "nobody": ({"recipient_id": str(uuid.uuid4()), "amount": 10}, 404, "not-found"),
        "deleted": ({"recipient_id": str(deleted.id), "amount": 10}, 404, "not-found"),
        "zero": ({"recipient_id": str(deleted.id), "amount": 0}, 422, "validation-error"),
    }
    for name, (body, status, code) in refused.items():
        answer = await client.post(
            "/v1/me/gifts", json=body, headers={**sender.headers, "Idempotency-Key": name}
        )
        assert answer.status_code == status, (name, answer.text)
        assert answer.json()["type"].endswith(f"/{code}"), name
    recipient = make_user()
    await fund(database, recipient, 1)
    short = await client.post(
        "/v1/me/gifts",
        json={"recipient_id": str(recipient.id), "amount": 51},
        headers=sender.headers,
    )
    assert short.status_code == 409
    assert short.json()["type"].endswith("/not-enough-points")
    assert await points_of(database, sender) == 50
    assert await entries_of(database, sender) == 1
    assert await entries_of(database, recipient) == 1
    assert await entries_of(database, deleted) == 1
    assert (
        await scalar(
            database, "SELECT count(*) FROM idempotency_records WHERE owner_id = :u", u=sender.id
        )
        == 0
    )


async def test_the_daily_limit_holds_under_concurrent_gifts(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    sender, recipient = make_user(), make_user()
    await fund(database, sender, 2000)
    await fund(database, recipient, 1)
    body = {"recipient_id": str(recipient.id), "amount": 100}
    answers = await asyncio.gather(
        *(client.post("/v1/me/gifts", json=body, headers=sender.headers) for _ in range(8))
    )
    assert sorted(answer.status_code for answer in answers) == [201] * 5 + [409] * 3
    assert all(
        answer.json()["type"].endswith("/gift-limit")
        for answer in answers
        if answer.status_code == 409
    )
    assert await points_of(database, sender) == 1500
    assert await points_of(database, recipient) == 501
    for user in (sender, recipient):
        await assert_ledger_adds_up(database, user.id)


async def test_two_members_gifting_each_other_at_once_do_not_deadlock(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    one, two = make_user(), make_user()
    await fund(database, one, 100)
    await fund(database, two, 100)
    answers = await asyncio.gather(
        *(
            client.post(
                "/v1/me/gifts",
                json={"recipient_id": str(to.id), "amount": 5},
                headers=by.headers,
            )
            for _ in range(10)
            for by, to in ((one, two), (two, one))
        )
    )
    assert {answer.status_code for answer in answers} == {201}
    assert await points_of(database, one) == 100
    assert await points_of(database, two) == 100
    for user in (one, two):
        await assert_ledger_adds_up(database, user.id)
