"""The rush on PostgreSQL through the HTTP API: thousands of users press the button in the
same instant, then cancellations and late signups interleave. Seats never oversell, nobody
gets two places, the waitlist keeps its order and every freed seat goes to its head."""

import asyncio
import random
import uuid
from dataclasses import dataclass

import httpx
import pytest

from kit.db import Database
from kit.testing.services import rows, scalar
from kit.testing.tokens import TokenMinter
from services.events.tests.support import User, published_event

USERS = 2000
DOUBLE_CLICKERS = 200
CAPACITY = 50
ROUNDS = 5
CANCELS_PER_ROUND = 40
NEWCOMERS_PER_ROUND = 40
SEED = 20_240_607  # shown in the test id; fixes the press order and which places cancel


@dataclass(frozen=True)
class Snapshot:
    confirmed: set[uuid.UUID]
    waitlist: list[tuple[int, uuid.UUID]]
    counter: int


async def snapshot(database: Database, event_id: str) -> Snapshot:
    found = await rows(
        database,
        "SELECT id, status, waitlist_position FROM signups WHERE event_id = :e",
        e=uuid.UUID(event_id),
    )
    counter = await scalar(
        database, "SELECT confirmed_count FROM events WHERE id = :e", e=uuid.UUID(event_id)
    )
    return Snapshot(
        confirmed={row.id for row in found if row.status == "confirmed"},
        waitlist=sorted(
            (row.waitlist_position, row.id) for row in found if row.status == "waitlisted"
        ),
        counter=counter,
    )


def users(minter: TokenMinter, count: int) -> list[User]:
    made = []
    for _ in range(count):
        user_id = uuid.uuid4()
        made.append(User(user_id, minter.headers(user_id)))
    return made


async def sign_up(client: httpx.AsyncClient, event_id: str, user: User) -> httpx.Response:
    return await client.post(f"/v1/events/{event_id}/signups", headers=user.headers)


@pytest.mark.parametrize("seed", [SEED], ids=lambda seed: f"seed={seed}")
async def test_rush_never_oversells_and_keeps_the_waitlist_fair(
    client: httpx.AsyncClient, database: Database, minter: TokenMinter, staff: User, seed: int
) -> None:
    rng = random.Random(seed)
    event = await published_event(client, staff, capacity=CAPACITY)
    crowd = users(minter, USERS)
    presses = [*crowd, *crowd[:DOUBLE_CLICKERS]]
    rng.shuffle(presses)

    responses = await asyncio.gather(*(sign_up(client, event["id"], user) for user in presses))

    assert {response.status_code for response in responses} <= {200, 201}
    assert sum(response.status_code == 201 for response in responses) == USERS
    by_user: dict[str, set[str]] = {}
    for response in responses:
        by_user.setdefault(response.json()["user_id"], set()).add(response.json()["id"])
    assert all(len(ids) == 1 for ids in by_user.values()), "a user got two signups"
    state = await snapshot(database, event["id"])
    assert len(state.confirmed) == CAPACITY == state.counter
    assert len(state.waitlist) == USERS - CAPACITY
    assert len({position for position, _ in state.waitlist}) == len(state.waitlist)
    assert (
        await scalar(
            database,
            "SELECT count(DISTINCT user_id) - count(*) FROM signups WHERE event_id = :e",
            e=uuid.UUID(event["id"]),
        )
        == 0
    )

    owners = {
        uuid.UUID(response.json()["id"]): user
        for response, user in zip(responses, presses, strict=True)
    }
    for _ in range(ROUNDS):
        state = await interleave_round(client, database, minter, event["id"], owners, state, rng)


async def interleave_round(
    client: httpx.AsyncClient,
    database: Database,
    minter: TokenMinter,
    event_id: str,
    owners: dict[uuid.UUID, User],
    before: Snapshot,
    rng: random.Random,
) -> Snapshot:
    """Cancel some confirmed and waitlisted signups while newcomers sign up, concurrently."""
    live = sorted(before.confirmed) + [signup for _, signup in before.waitlist]
    leaving = rng.sample(live, CANCELS_PER_ROUND)
    newcomers = users(minter, NEWCOMERS_PER_ROUND)
    calls = [
        client.delete(f"/v1/signups/{signup}", headers=owners[signup].headers) for signup in leaving
    ]
    calls += [sign_up(client, event_id, user) for user in newcomers]
    rng.shuffle(calls)
    responses = await asyncio.gather(*calls)
    assert all(response.status_code in (200, 201) for response in responses), [
        response.text for response in responses if response.status_code >= 300
    ]
    for response in responses:
        if response.status_code == 201:
            owners[uuid.UUID(response.json()["id"])] = next(
                user for user in newcomers if str(user.id) == response.json()["user_id"]
            )

    after = await snapshot(database, event_id)
    assert_fair(before, after, set(leaving))
    return after


def assert_fair(before: Snapshot, after: Snapshot, leaving: set[uuid.UUID]) -> None:
    assert after.counter == len(after.confirmed) <= CAPACITY
    if after.waitlist:
        assert len(after.confirmed) == CAPACITY, "a seat stayed free while people wait"
    freed = len(before.confirmed & leaving)
    old_positions = dict((signup, position) for position, signup in before.waitlist)
    promoted = after.confirmed - before.confirmed
    assert promoted <= set(old_positions), "a newcomer jumped the waitlist"
    assert len(promoted) == freed, "freed seats and promotions do not match"
    still_waiting = [old_positions[s] for _, s in after.waitlist if s in old_positions]
    if promoted and still_waiting:
        assert max(old_positions[s] for s in promoted) < min(still_waiting), "the head was skipped"
    positions = [position for position, _ in after.waitlist]
    assert positions == sorted(set(positions))
    assert not (after.confirmed | {s for _, s in after.waitlist}) & leaving
