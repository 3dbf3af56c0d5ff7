"""Keyset pagination: pages in exact order with ties, no empty last page, bad cursors 422."""

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, insert, select

from kit.api.pagination import BadCursor, Keyset, Order, PageParams
from kit.db import Database, UTCDateTime

metadata = MetaData()
things = Table(
    "paged_things",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("rank", Integer, nullable=False),
)
BY_TIME = Keyset(Order(things.c.at), Order(things.c.id))
NEWEST_FIRST = Keyset(Order(things.c.at, descending=True), Order(things.c.id, descending=True))
BY_RANK_THEN_NEWEST = Keyset(
    Order(things.c.rank), Order(things.c.at, descending=True), Order(things.c.id)
)
START = datetime(2031, 5, 1, 10, 0, tzinfo=UTC)
SOME_ID = uuid.UUID("01900000-0000-7000-8000-000000000001")


async def fill(database: Database, count: int, *, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = [
        {
            "id": uuid.uuid4(),
            "at": START + timedelta(minutes=rng.randrange(4)),
            "rank": rng.randrange(3),
        }
        for _ in range(count)
    ]
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        if rows:
            await connection.execute(insert(things), rows)
    return rows


async def all_pages(database: Database, keyset: Keyset, limit: int) -> list[list[uuid.UUID]]:
    pages: list[list[uuid.UUID]] = []
    cursor: str | None = None
    for _ in range(100):
        page = PageParams(cursor=cursor, limit=limit)
        async with database.reading() as session:
            found = (await session.execute(keyset.paged(select(things), page))).all()
        items, cursor = keyset.page(
            found, page, lambda row: [getattr(row, order.column.name) for order in keyset.orders]
        )
        pages.append([row.id for row in items])
        if cursor is None:
            return pages
    raise AssertionError("pagination never ended")


def expected_order(rows: list[dict[str, object]], keyset: Keyset) -> list[uuid.UUID]:
    def sort_key(row: dict[str, object]) -> tuple[object, ...]:
        parts: list[object] = []
        for order in keyset.orders:
            value = row[order.column.name]
            if isinstance(value, datetime):
                value = value.timestamp()
            if isinstance(value, uuid.UUID):
                value = value.int
            assert isinstance(value, int | float)
            parts.append(-value if order.descending else value)
        return tuple(parts)

    return [row["id"] for row in sorted(rows, key=sort_key)]  # type: ignore[misc]


@pytest.mark.parametrize(("count", "limit"), [(23, 5), (21, 7), (1, 20), (0, 20)])
@pytest.mark.parametrize(
    "keyset", [BY_TIME, NEWEST_FIRST, BY_RANK_THEN_NEWEST], ids=["asc", "desc", "mixed"]
)
async def test_pages_walk_the_exact_order_and_stop_without_an_empty_page(
    database: Database, keyset: Keyset, count: int, limit: int
) -> None:
    rows = await fill(database, count, seed=count * 31 + limit)
    pages = await all_pages(database, keyset, limit)
    assert list(itertools.chain.from_iterable(pages)) == expected_order(rows, keyset)
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages[-1]) == (count % limit or min(count, limit))


@pytest.mark.parametrize(
    ("keyset", "cursor"),
    [
        (BY_TIME, "not base64 !"),
        (BY_TIME, "bnVsbA"),  # base64url of "null"
        (BY_TIME, BY_TIME.encode([START])),  # too few values
        (BY_TIME, BY_TIME.encode(["yesterday", SOME_ID])),
        (BY_TIME, BY_TIME.encode(["2031-05-01T10:00:00", SOME_ID])),  # naive time
        (BY_TIME, BY_TIME.encode([START, "not-a-uuid"])),
        (BY_RANK_THEN_NEWEST, BY_RANK_THEN_NEWEST.encode(["1", START, SOME_ID])),
    ],
    ids=["garbage", "null", "too-few", "not-a-time", "naive-time", "not-a-uuid", "rank-as-text"],
)
def test_a_cursor_this_api_did_not_return_is_a_422(keyset: Keyset, cursor: str) -> None:
    with pytest.raises(BadCursor) as refused:
        keyset.decode(cursor)
    assert refused.value.status == 422
    assert refused.value.code == "bad-cursor"


def test_a_cursor_round_trips_its_values() -> None:
    position = [START, SOME_ID]
    assert BY_TIME.decode(BY_TIME.encode(position)) == position
