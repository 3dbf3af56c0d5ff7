"""The mall on PostgreSQL: staff's items, a thousand members racing for ten pieces, limits,
tiers and balances refused with nothing written, one order per Idempotency-Key, and a
cancellation that refunds and restocks once."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kit.db import Database
from kit.testing.services import rows, scalar
from services.rewards.service import ledger
from services.rewards.service.ledger import Source
from services.rewards.tests.support import User, assert_ledger_adds_up

WAVE = 250
"""Orders sent at once: all concurrent within a wave, waves one after the other. A wave
is over six times the app's pool (40, and 40 overflow); a thousand at once on this shared
machine took ~27 s, so the last waited near the pool's 30 s checkout timeout."""


def at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def fund(database: Database, points: int, *users: User) -> None:
    async with database.transaction() as session:
        for user in users:
            await ledger.credit_points(
                session=session,
                user_id=user.id,
                amount=points,
                source=Source(type="test.funded", id=str(uuid.uuid4())),
                at=datetime.now(UTC),
            )


async def new_item(client: httpx.AsyncClient, staff: User, **fields: Any) -> dict[str, Any]:
    body = {"name": "Paddock cap", "stock": 10, "price_points": 100, "starts_at": at(-1)}
    answer = await client.post("/v1/mall/items", json={**body, **fields}, headers=staff.headers)
    assert answer.status_code == 201, answer.text
    item: dict[str, Any] = answer.json()
    return item


async def order(
    client: httpx.AsyncClient, user: User, item_id: str, quantity: int = 1, key: str | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/mall/orders",
        json={"item_id": item_id, "quantity": quantity},
        headers={**user.headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def stock_of(database: Database, item_id: str) -> int:
    return int(await scalar(database, "SELECT stock FROM mall_items WHERE id = :i", i=item_id))


async def points_of(database: Database, user: User) -> int:
    return int(await scalar(database, "SELECT points FROM accounts WHERE user_id = :u", u=user.id))


async def written_for(database: Database, user: User) -> tuple[int, int]:
    """The member's ledger entries and orders."""
    entries = await scalar(
        database, "SELECT count(*) FROM ledger_entries WHERE user_id = :u", u=user.id
    )
    orders = await scalar(database, "SELECT count(*) FROM orders WHERE user_id = :u", u=user.id)
    return int(entries), int(orders)


def problem_code(answer: httpx.Response) -> str:
    return str(answer.json()["type"]).rsplit("/", 1)[-1]


async def test_a_thousand_members_race_for_ten_pieces(
    client: httpx.AsyncClient,
    database: Database,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    item = await new_item(client, staff, stock=10, price_points=100)
    members = [make_user() for _ in range(1000)]
    await fund(database, 100, *members)
    answers: list[httpx.Response] = []
    for wave in range(0, len(members), WAVE):
        answers += await asyncio.gather(
            *(order(client, member, item["id"]) for member in members[wave : wave + WAVE])
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 10 + [409] * 990, {
        status: statuses.count(status) for status in statuses
    }
    assert {problem_code(answer) for answer in answers if answer.status_code == 409} == {"sold-out"}
    assert await stock_of(database, item["id"]) == 0
    assert (
        await scalar(database, "SELECT count(*) FROM orders WHERE item_id = :i", i=item["id"]) == 10
    )
    buyers = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(buyers) == 10
    balances = await rows(
        database,
        "SELECT points FROM accounts WHERE user_id = ANY(:users)",
        users=[member.id for member in members],
    )
    assert sorted(balance.points for balance in balances) == [0] * 10 + [100] * 990
    for member in members:
        await assert_ledger_adds_up(database, member.id)
    placed = await scalar(
        database,
        "SELECT count(*) FROM outbox WHERE type = 'rewards.order.placed.v1'"
        " AND data->>'item_id' = :i",
        i=item["id"],
    )
    assert placed == 10


async def test_staff_manage_items_and_members_see_those_on_sale(
    client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    member = make_user()
    body = {"name": "Umbrella", "stock": 5, "price_points": 300, "starts_at": at(-1)}
    assert (
        await client.post("/v1/mall/items", json=body, headers=member.headers)
    ).status_code == 403
    backwards = {**body, "ends_at": at(-2)}
    assert (
        await client.post("/v1/mall/items", json=backwards, headers=staff.headers)
    ).status_code == 422
    on_sale = await new_item(client, staff, name="Umbrella", cash_cents=990, per_user_limit=2)
    upcoming = await new_item(client, staff, name="Jacket", starts_at=at(3))
    ended = await new_item(client, staff, name="Old mug", starts_at=at(-5), ends_at=at(-1))

    listed: list[str] = []
    cursor = None
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/mall/items", params=params)).json()
        listed += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert on_sale["id"] in listed
    assert upcoming["id"] not in listed
    assert ended["id"] not in listed
    assert (await client.get(f"/v1/mall/items/{on_sale['id']}")).json() == on_sale
    assert (await client.get(f"/v1/mall/items/{upcoming['id']}")).json() == upcoming
    assert (await client.get(f"/v1/mall/items/{uuid.uuid4()}")).status_code == 404

    patched = await client.patch(
        f"/v1/mall/items/{on_sale['id']}",
        json={"stock": 7, "price_points": 250, "per_user_limit": None, "ends_at": at(10)},
        headers=staff.headers,
    )
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert (changed["stock"], changed["price_points"], changed["per_user_limit"]) == (7, 250, None)
    for bad in ({"ends_at": at(-3)}, {"stock": -1}, {"stock": None}, {"colour": "red"}):
        answer = await client.patch(
            f"/v1/mall/items/{on_sale['id']}", json=bad, headers=staff.headers
        )
        assert answer.status_code == 422, bad
    assert (
        await client.patch(
            f"/v1/mall/items/{on_sale['id']}", json={"stock": 1}, headers=member.headers
        )
    ).status_code == 403
    assert (await client.get(f"/v1/mall/items/{on_sale['id']}")).json() == changed


async def test_an_order_is_paid_once_per_idempotency_key(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    member = make_user()
    await fund(database, 1000, member)
    item = await new_item(client, staff, price_points=150, cash_cents=500)
    other = await new_item(client, staff)
    first = await order(client, member, item["id"], quantity=2, key="order-1")
    assert first.status_code == 201, first.text
    placed = first.json()
    assert first.headers["Location"] == f"/v1/mall/orders/{placed['id']}"
    assert (placed["quantity"], placed["points"], placed["cash_cents"], placed["status"]) == (
        2,
        300,
        1000,
        "placed",
    )
    retry = await order(client, member, item["id"], quantity=2, key="order-1")
    assert retry.status_code == 200
    assert retry.json() == placed
    reused = await order(client, member, other["id"], quantity=2, key="order-1")
    assert reused.status_code == 422
    assert problem_code(reused) == "idempotency-key-reused"
    assert await points_of(database, member) == 700
    assert await stock_of(database, item["id"]) == 8
    assert await stock_of(database, other["id"]) == 10
    keyless = await client.post(
        "/v1/mall/orders", json={"item_id": item["id"]}, headers=member.headers
    )
    assert keyless.status_code == 422
    mine = (await client.get("/v1/me/orders", headers=member.headers)).json()["items"]
    assert [found["id"] for found in mine] == [placed["id"]]
    assert (
        await client.get(f"/v1/mall/orders/{placed['id']}", headers=member.headers)
    ).json() == placed
    stranger = make_user()
    assert (
        await client.get(f"/v1/mall/orders/{placed['id']}", headers=stranger.headers)
    ).status_code == 404
    await assert_ledger_adds_up(database, member.id)


async def test_refused_orders_write_nothing(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    member = make_user()
    await fund(database, 1000, member)
    limited = await new_item(client, staff, stock=10, price_points=100, per_user_limit=2)
    assert (await order(client, member, limited["id"], quantity=2)).status_code == 201
    scarce = await new_item(client, staff, stock=1, price_points=10)
    dear = await new_item(client, staff, stock=5, price_points=900)
    for_tier_two = await new_item(client, staff, min_tier=2)
    ended = await new_item(client, staff, starts_at=at(-3), ends_at=at(-1))
    upcoming = await new_item(client, staff, starts_at=at(1))
    before = await written_for(database, member)
    points = await points_of(database, member)
    refused = [
        (limited, 1, 409, "order-limit"),
        (scarce, 2, 409, "sold-out"),
        (dear, 1, 409, "not-enough-points"),
        (for_tier_two, 1, 403, "tier-too-low"),
        (ended, 1, 409, "item-not-on-sale"),
        (upcoming, 1, 409, "item-not-on-sale"),
        ({"id": str(uuid.uuid4())}, 1, 404, "not-found"),
        (scarce, 11, 422, "validation-error"),
    ]
    for item, quantity, status, code in refused:
        answer = await order(client, member, item["id"], quantity=quantity)
        assert (answer.status_code, problem_code(answer)) == (status, code), answer.text
    assert await written_for(database, member) == before
    assert await points_of(database, member) == points
    assert await stock_of(database, limited["id"]) == 8
    assert await stock_of(database, scarce["id"]) == 1
    assert await stock_of(database, dear["id"]) == 5
    await assert_ledger_adds_up(database, member.id)


async def test_cancelling_refunds_and_restocks_once(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    member, stranger = make_user(), make_user()
    await fund(database, 500, member)
    item = await new_item(client, staff, stock=3, price_points=200, per_user_limit=1)
    placed = (await order(client, member, item["id"])).json()
    reason = {"reason": "changed my mind"}
    assert (
        await client.post(
            f"/v1/mall/orders/{placed['id']}/cancel", json=reason, headers=stranger.headers
        )
    ).status_code == 404
    cancels = await asyncio.gather(
        *(
            client.post(
                f"/v1/mall/orders/{placed['id']}/cancel", json=reason, headers=member.headers
            )
            for _ in range(5)
        )
    )
    assert sorted(answer.status_code for answer in cancels) == [200] + [409] * 4
    cancelled = next(answer.json() for answer in cancels if answer.status_code == 200)
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "changed my mind")
    assert await points_of(database, member) == 500
    assert await stock_of(database, item["id"]) == 3
    refunds = await rows(
        database,
        "SELECT amount, source_id FROM ledger_entries WHERE user_id = :u AND kind = 'refund'",
        u=member.id,
    )
    assert [tuple(refund) for refund in refunds] == [(200, placed["id"])]
    assert (
        await scalar(
            database,
            "SELECT data->>'refunded_points' FROM outbox"
            " WHERE type = 'rewards.order.cancelled.v1' AND key = :o",
            o=placed["id"],
        )
        == "200"
    )

    again = (await order(client, member, item["id"])).json()
    by_staff = await client.post(
        f"/v1/mall/orders/{again['id']}/cancel",
        json={"reason": "out of stock"},
        headers=staff.headers,
    )
    assert by_staff.status_code == 200
    assert await points_of(database, member) == 500
    assert (
        await scalar(
            database,
            "SELECT count(*) FROM audit_records WHERE subject_id = :o",
            o=again["id"],
        )
        == 1
    )
    await assert_ledger_adds_up(database, member.id)


async def test_an_item_staff_restock_sells_again(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    member = make_user()
    await fund(database, 300, member)
    item = await new_item(client, staff, stock=0, price_points=100)
    assert problem_code(await order(client, member, item["id"])) == "sold-out"
    await client.patch(f"/v1/mall/items/{item['id']}", json={"stock": 2}, headers=staff.headers)
    assert (await order(client, member, item["id"], quantity=2)).status_code == 201
    assert await stock_of(database, item["id"]) == 0


async def test_concurrent_retries_with_one_key_place_one_order(
    client: httpx.AsyncClient, database: Database, staff: User, make_user: Callable[..., User]
) -> None:
    member = make_user()
    await fund(database, 1000, member)
    item = await new_item(client, staff, price_points=100)
    answers = await asyncio.gather(
        *(order(client, member, item["id"], key="tap-tap") for _ in range(10))
    )
    assert sorted(answer.status_code for answer in answers) == [200] * 9 + [201]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert await points_of(database, member) == 900
    assert await stock_of(database, item["id"]) == 9
    await assert_ledger_adds_up(database, member.id)
