"""What identity does with rewards' announcements: a tier goes into the next access token,
and club membership grants and revokes the ``club`` role once each, announced."""

from datetime import UTC, datetime

import httpx
import jwt
from sqlalchemy import text

from contracts.rewards import ClubMembershipChanged, TierChanged
from kit.bus.envelope import Envelope
from kit.db import Database
from kit.testing.services import outbox_events
from services.identity.consumers import on_club_membership_changed, on_tier_changed
from services.identity.tests.support import Account, MakeAccount

ROLE_CHANGED = "identity.user.role_changed.v1"


def envelope(event_type: str, account: Account, data: dict[str, object]) -> Envelope:
    return Envelope(type=event_type, source="rewards", subject=str(account.id), data=data)


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


async def test_a_tier_rewards_announces_is_in_the_next_access_token(
    client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    assert claims(account.access_token)["tier"] == 0
    payload = TierChanged(
        user_id=account.id,
        tier=3,
        previous_tier=0,
        tier_name="Gold",
        community_value=2000,
        changed_at=datetime.now(UTC),
    )
    async with database.transaction() as session:
        await on_tier_changed(
            session,
            payload,
            envelope("rewards.tier.changed.v1", account, payload.model_dump(mode="json")),
        )
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])["tier"] == 3


async def roles_of(database: Database, account: Account) -> list[str]:
    async with database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT role FROM user_roles WHERE user_id = :u"), {"u": account.id}
        )
        return [row[0] for row in found]


async def club(database: Database, account: Account, member: bool) -> None:
    payload = ClubMembershipChanged(
        user_id=account.id,
        member=member,
        reasons=["yearly_top"] if member else [],
        period="2026-Q4",
        changed_at=datetime.now(UTC),
    )
    data = payload.model_dump(mode="json")
    async with database.transaction() as session:
        await on_club_membership_changed(
            session, payload, envelope("rewards.club.membership_changed.v1", account, data)
        )


async def test_club_membership_grants_the_club_role_once_and_revoking_removes_it(
    client: httpx.AsyncClient, database: Database, make_account: MakeAccount
) -> None:
    account = await make_account()
    admin = await make_account(roles=("admin",))
    for _ in range(2):
        await club(database, account, True)
    assert "club" in await roles_of(database, account)
    changes = await outbox_events(database, subject=account.id, event_type=ROLE_CHANGED)
    assert [(event.data["granted"], event.data["revoked"]) for event in changes] == [(["club"], [])]
    assert changes[0].actor is None

    refused = await client.post(f"/v1/admin/users/{account.id}/roles/club", headers=admin.headers)
    assert refused.status_code == 422

    for _ in range(2):
        await club(database, account, False)
    assert "club" not in await roles_of(database, account)
    changes = await outbox_events(database, subject=account.id, event_type=ROLE_CHANGED)
    assert [(event.data["granted"], event.data["revoked"]) for event in changes] == [
        (["club"], []),
        ([], ["club"]),
    ]
