"""Circles: who creates, joins and reads interest and industry circles, approval of
pending members, the count of active members, the last admin, circle admins moderating
their own circle only, owners who lose the role leaving industry circles, and fans whose
reward tier makes them trusted."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.identity import UserRoleChanged
from contracts.rewards import TierChanged
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import outbox_events, rows, scalar
from services.content.consumers import on_role_changed, on_tier_changed
from services.content.service.standing import TRUSTED_TIER
from services.content.tests.support import User, make_post, outbox_types

MEMBERSHIP_CHANGED = "content.circle.membership_changed.v1"


async def make_circle(
    client: httpx.AsyncClient, creator: User, kind: str = "interest", **overrides: Any
) -> dict[str, Any]:
    body = {"name": f"circle {uuid.uuid4()}", "description": "", "kind": kind} | overrides
    created = await client.post("/v1/circles", json=body, headers=creator.headers)
    assert created.status_code == 201, created.text
    circle: dict[str, Any] = created.json()
    return circle


async def join(client: httpx.AsyncClient, circle: dict[str, Any], user: User) -> httpx.Response:
    return await client.put(f"/v1/circles/{circle['id']}/membership", headers=user.headers)


async def decide(
    client: httpx.AsyncClient, circle: dict[str, Any], user: User, decision: str, by: User
) -> httpx.Response:
    url = f"/v1/circles/{circle['id']}/members/{user.id}/{decision}"
    return await client.post(url, headers=by.headers)


async def active_rows(database: Database, circle: dict[str, Any]) -> int:
    count: int = await scalar(
        database,
        "SELECT count(*) FROM circle_members WHERE circle_id = :id AND status = 'active'",
        id=uuid.UUID(circle["id"]),
    )
    return count


async def member_count(client: httpx.AsyncClient, circle: dict[str, Any]) -> int:
    count: int = (await client.get(f"/v1/circles/{circle['id']}")).json()["member_count"]
    return count


async def changes(database: Database, circle: dict[str, Any]) -> list[tuple[str, str, int]]:
    found = await outbox_events(database, subject=circle["id"], event_type=MEMBERSHIP_CHANGED)
    return [
        (event.data["change"], event.data["user_id"], event.data["member_count"]) for event in found
    ]


async def test_the_creator_is_the_first_admin_and_listed_by_name(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    owner = make_user("owner")
    prefix = f"list {uuid.uuid4()}"
    second = await make_circle(client, owner, name=f"{prefix} b")
    first = await make_circle(client, owner, name=f"{prefix} a", kind="industry")
    assert first["member_count"] == 1
    assert first["membership"]["role"] == "admin"
    assert first["membership"]["status"] == "active"
    assert await changes(database, first) == [("joined", str(owner.id), 1)]

    taken = await client.post(
        "/v1/circles", json={"name": f"{prefix} a", "kind": "interest"}, headers=owner.headers
    )
    assert taken.status_code == 409

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/circles", params=params, headers=owner.headers)).json()
        seen += [item["name"] for item in page["items"] if item["name"].startswith(prefix)]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [first["name"], second["name"]]
    anonymous = (await client.get(f"/v1/circles/{first['id']}")).json()
    assert anonymous["membership"] is None
    assert anonymous["kind"] == "industry"


async def test_a_fan_cannot_join_or_read_an_industry_circle(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    owner, fan = make_user("owner"), make_user("fan")
    circle = await make_circle(client, owner, kind="industry")
    post = await make_post(client, owner, text="owners only", circle_id=circle["id"])
    assert post["members_only"] is True

    refused = await join(client, circle, fan)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/owners-only")
    assert await active_rows(database, circle) == 1
    for viewer in ({}, fan.headers):
        assert (await client.get(f"/v1/circles/{circle['id']}", headers=viewer)).status_code == 200
        for path in ("posts", "pinned", "members"):
            url = f"/v1/circles/{circle['id']}/{path}"
            assert (await client.get(url, headers=viewer)).status_code == 404, path
        assert (await client.get(f"/v1/posts/{post['id']}", headers=viewer)).status_code == 404
    posts = (await client.get(f"/v1/circles/{circle['id']}/posts", headers=owner.headers)).json()
    assert [item["id"] for item in posts["items"]] == [post["id"]]


async def test_an_interest_circle_is_open_to_anyone(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    creator, fan = make_user("owner"), make_user("fan")
    circle = await make_circle(client, creator)
    post = await make_post(client, creator, text="open to all", circle_id=circle["id"])
    anonymous = (await client.get(f"/v1/circles/{circle['id']}/posts")).json()
    assert [item["id"] for item in anonymous["items"]] == [post["id"]]

    joined = await join(client, circle, fan)
    assert joined.status_code == 200, joined.text
    assert joined.json()["status"] == "active"
    again = await join(client, circle, fan)
    assert again.json() == joined.json()
    assert await member_count(client, circle) == 2 == await active_rows(database, circle)
    assert await changes(database, circle) == [
        ("joined", str(creator.id), 1),
        ("joined", str(fan.id), 2),
    ]


async def test_a_pending_member_is_not_a_member_until_approved(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., User],
    staff: User,
) -> None:
    admin, applicant, other_admin = make_user("owner"), make_user("owner"), make_user("owner")
    circle = await make_circle(client, admin, kind="industry")
    await make_circle(client, other_admin, kind="industry")  # an admin, of another circle
    post = await make_post(client, admin, text="for members", circle_id=circle["id"])

    asked = await join(client, circle, applicant)
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "pending"
    assert (
        await client.get(f"/v1/posts/{post['id']}", headers=applicant.headers)
    ).status_code == 404
    url = f"/v1/circles/{circle['id']}/posts"
    assert (await client.get(url, headers=applicant.headers)).status_code == 404
    assert await member_count(client, circle) == 1 == await active_rows(database, circle)
    refused = await client.post(
        "/v1/posts", json={"text": "hello", "circle_id": circle["id"]}, headers=applicant.headers
    )
    assert refused.status_code == 404

    pending_url = f"/v1/circles/{circle['id']}/members?status=pending"
    listed = (await client.get(pending_url, headers=admin.headers)).json()
    assert [item["user"]["id"] for item in listed["items"]] == [str(applicant.id)]
    assert (await client.get(pending_url, headers=staff.headers)).status_code == 200
    for intruder in (applicant, other_admin):
        refused = await decide(client, circle, applicant, "approve", intruder)
        assert refused.status_code == 403, refused.text

    approved = await decide(client, circle, applicant, "approve", admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    assert (await decide(client, circle, applicant, "approve", admin)).status_code == 409
    assert (
        await client.get(f"/v1/posts/{post['id']}", headers=applicant.headers)
    ).status_code == 200
    assert (await client.get(url, headers=applicant.headers)).status_code == 200
    assert await member_count(client, circle) == 2 == await active_rows(database, circle)
    assert await changes(database, circle) == [
        ("joined", str(admin.id), 1),
        ("requested", str(applicant.id), 1),
        ("approved", str(applicant.id), 2),
    ]
    trail = await rows(
        database,
        "SELECT action, actor_id FROM audit_records WHERE subject_id = :s",
        s=circle["id"],
    )
    assert [(row.action, row.actor_id) for row in trail] == [("circle.member.approved", admin.id)]


async def test_staff_reject_a_request_and_member_count_equals_active_rows(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User], staff: User
) -> None:
    admin = make_user("owner")
    circle = await make_circle(client, admin, kind="industry")
    applicants = [make_user("owner") for _ in range(4)]
    for applicant in applicants:
        assert (await join(client, circle, applicant)).json()["status"] == "pending"
    assert (await decide(client, circle, applicants[0], "approve", staff)).status_code == 200
    assert (await decide(client, circle, applicants[1], "approve", admin)).status_code == 200
    assert (await decide(client, circle, applicants[2], "reject", admin)).status_code == 204
    assert (await decide(client, circle, applicants[2], "reject", admin)).status_code == 404
    left = await client.delete(
        f"/v1/circles/{circle['id']}/membership", headers=applicants[1].headers
    )
    assert left.status_code == 204
    withdrawn = await client.delete(
        f"/v1/circles/{circle['id']}/membership", headers=applicants[3].headers
    )
    assert withdrawn.status_code == 204
    assert await member_count(client, circle) == 2 == await active_rows(database, circle)
    assert (
        await scalar(
            database,
            "SELECT count(*) FROM circle_members WHERE circle_id = :id",
            id=uuid.UUID(circle["id"]),
        )
        == 2
    )
    assert [change for change, *_ in await changes(database, circle)] == [
        "joined",
        *["requested"] * 4,
        "approved",
        "approved",
        "removed",
        "left",
        "left",
    ]
    active = (await client.get(f"/v1/circles/{circle['id']}/members", headers=admin.headers)).json()
    assert [item["user"]["id"] for item in active["items"]] == [
        str(admin.id),
        str(applicants[0].id),
    ]


async def test_the_last_admin_cannot_leave(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    admin, member = make_user("owner"), make_user()
    circle = await make_circle(client, admin)
    await join(client, circle, member)
    leave_url = f"/v1/circles/{circle['id']}/membership"
    refused = await client.delete(leave_url, headers=admin.headers)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/last-admin")
    assert (await decide(client, circle, admin, "promote", member)).status_code == 403
    pending_url = f"/v1/circles/{circle['id']}/members?status=pending"
    assert (await client.get(pending_url, headers=member.headers)).status_code == 403
    assert (await client.get(pending_url, headers=admin.headers)).json()["items"] == []
    promoted = await decide(client, circle, member, "promote", admin)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    assert (await client.delete(leave_url, headers=admin.headers)).status_code == 204
    assert await member_count(client, circle) == 1 == await active_rows(database, circle)
    assert [change for change, *_ in await changes(database, circle)] == [
        "joined",
        "joined",
        "promoted",
        "left",
    ]


async def test_a_circle_admin_moderates_only_their_own_circle(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    admin, other_admin, author, reader = (
        make_user("owner"),
        make_user("owner"),
        make_user(),
        make_user(),
    )
    circle = await make_circle(client, admin)
    other = await make_circle(client, other_admin)
    await join(client, circle, author)
    post = await make_post(client, author, text="circle talk", circle_id=circle["id"])
    outside = await make_post(client, author, text="not in a circle")

    def url(circle_id: str, post_id: str, action: str) -> str:
        return f"/v1/circles/{circle_id}/posts/{post_id}/{action}"

    hide = {"reason": "off topic"}
    for intruder in (other_admin, author):
        for action in ("pin", "hide"):
            body = hide if action == "hide" else None
            refused = await client.post(
                url(circle["id"], post["id"], action), json=body, headers=intruder.headers
            )
            assert refused.status_code == 403, (action, refused.text)
    elsewhere = await client.post(
        url(other["id"], post["id"], "hide"), json=hide, headers=other_admin.headers
    )
    assert elsewhere.status_code == 404
    not_in_circle = await client.post(
        url(circle["id"], outside["id"], "hide"), json=hide, headers=admin.headers
    )
    assert not_in_circle.status_code == 404

    pinned = await client.post(url(circle["id"], post["id"], "pin"), headers=admin.headers)
    assert pinned.status_code == 200, pinned.text
    listed = (await client.get(f"/v1/circles/{circle['id']}/pinned")).json()
    assert [item["id"] for item in listed] == [post["id"]]

    hidden = await client.post(
        url(circle["id"], post["id"], "hide"), json=hide, headers=admin.headers
    )
    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["status"] == "hidden"
    assert (await client.get(f"/v1/posts/{post['id']}", headers=reader.headers)).status_code == 404
    assert (await client.get(f"/v1/circles/{circle['id']}/pinned")).json() == []
    seen = (await client.get(f"/v1/posts/{post['id']}", headers=author.headers)).json()
    assert (seen["status"], seen["moderation_reason"]) == ("hidden", "off topic")
    again = await client.post(
        url(circle["id"], post["id"], "hide"), json=hide, headers=admin.headers
    )
    assert again.status_code == 409

    restored = await client.post(url(circle["id"], post["id"], "restore"), headers=admin.headers)
    assert restored.json()["status"] == "published"
    unpinned = await client.post(url(circle["id"], post["id"], "unpin"), headers=admin.headers)
    assert unpinned.status_code == 200
    assert (await client.get(f"/v1/circles/{circle['id']}/pinned")).json() == []
    trail = await rows(
        database,
        "SELECT action, actor_id FROM audit_records WHERE subject_id = :s ORDER BY at, id",
        s=post["id"],
    )
    assert [row.action for row in trail] == [
        "circle.post.pin",
        "circle.post.hide",
        "circle.post.restore",
        "circle.post.unpin",
    ]
    assert {row.actor_id for row in trail} == {admin.id}
    assert await outbox_types(database, post["id"]) == ["content.post.published.v1"]


async def test_an_owner_who_loses_the_role_leaves_industry_circles(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    admin, owner, applicant = make_user("owner"), make_user("owner"), make_user("owner")
    industry = await make_circle(client, admin, kind="industry")
    interest = await make_circle(client, admin)
    await join(client, industry, owner)
    await decide(client, industry, owner, "approve", admin)
    await join(client, industry, applicant)
    await join(client, interest, owner)
    assert await member_count(client, industry) == 2

    for user in (owner, applicant):
        payload = UserRoleChanged(user_id=user.id, roles=["fan"], granted=[], revoked=["owner"])
        envelope = Envelope(
            type="identity.user.role_changed.v1",
            source="identity",
            subject=str(user.id),
            data=payload.model_dump(mode="json"),
        )
        async with database.transaction() as session:
            await on_role_changed(session, payload, envelope)

    assert await member_count(client, industry) == 1 == await active_rows(database, industry)
    assert await member_count(client, interest) == 2
    assert (await changes(database, industry))[-2:] == [
        ("removed", str(owner.id), 1),
        ("removed", str(applicant.id), 1),
    ]
    assert await scalar(database, "SELECT roles FROM members WHERE user_id = :id", id=owner.id) == [
        "fan"
    ]


async def test_a_circle_admin_does_not_restore_what_staff_hid(
    client: httpx.AsyncClient, make_user: Callable[..., User], staff: User
) -> None:
    admin = make_user("owner")
    circle = await make_circle(client, admin)
    post = await make_post(client, admin, text="reported", circle_id=circle["id"])
    hidden = await client.post(
        f"/v1/moderation/posts/{post['id']}/hide", json={"reason": "spam"}, headers=staff.headers
    )
    assert hidden.status_code == 200, hidden.text
    restore = f"/v1/circles/{circle['id']}/posts/{post['id']}/restore"
    refused = await client.post(restore, headers=admin.headers)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/hidden-by-staff")
    restored = await client.post(restore, headers=staff.headers)
    assert restored.json()["status"] == "published"


async def test_member_count_holds_under_concurrent_joins_and_leaves(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    circle = await make_circle(client, make_user("owner"))
    fans = [make_user() for _ in range(12)]
    joined = await asyncio.gather(*(join(client, circle, fan) for fan in fans * 2))
    assert {response.status_code for response in joined} == {200}
    url = f"/v1/circles/{circle['id']}/membership"
    left = await asyncio.gather(*(client.delete(url, headers=fan.headers) for fan in fans[:5] * 2))
    assert {response.status_code for response in left} == {204}
    assert await member_count(client, circle) == 8 == await active_rows(database, circle)
    assert [change for change, *_ in await changes(database, circle)].count("left") == 5


async def test_two_owners_racing_for_one_name_get_one_circle(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    name = f"circle {uuid.uuid4()}"
    body = {"name": name, "description": "", "kind": "interest"}
    racers = [make_user("owner") for _ in range(8)]
    answers = await asyncio.gather(
        *(client.post("/v1/circles", json=body, headers=racer.headers) for racer in racers)
    )
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 7
    assert all(
        answer.json()["type"].endswith("/name-taken")
        for answer in answers
        if answer.status_code == 409
    )
    assert await scalar(database, "SELECT count(*) FROM circles WHERE name = :n", n=name) == 1


async def test_a_fan_whose_tier_reaches_trusted_may_create_a_circle(
    client: httpx.AsyncClient, database: Database, make_user: Callable[..., User]
) -> None:
    fan = make_user("fan")
    body = {"name": f"circle {uuid.uuid4()}", "description": "", "kind": "interest"}
    refused = await client.post("/v1/circles", json=body, headers=fan.headers)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/low-standing")

    payload = TierChanged(
        user_id=fan.id,
        tier=TRUSTED_TIER,
        previous_tier=TRUSTED_TIER - 1,
        tier_name="Silver",
        community_value=500,
        changed_at=datetime.now(UTC),
    )
    envelope = Envelope(
        type="rewards.tier.changed.v1",
        source="rewards",
        subject=str(fan.id),
        data=payload.model_dump(mode="json"),
    )
    async with database.transaction() as session:
        await on_tier_changed(session, payload, envelope)

    assert await scalar(database, "SELECT tier FROM members WHERE user_id = :id", id=fan.id) == (
        TRUSTED_TIER
    )
    created = await client.post("/v1/circles", json=body, headers=fan.headers)
    assert created.status_code == 201, created.text
