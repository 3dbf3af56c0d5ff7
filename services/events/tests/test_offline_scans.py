"""Check-in lists and offline scans on PostgreSQL: batches of scans a device made offline,
uploaded twice and from two devices that overlap, count each attendee once per list (on the
entrance: ``checked_in_at`` set once, one ``attendance.checked_in`` each) and report the
conflicts to staff; who may scan or manage a list; bad batches are refused whole with the
bad scans' indexes, and write nothing."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from kit.db import Database
from kit.db.migrate import upgrade
from kit.testing.services import outbox_events, rows, scalar
from kit.testing.tokens import TokenMinter
from services.events.app import create_app
from services.events.config import EventsSettings
from services.events.service.checkin import QrSigner
from services.events.tests.support import QR_SECRET, User, now, published_event

CHECKED_IN = "events.attendance.checked_in.v1"


async def execute(database: Database, sql: str, **params: Any) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def soon_event(client: httpx.AsyncClient, staff: User, **overrides: Any) -> dict[str, Any]:
    """An event starting in an hour: its doors opened an hour ago."""
    start = now() + timedelta(hours=1)
    schedule = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
        "closes_at": (start - timedelta(minutes=30)).isoformat(),
    }
    return await published_event(client, staff, **{**schedule, **overrides})


async def attendees(
    client: httpx.AsyncClient, event: dict[str, Any], users: list[User]
) -> list[dict[str, Any]]:
    signed = []
    for user in users:
        response = await client.post(f"/v1/events/{event['id']}/signups", headers=user.headers)
        assert response.status_code == 201, response.text
        signed.append(response.json())
    return signed


def scan(
    signer: QrSigner, signup: dict[str, Any], scan_id: str, minutes_ago: float
) -> dict[str, Any]:
    """The scan a device made ``minutes_ago`` of the code the app showed then."""
    at = now() - timedelta(minutes=minutes_ago)
    token, _ = signer.issue(uuid.UUID(signup["id"]), at=at.timestamp())
    return {"scan_id": scan_id, "token": token, "scanned_at": at.isoformat()}


async def upload(
    client: httpx.AsyncClient, list_id: str, device: str, scans: list[dict[str, Any]], who: User
) -> httpx.Response:
    return await client.post(
        f"/v1/checkin-lists/{list_id}/scans",
        json={"device_id": device, "scans": scans},
        headers=who.headers,
    )


async def entrance_of(client: httpx.AsyncClient, event: dict[str, Any], staff: User) -> str:
    lists = await client.get(f"/v1/events/{event['id']}/checkin-lists", headers=staff.headers)
    assert lists.status_code == 200, lists.text
    entrance = [item for item in lists.json()["items"] if item["kind"] == "entrance"]
    assert len(entrance) == 1
    return str(entrance[0]["id"])


async def recorded(database: Database, event: dict[str, Any]) -> dict[str, Any]:
    """What scans wrote about the event: counts of each table, check-ins and outbox."""
    e = uuid.UUID(event["id"])
    counts = {
        table: await scalar(
            database,
            f"SELECT count(*) FROM {table} t JOIN checkin_lists l ON l.id = t.list_id"  # noqa: S608
            " WHERE l.event_id = :e",
            e=e,
        )
        for table in ("checkin_scans", "checkin_attendance", "checkin_conflicts")
    }
    checked = await rows(
        database,
        "SELECT id, checked_in_at FROM signups WHERE event_id = :e AND checked_in_at IS NOT NULL",
        e=e,
    )
    messages = await outbox_events(database, subject=event["id"], event_type=CHECKED_IN)
    return {
        **counts,
        "checked_in": {row.id: row.checked_in_at for row in checked},
        "outbox": sorted(message.data["signup_id"] for message in messages),
    }


def outcomes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [result["outcome"] for result in response.json()["results"]]


async def test_offline_batches_uploaded_twice_and_from_two_devices_count_everyone_once(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    signer: QrSigner = app.state.qr_signer
    event = await soon_event(client, staff)
    fans = [make_user() for _ in range(6)]
    signups = await attendees(client, event, fans)
    entrance = await entrance_of(client, event, staff)
    assert await entrance_of(client, event, staff) == entrance, "one entrance, created once"

    door_a = [scan(signer, signups[i], f"a-{i}", 40 - i) for i in range(4)]
    first = await upload(client, entrance, "door-a", door_a, staff)
    assert outcomes(first) == ["accepted"] * 4
    assert first.json()["accepted"] == 4
    after_a = await recorded(database, event)
    retried = await upload(client, entrance, "door-a", door_a, staff)
    assert outcomes(retried) == ["duplicate"] * 4
    assert retried.json()["duplicate"] == 4
    assert await recorded(database, event) == after_a, "the same batch again changes nothing"

    # Door B scanned fans 2..5 (2 and 3 also at door A), and fan 4 twice.
    door_b = [scan(signer, signups[i], f"b-{i}", 30 - i) for i in range(2, 6)]
    door_b.append(scan(signer, signups[4], "b-4-again", 10))
    second = await upload(client, entrance, "door-b", door_b, staff)
    assert outcomes(second) == ["conflict", "conflict", "accepted", "accepted", "already"]
    body = second.json()
    assert (body["accepted"], body["conflict"], body["already"], body["duplicate"]) == (2, 2, 1, 0)
    after_b = await recorded(database, event)
    assert (await upload(client, entrance, "door-b", door_b, staff)).json()["duplicate"] == 5
    assert await recorded(database, event) == after_b

    assert after_b["checkin_attendance"] == 6
    assert after_b["checkin_conflicts"] == 2
    assert after_b["checkin_scans"] == 9
    assert set(after_b["checked_in"]) == {uuid.UUID(signup["id"]) for signup in signups}
    assert after_b["outbox"] == sorted(signup["id"] for signup in signups), "one each"
    at_a = datetime.fromisoformat(door_a[2]["scanned_at"])
    assert after_b["checked_in"][uuid.UUID(signups[2]["id"])] == at_a, "first scan wins"

    summary = await client.get(f"/v1/checkin-lists/{entrance}", headers=staff.headers)
    assert (summary.json()["checked_in"], summary.json()["conflicts"]) == (6, 2)
    conflicts = await client.get(f"/v1/checkin-lists/{entrance}/conflicts", headers=staff.headers)
    found = conflicts.json()["items"]
    assert sorted((c["signup_id"], c["first_device_id"], c["other_device_id"]) for c in found) == (
        sorted((signups[i]["id"], "door-a", "door-b") for i in (2, 3))
    )
    assert {c["first_scan_id"] for c in found} == {"a-2", "a-3"}
    mine = await client.get(f"/v1/signups/{signups[5]['id']}", headers=fans[5].headers)
    assert mine.json()["checked_in_at"] is not None


async def test_session_lists_have_their_own_scanners_and_counts(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    signer: QrSigner = app.state.qr_signer
    organizer = make_user("volunteer", "staff")
    event = await soon_event(client, organizer)
    helper, stranger = make_user(), make_user()
    fans = [make_user() for _ in range(3)]
    signups = await attendees(client, event, fans)
    url = f"/v1/events/{event['id']}/checkin-lists"
    created = await client.post(
        url,
        json={"name": "Workshop A", "scanner_ids": [str(helper.id)]},
        headers=organizer.headers,
    )
    assert created.status_code == 201, created.text
    workshop = created.json()
    assert (workshop["kind"], workshop["checked_in"]) == ("session", 0)
    assert (await client.get(created.headers["location"], headers=helper.headers)).json() == (
        workshop
    )
    for body, code in (
        ({"name": "Workshop A"}, "list-name-taken"),
        ({"name": "Door two", "kind": "entrance"}, "entrance-exists"),
    ):
        refused = await client.post(url, json=body, headers=organizer.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith(f"/{code}")
    by_stranger = await client.post(url, json={"name": "Mine"}, headers=stranger.headers)
    assert by_stranger.status_code == 403
    assert (await client.get(url, headers=helper.headers)).status_code == 403
    lists = (await client.get(url, headers=organizer.headers)).json()["items"]
    assert [item["kind"] for item in lists] == ["entrance", "session"]
    entrance = lists[0]["id"]

    before = await recorded(database, event)
    scans = [scan(signer, signup, f"w-{n}", 20) for n, signup in enumerate(signups)]
    assert outcomes(await upload(client, workshop["id"], "tab-1", scans, helper)) == (
        ["accepted"] * 3
    )
    after = await recorded(database, event)
    assert (after["checked_in"], after["outbox"]) == ({}, []), "a session list is no door"
    assert after["checkin_attendance"] == 3
    for who, list_id in ((stranger, workshop["id"]), (helper, entrance), (fans[0], entrance)):
        refused = await upload(client, list_id, "tab-1", scans, who)
        assert refused.status_code == 403, refused.text
    assert (
        await client.get(f"/v1/checkin-lists/{workshop['id']}/conflicts", headers=helper.headers)
    ).status_code == 403
    assert (
        await client.get(f"/v1/checkin-lists/{entrance}", headers=stranger.headers)
    ).status_code == (403)
    assert await recorded(database, event) == after
    assert before["checkin_attendance"] == 0

    renamed = await client.patch(
        f"/v1/checkin-lists/{workshop['id']}",
        json={"name": "Workshop B", "scanner_ids": []},
        headers=organizer.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert (
        renamed.json()["name"],
        renamed.json()["scanner_ids"],
        renamed.json()["checked_in"],
    ) == (
        "Workshop B",
        [],
        3,
    )
    assert (await upload(client, workshop["id"], "tab-1", scans, helper)).status_code == 403
    taken = await client.patch(
        f"/v1/checkin-lists/{workshop['id']}", json={"name": "Entrance"}, headers=organizer.headers
    )
    assert taken.status_code == 409
    unknown = uuid.uuid4()
    assert (await upload(client, str(unknown), "tab-1", scans, staff)).status_code == 404
    assert (
        await client.get(f"/v1/checkin-lists/{unknown}", headers=staff.headers)
    ).status_code == (404)


async def test_the_door_check_in_counts_on_the_entrance_list(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    signer: QrSigner = app.state.qr_signer
    event = await soon_event(client, staff)
    fan = make_user()
    (signup,) = await attendees(client, event, [fan])
    qr = (await client.get(f"/v1/signups/{signup['id']}/qr", headers=fan.headers)).json()
    door = await client.post(
        f"/v1/events/{event['id']}/checkins", json={"token": qr["token"]}, headers=staff.headers
    )
    assert door.status_code == 200, door.text
    entrance = await entrance_of(client, event, staff)
    offline = await upload(client, entrance, "door-x", [scan(signer, signup, "x", 5)], staff)
    assert outcomes(offline) == ["conflict"]
    summary = (await client.get(f"/v1/checkin-lists/{entrance}", headers=staff.headers)).json()
    assert (summary["checked_in"], summary["conflicts"]) == (1, 1)
    assert len((await recorded(database, event))["outbox"]) == 1


async def test_a_late_upload_after_completion_waives_the_no_show(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    signer: QrSigner = app.state.qr_signer
    event = await soon_event(client, staff)
    came, missed = make_user(), make_user()
    signups = await attendees(client, event, [came, missed])
    entrance = await entrance_of(client, event, staff)
    end = now() - timedelta(minutes=30)
    await execute(
        database,
        "UPDATE events SET starts_at = :start, ends_at = :end, opens_at = :opens,"
        " closes_at = :closes WHERE id = :id",
        start=end - timedelta(hours=3),
        end=end,
        opens=end - timedelta(days=2),
        closes=end - timedelta(hours=4),
        id=uuid.UUID(event["id"]),
    )
    completed = await client.post(f"/v1/events/{event['id']}/complete", headers=staff.headers)
    assert completed.status_code == 200, completed.text
    issued = await rows(
        database, "SELECT user_id FROM penalties WHERE event_id = :e", e=uuid.UUID(event["id"])
    )
    assert {row.user_id for row in issued} == {came.id, missed.id}

    late = await upload(client, entrance, "door-a", [scan(signer, signups[0], "a-1", 60)], staff)
    assert outcomes(late) == ["accepted"]
    penalties = await rows(
        database,
        "SELECT user_id, waived_by FROM penalties WHERE event_id = :e",
        e=uuid.UUID(event["id"]),
    )
    assert {(row.user_id, row.waived_by) for row in penalties} == {
        (came.id, staff.id),
        (missed.id, None),
    }
    waived = await outbox_events(
        database, subject=event["id"], event_type="events.penalty.waived.v1"
    )
    assert [message.data["user_id"] for message in waived] == [str(came.id)]


@pytest.mark.parametrize(
    "bad",
    ["forged", "expired", "other-event", "cancelled", "waitlisted", "future", "before-doors"],
)
async def test_a_bad_scan_refuses_the_whole_batch_and_writes_nothing(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
    bad: str,
) -> None:
    signer: QrSigner = app.state.qr_signer
    event = await soon_event(client, staff, capacity=2)
    other = await soon_event(client, staff)
    good_fan, leaving = make_user(), make_user()
    good, cancelled, _, queued = await attendees(
        client, event, [good_fan, leaving, make_user(), make_user()]
    )
    await client.post(f"/v1/signups/{cancelled['id']}/cancel", headers=leaving.headers)
    status = await scalar(
        database, "SELECT status FROM signups WHERE id = :s", s=uuid.UUID(queued["id"])
    )
    assert status == "waitlisted"
    (foreign,) = await attendees(client, other, [make_user()])
    entrance = await entrance_of(client, event, staff)

    valid = scan(signer, good, "ok", 10)
    wrong = scan(signer, good, "bad", 10)
    match bad:
        case "forged":
            wrong["token"] = wrong["token"][:-4] + (
                "AAAA" if wrong["token"][-4:] != "AAAA" else "BBBB"
            )
        case "expired":
            # The app showed this code half an hour before the device scanned it.
            token, _ = signer.issue(
                uuid.UUID(good["id"]), at=(now() - timedelta(minutes=40)).timestamp()
            )
            wrong["token"] = token
        case "other-event":
            wrong = scan(signer, foreign, "bad", 10)
        case "cancelled":
            wrong = scan(signer, cancelled, "bad", 10)
        case "waitlisted":
            wrong = scan(signer, queued, "bad", 10)
        case "future":
            wrong = scan(signer, good, "bad", -10)
        case "before-doors":
            wrong = scan(signer, good, "bad", 70)
    before = await recorded(database, event)
    refused = await upload(
        client, entrance, "door-a", [valid, wrong, valid | {"scan_id": "ok2"}], staff
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["type"].endswith("/bad-scans")
    assert body["bad_scans"] == [1]
    assert [error["loc"] for error in body["errors"]] == [["body", "scans", 1]]
    assert await recorded(database, event) == before
    assert (await recorded(database, other))["checkin_scans"] == 0


async def test_batches_out_of_shape_are_refused(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    signer: QrSigner = app.state.qr_signer
    event = await soon_event(client, staff, capacity=20)
    (signup,) = await attendees(client, event, [make_user()])
    entrance = await entrance_of(client, event, staff)
    one = scan(signer, signup, "s", 5)
    before = await recorded(database, event)
    for scans in ([], [one | {"scan_id": f"s{n}"} for n in range(1001)], [one | {"extra": 1}]):
        refused = await upload(client, entrance, "door-a", scans, staff)
        assert refused.status_code == 422, refused.text
    assert await recorded(database, event) == before
    fans = await attendees(client, event, [make_user() for _ in range(10)])
    largest = [scan(signer, fans[n % 10], f"big-{n}", 5) for n in range(1000)]
    assert outcomes(await upload(client, entrance, "door-big", largest, staff)) == (
        ["accepted"] * 10 + ["already"] * 990
    )
    reused = await upload(client, entrance, "door-a", [one], staff)
    assert outcomes(reused) == ["accepted"]
    (other,) = await attendees(client, event, [make_user()])
    clash = await upload(client, entrance, "door-a", [scan(signer, other, "s", 5)], staff)
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["type"] == "scan-id-reused"
    assert (await recorded(database, event))["checkin_scans"] == before["checkin_scans"] + 1001


async def test_two_devices_uploading_overlapping_batches_at_once_count_each_attendee_once(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    staff: User,
    make_user: Callable[..., User],
) -> None:
    signer: QrSigner = app.state.qr_signer
    event = await soon_event(client, staff)
    signups = await attendees(client, event, [make_user() for _ in range(6)])
    entrance = await entrance_of(client, event, staff)
    forwards = [scan(signer, signup, f"f-{n}", 20) for n, signup in enumerate(signups)]
    backwards = [scan(signer, signup, f"b-{n}", 15) for n, signup in enumerate(signups)][::-1]

    first, second = await asyncio.gather(
        upload(client, entrance, "door-a", forwards, staff),
        upload(client, entrance, "door-b", backwards, staff),
    )

    both = outcomes(first) + outcomes(second)
    assert both.count("accepted") == 6
    assert both.count("conflict") == 6
    after = await recorded(database, event)
    assert (after["checkin_attendance"], after["checkin_conflicts"]) == (6, 6)
    assert after["outbox"] == sorted(signup["id"] for signup in signups)


async def test_scans_and_penalties_on_sqlite(tmp_path: Path, minter: TokenMinter) -> None:
    """The portable path (``make run``): offline scans count once, a no-show delays the
    next signup with the same 409 as on PostgreSQL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    await asyncio.to_thread(upgrade, "events", url)
    settings = EventsSettings(database_url=url, bus_enabled=False, qr_secret=QR_SECRET)
    app = create_app(settings, token_verifier=minter.verifier())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://events"
        ) as client,
    ):
        signer: QrSigner = app.state.qr_signer
        database: Database = app.state.database
        staff = User(uuid.uuid4(), minter.headers(roles=("staff",)))
        came, missed = (User(uuid.uuid4(), minter.headers()) for _ in range(2))
        event = await soon_event(client, staff)
        signups = await attendees(client, event, [came, missed])
        entrance = await entrance_of(client, event, staff)
        batch = [scan(signer, signups[0], "a-1", 10), scan(signer, signups[0], "a-2", 5)]
        assert outcomes(await upload(client, entrance, "door-a", batch, staff)) == [
            "accepted",
            "already",
        ]
        assert outcomes(await upload(client, entrance, "door-a", batch, staff)) == [
            "duplicate",
            "duplicate",
        ]
        summary = (await client.get(f"/v1/checkin-lists/{entrance}", headers=staff.headers)).json()
        assert summary["checked_in"] == 1
        end = now() - timedelta(minutes=30)
        await execute(
            database,
            "UPDATE events SET starts_at = :start, ends_at = :end, opens_at = :opens,"
            " closes_at = :closes WHERE id = :id",
            start=end - timedelta(hours=3),
            end=end,
            opens=end - timedelta(days=2),
            closes=end - timedelta(hours=4),
            id=uuid.UUID(event["id"]).hex,
        )
        completed = await client.post(f"/v1/events/{event['id']}/complete", headers=staff.headers)
        assert completed.status_code == 200, completed.text
        mine = (await client.get("/v1/me/penalties", headers=missed.headers)).json()["items"]
        assert [penalty["active"] for penalty in mine] == [True]
        assert (await client.get("/v1/me/penalties", headers=came.headers)).json()["items"] == []
        following = await soon_event(client, staff)
        delayed = await client.post(f"/v1/events/{following['id']}/signups", headers=missed.headers)
        assert delayed.status_code == 409, delayed.text
        assert delayed.json()["type"].endswith("/penalty-delay")
        welcome = await client.post(f"/v1/events/{following['id']}/signups", headers=came.headers)
        assert welcome.status_code == 201
