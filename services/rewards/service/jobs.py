"""Rewards' periodic jobs and what expires when: pending points whose window ended become
spendable (:func:`ledger.activate_due`), points past their expiry expire
(:func:`expire_due`), tiers whose grace period ended are demoted (:func:`tiers.demote_due`)
the club is computed again (:func:`club.compute`) and the leaderboards' snapshots are
taken (:func:`leaderboards.take_snapshots`, for deep ranks); :func:`run` does all of them until
nothing is due (the Kubernetes CronJob's ``python -m services.rewards.cli jobs``).

Every step is safe to run twice and in two replicas at once: each lot and tier moves under
its account's lock, after its state is read again, and under a unique ledger source; the
club and the snapshots are computed under a transaction-scoped advisory lock (on
PostgreSQL), so a second replica skips them instead of racing it.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.db import Database
from services.rewards.config import RewardsSettings
from services.rewards.models import LotState, PointLot
from services.rewards.service import club, leaderboards, ledger, tiers

CLUB_LOCK = 0x0C1B  # pg_try_advisory_xact_lock key of the club's computation


@dataclass(frozen=True)
class JobsRun:
    activated: int
    expired: int
    demoted: int
    club_changes: int
    snapshots: int


async def expire_due(*, session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Expire up to ``limit`` active lots whose ``expires_at`` passed; how many expired."""
    due = await session.scalars(
        select(col(PointLot.id))
        .where(
            col(PointLot.state) == LotState.ACTIVE,
            col(PointLot.remaining) > 0,
            col(PointLot.expires_at) <= now,
        )
        .order_by(col(PointLot.user_id), col(PointLot.id))
        .limit(limit)
    )
    expired = 0
    for lot_id in due.all():
        if await ledger.expire_lot(session=session, lot_id=lot_id, at=now) is not None:
            expired += 1
    return expired


async def run(settings: RewardsSettings, *, now: datetime | None = None) -> JobsRun:
    """Activate and expire in batches (one transaction each) until none are left."""
    database = Database(settings.database_url, service=settings.service_name)
    at = now or datetime.now(UTC)
    totals = {"activated": 0, "expired": 0, "demoted": 0, "club_changes": 0, "snapshots": 0}
    steps = (
        ("activated", ledger.activate_due),
        ("expired", expire_due),
        ("demoted", tiers.demote_due),
    )
    try:
        for name, step in steps:
            while True:
                async with database.transaction() as session:
                    moved = await step(session=session, now=at, limit=settings.job_batch_size)
                totals[name] += moved
                if moved == 0:
                    break
        async with database.transaction() as session:
            if database.is_sqlite or await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CLUB_LOCK}
            ):
                changes = await club.compute(session=session, at=at, settings=settings)
                totals["club_changes"] = changes.rows
                totals["snapshots"] = await leaderboards.take_snapshots(session=session, now=at)
    finally:
        await database.dispose()
    return JobsRun(**totals)


async def expiring(*, session: AsyncSession, user_id: uuid.UUID) -> list[tuple[datetime, int]]:
    """The member's spendable points by expiry, soonest first."""
    found = await session.execute(
        select(col(PointLot.expires_at), func.sum(col(PointLot.remaining)))
        .where(
            col(PointLot.user_id) == user_id,
            col(PointLot.state) == LotState.ACTIVE,
            col(PointLot.remaining) > 0,
        )
        .group_by(col(PointLot.expires_at))
        .order_by(col(PointLot.expires_at))
    )
    return [(expires_at, int(points)) for expires_at, points in found.all()]
