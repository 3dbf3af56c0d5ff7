"""Factories and helpers for rewards' tests: users with tokens, raw reads of the database
and the outbox, and the ledger invariant every test can assert."""

import uuid
from dataclasses import dataclass

from kit.db import Database
from kit.testing.services import rows, scalar


@dataclass
class User:
    id: uuid.UUID
    headers: dict[str, str]


async def assert_ledger_adds_up(database: Database, user_id: uuid.UUID) -> None:
    """The member's points entries sum to points + pending - debt, and the active lots
    hold exactly the spendable points."""
    account = (
        await rows(
            database,
            "SELECT points, pending_points, debt FROM accounts WHERE user_id = :u",
            u=user_id,
        )
    )[0]
    entries = await scalar(
        database,
        "SELECT coalesce(sum(amount), 0) FROM ledger_entries"
        " WHERE user_id = :u AND currency = 'points'",
        u=user_id,
    )
    lots = await scalar(
        database,
        "SELECT coalesce(sum(remaining), 0) FROM point_lots"
        " WHERE user_id = :u AND state = 'active'",
        u=user_id,
    )
    pending = await scalar(
        database,
        "SELECT coalesce(sum(remaining), 0) FROM point_lots"
        " WHERE user_id = :u AND state = 'pending'",
        u=user_id,
    )
    assert entries == account.points + account.pending_points - account.debt
    assert lots == account.points
    assert pending == account.pending_points
