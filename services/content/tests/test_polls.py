"""Polls: staff create them, members vote once each (again replaces), counts always equal
the ballots, even under 500 concurrent votes; bad votes write nothing; owners' polls;
weighted final rounds whose votes count once rewards charged their points."""

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from contracts.rewards import PollChargeSettled
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import rows, scalar
from services.content.consumers import SUBSCRIPTIONS, on_poll_charge_settled
from services.content.tests.support import User, outbox_types

CITIES = ["Shanghai", "Hefei", "Chengdu", "Xi'an"]


def at(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def poll_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "question": "Where should this year's owner festival be held?",
        "options": CITIES,
        "opens_at": at(-1),
        "closes_at": at(60),
    }
    body.update(overrides)
    return body


async def make_poll(client: httpx.AsyncClient, staff: User, **overrides: Any) -> dict[str, Any]:
    created = await client.post("/v1/polls", json=poll_body(**overrides), headers=staff.headers)
    assert created.status_code == 201, created.text
    poll: dict[str, Any] = created.json()
    return poll


async def close(database: Database, poll_id: str) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE polls SET opens_at = now() - interval '2 hours', "
                "closes_at = now() - interval '1 hour' WHERE id = :id"
            ),
            {"id": uuid.UUID(poll_id)},
        )


async def read(client: httpx.AsyncClient, poll_id: str, user: User | None = None) -> dict[str, Any]:
    found = await client.get(f"/v1/polls/{poll_id}", headers=user.headers if user else None)
    assert found.status_code == 200, found.text
    poll: dict[str, Any] = found.json()
    return poll


def option_ids(poll: dict[str, Any]) -> list[str]:
    return [option["id"] for option in poll["options"]]


def counts(poll: dict[str, Any]) -> list[tuple[int, int]]:
    return [(option["vote_count"], option["weight_total"]) for option in poll["options"]]


async def vote(
    client: httpx.AsyncClient, poll_id: str, user: User, chosen: list[str], weight: int = 1
) -> httpx.Response:
    return await client.put(
        f"/v1/polls/{poll_id}/vote",
        json={"option_ids": chosen, "weight": weight},
        headers=user.headers,
    )


async def ballot_counts(database: Database, poll_id: str) -> tuple[Counter[str], Counter[str], int]:
    """From the counted ballots themselves: votes and weight per option, and voters."""
    found = await rows(
        database,
        "SELECT option_id, count(*), sum(weight) FROM poll_ballots, "
        "json_array_elements_text(option_ids) AS option_id "
        "WHERE poll_id = :poll AND status = 'counted' GROUP BY option_id",
        poll=uuid.UUID(poll_id),
    )
    voters = await scalar(
        database,
        "SELECT count(*) FROM poll_ballots WHERE poll_id = :poll AND status = 'counted'",
        poll=uuid.UUID(poll_id),
    )
    votes = Counter({row[0]: row[1] for row in found})
    weights = Counter({row[0]: row[2] for row in found})
    return votes, weights, voters


async def test_staff_create_polls_that_anyone_reads(
    client: httpx.AsyncClient, make_user: Callable[..., User], staff: User
) -> None:
    fan = make_user()
    refused = await client.post("/v1/polls", json=poll_body(), headers=fan.headers)
    assert refused.status_code == 403
    for bad in (
        {"options": ["Shanghai"]},
        {"options": ["Shanghai", " shanghai "]},
        {"options": [f"city {n}" for n in range(21)]},
        {"opens_at": at(10), "closes_at": at(5)},
        {"opens_at": at(-20), "closes_at": at(-10)},
        {"kind": "ranked"},
        {"max_weight": 0},
    ):
        answer = await client.post("/v1/polls", json=poll_body(**bad), headers=staff.headers)
        assert answer.status_code == 422, (bad, answer.text)

    first = await make_poll(client, staff)
    created = await client.post("/v1/polls", json=poll_body(kind="multiple"), headers=staff.headers)
    assert created.headers["Location"] == f"/v1/polls/{created.json()['id']}"
    second = created.json()
    assert first["state"] == "open"
    assert first["round"] == "only"
    assert [option["label"] for option in first["options"]] == CITIES
    assert counts(first) == [(0, 0)] * len(CITIES)
    assert first["voter_count"] == 0
    assert first["my_ballot"] is None
    assert first["winner_ids"] is None

    listed = (await client.get("/v1/polls", params={"limit": 1})).json()
    assert [poll["id"] for poll in listed["items"]] == [second["id"]]
    params = {"limit": 1, "cursor": listed["next_cursor"]}
    following = (await client.get("/v1/polls", params=params)).json()
    assert [poll["id"] for poll in following["items"]] == [first["id"]]
    assert (await client.get(f"/v1/polls/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/v1/polls", params={"cursor": "bm9wZQ"})).status_code == 422


async def test_voting_again_replaces_the_ballot_and_withdrawing_takes_it_back(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    voter = make_user()
    poll = await make_poll(client, staff, kind="multiple")
    shanghai, hefei, chengdu, _ = option_ids(poll)

    cast = await vote(client, poll["id"], voter, [hefei, shanghai])
    assert cast.status_code == 200, cast.text
    assert counts(cast.json())[:3] == [(1, 1), (1, 1), (0, 0)]
    assert cast.json()["voter_count"] == 1
    assert cast.json()["my_ballot"]["status"] == "counted"
    assert sorted(cast.json()["my_ballot"]["option_ids"]) == sorted([hefei, shanghai])

    replaced = await vote(client, poll["id"], voter, [chengdu])
    assert counts(replaced.json())[:3] == [(0, 0), (0, 0), (1, 1)]
    assert replaced.json()["voter_count"] == 1
    assert (await read(client, poll["id"]))["my_ballot"] is None, "anonymous: no ballot"
    assert (await read(client, poll["id"], voter))["my_ballot"]["option_ids"] == [chengdu]

    for _ in range(2):
        withdrawn = await client.delete(f"/v1/polls/{poll['id']}/vote", headers=voter.headers)
        assert withdrawn.status_code == 204
    after = await read(client, poll["id"], voter)
    assert counts(after) == [(0, 0)] * len(CITIES)
    assert after["voter_count"] == 0
    assert after["my_ballot"] is None
    assert await outbox_types(database, poll["id"]) == ["content.poll.vote_cast.v1"] * 2


async def test_a_vote_the_poll_does_not_take_writes_nothing(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    voter = make_user()
    poll = await make_poll(client, staff)
    other = await make_poll(client, staff)
    upcoming = await make_poll(client, staff, opens_at=at(30))
    closed = await make_poll(client, staff)
    await close(database, closed["id"])
    first, second = option_ids(poll)[:2]

    refusals = [
        (poll, [first, second], 1, 422, "single-choice"),
        (poll, [option_ids(other)[0]], 1, 422, "unknown-option"),
        (poll, [str(uuid.uuid4())], 1, 422, "unknown-option"),
        (poll, [first, first], 1, 422, "duplicate-option"),
        (poll, [first], 2, 422, "weight-too-high"),
        (upcoming, option_ids(upcoming)[:1], 1, 409, "poll-not-open"),
        (closed, option_ids(closed)[:1], 1, 409, "poll-closed"),
    ]
    for target, chosen, weight, status, code in refusals:
        answer = await vote(client, target["id"], voter, chosen, weight)
        assert answer.status_code == status, answer.text
        assert answer.json()["type"].endswith(f"/{code}")
    refused = await client.delete(f"/v1/polls/{closed['id']}/vote", headers=voter.headers)
    assert refused.status_code == 409
    assert (await vote(client, str(uuid.uuid4()), voter, [first])).status_code == 404

    for target in (poll, upcoming, closed):
        assert await outbox_types(database, target["id"]) == []
        assert counts(await read(client, target["id"])) == [(0, 0)] * len(CITIES)
    ballots = await scalar(
        database, "SELECT count(*) FROM poll_ballots WHERE user_id = :user", user=voter.id
    )
    assert ballots == 0


async def test_an_owners_poll_refuses_a_fan(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    fan, owner, newly_verified = make_user(), make_user("owner"), make_user()
    poll = await make_poll(client, staff, audience="owners")
    choice = option_ids(poll)[:1]
    refused = await vote(client, poll["id"], fan, choice)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/owners-only")
    assert (await vote(client, poll["id"], owner, choice)).status_code == 200

    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO members (user_id, roles, updated_at) "
                "VALUES (:id, CAST(:roles AS json), now())"
            ),
            {"id": newly_verified.id, "roles": '["fan", "owner"]'},
        )
    assert (await vote(client, poll["id"], newly_verified, choice)).status_code == 200
    assert (await read(client, poll["id"]))["voter_count"] == 2


async def test_500_concurrent_votes_leave_the_counts_equal_to_the_ballots(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    """First votes, changed votes and users racing themselves, all at once."""
    poll = await make_poll(client, staff, kind="multiple", max_weight=3)
    options = option_ids(poll)
    rng = random.Random(15)

    def choice() -> tuple[list[str], int]:
        return rng.sample(options, rng.randint(1, 2)), rng.randint(1, 3)

    changers = [make_user() for _ in range(150)]
    earlier = await asyncio.gather(
        *(vote(client, poll["id"], user, *choice()) for user in changers)
    )
    assert {answer.status_code for answer in earlier} == {200}
    newcomers = [make_user() for _ in range(150)]
    racers = [make_user() for _ in range(100)]
    calls = [(user, *choice()) for user in changers + newcomers + racers + racers]
    rng.shuffle(calls)
    assert len(calls) == 500

    answers = await asyncio.gather(
        *(vote(client, poll["id"], user, chosen, weight) for user, chosen, weight in calls)
    )
    assert [answer.status_code for answer in answers] == [200] * 500, {
        answer.status_code: answer.text for answer in answers if answer.status_code != 200
    }

    votes, weights, voters = await ballot_counts(database, poll["id"])
    final = await read(client, poll["id"])
    assert final["voter_count"] == voters == 400
    for option in final["options"]:
        assert option["vote_count"] == votes[option["id"]]
        assert option["weight_total"] == weights[option["id"]]
    last = {user.id: (sorted(chosen), weight) for user, chosen, weight in calls if user in changers}
    for user in changers[:20]:
        mine = (await read(client, poll["id"], user))["my_ballot"]
        assert (sorted(mine["option_ids"]), mine["weight"]) == last[user.id]


def settled(poll_id: str, ballot: dict[str, Any], user: User, *, charged: bool) -> Envelope:
    payload = PollChargeSettled(
        poll_id=uuid.UUID(poll_id), ballot_id=ballot["id"], user_id=user.id, charged=charged
    )
    return Envelope(
        type=payload.event_type,
        source="rewards",
        subject=poll_id,
        data=payload.model_dump(mode="json"),
    )


def test_rewards_answers_reach_the_poll_charge_handler() -> None:
    subscriptions = {subscription.name: subscription.handlers for subscription in SUBSCRIPTIONS}
    assert list(subscriptions) == ["identity-users", "rewards-charges", "rewards-members"]
    assert subscriptions["rewards-charges"] == {PollChargeSettled: on_poll_charge_settled}


async def deliver(database: Database, envelope: Envelope) -> None:
    """What the ``rewards-charges`` consumer does with one delivery (its dedupe aside)."""
    async with database.transaction() as session:
        payload = PollChargeSettled.model_validate(envelope.data)
        await on_poll_charge_settled(session, payload, envelope)


async def test_a_weighted_final_round_counts_a_vote_once_its_points_are_charged(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    owners = [make_user("owner") for _ in range(3)]
    shortlist = await make_poll(client, staff, audience="owners")
    _, hefei, chengdu, _ = option_ids(shortlist)
    for owner, city in zip(owners, (chengdu, hefei, chengdu), strict=True):
        assert (await vote(client, shortlist["id"], owner, [city])).status_code == 200
    schedule = {"opens_at": at(-1), "closes_at": at(60), "max_weight": 5, "points_per_weight": 10}
    url = f"/v1/polls/{shortlist['id']}/final-round"
    early = await client.post(url, json={"top": 2, **schedule}, headers=staff.headers)
    assert early.status_code == 409
    await close(database, shortlist["id"])
    assert (await read(client, shortlist["id"]))["winner_ids"] == [chengdu]
    fan = make_user()
    refused = await client.post(url, json={"top": 2, **schedule}, headers=fan.headers)
    assert refused.status_code == 403
    created = await client.post(url, json={"top": 2, **schedule}, headers=staff.headers)
    assert created.status_code == 201, created.text
    final = created.json()
    again = await client.post(url, json={"top": 2, **schedule}, headers=staff.headers)
    assert again.json()["type"].endswith("/final-round-exists")
    assert (await read(client, shortlist["id"]))["round"] == "shortlist"
    assert final["round"] == "final"
    assert final["shortlist_of"] == shortlist["id"]
    assert [option["label"] for option in final["options"]] == ["Chengdu", "Hefei"]
    assert final["audience"] == "owners"
    assert final["kind"] == "single"

    payer, broke = owners[0], owners[1]
    city = option_ids(final)[0]
    pending = await vote(client, final["id"], payer, [city], weight=3)
    assert pending.status_code == 200, pending.text
    ballot = pending.json()["my_ballot"]
    assert ballot["status"] == "pending_charge"
    assert ballot["weight"] == 3
    assert counts(pending.json()) == [(0, 0), (0, 0)]
    assert pending.json()["voter_count"] == 0
    requested = await rows(
        database,
        "SELECT data FROM outbox WHERE key = :key AND type = :type",
        key=final["id"],
        type="content.poll.vote_charge_requested.v1",
    )
    assert [row[0]["points"] for row in requested] == [20]
    assert requested[0][0]["ballot_id"] == ballot["id"]
    for change in (
        vote(client, final["id"], payer, [city], weight=1),
        client.delete(f"/v1/polls/{final['id']}/vote", headers=payer.headers),
    ):
        answer = await change
        assert answer.status_code == 409
        assert answer.json()["type"].endswith("/charge-pending")

    envelope = settled(final["id"], ballot, payer, charged=True)
    for _ in range(2):
        await deliver(database, envelope)
    counted = await read(client, final["id"], payer)
    assert counted["my_ballot"]["status"] == "counted"
    assert counts(counted) == [(1, 3), (0, 0)]
    assert counted["voter_count"] == 1
    assert (await outbox_types(database, final["id"])).count("content.poll.vote_cast.v1") == 1

    turned_down = (await vote(client, final["id"], broke, [city], weight=5)).json()["my_ballot"]
    await deliver(database, settled(final["id"], turned_down, broke, charged=False))
    refused_ballot = (await read(client, final["id"], broke))["my_ballot"]
    assert refused_ballot["status"] == "refused"
    assert counts(await read(client, final["id"])) == [(1, 3), (0, 0)]
    free = await vote(client, final["id"], broke, [city], weight=1)
    assert free.json()["my_ballot"]["status"] == "counted"
    assert counts(free.json()) == [(2, 4), (0, 0)]
    assert free.json()["voter_count"] == 2

    await close(database, final["id"])
    assert (await read(client, final["id"]))["winner_ids"] == [city]
    url = f"/v1/polls/{final['id']}/final-round"
    of_final = await client.post(url, json={"top": 2, **schedule}, headers=staff.headers)
    assert of_final.json()["type"].endswith("/already-final")
