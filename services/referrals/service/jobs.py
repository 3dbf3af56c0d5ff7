"""The scheduled job (``python -m services.referrals.cli jobs``): approve the pending rewards
whose refund window ended, ``REFERRALS_JOB_BATCH_SIZE`` per transaction, until none is
due. Two runners at once share the work (``SKIP LOCKED``) and approve each reward once."""

from kit.db import Database, utcnow
from services.referrals.config import ReferralsSettings
from services.referrals.service.funnel import approve_due


async def approve_rewards(database: Database, *, batch_size: int) -> int:
    approved = 0
    while True:
        async with database.transaction() as session:
            done = await approve_due(session=session, now=utcnow(), limit=batch_size)
        approved += done
        if done < batch_size:
            return approved


async def run(settings: ReferralsSettings) -> int:
    database = Database(settings.database_url, service=settings.service_name)
    try:
        return await approve_rewards(database, batch_size=settings.job_batch_size)
    finally:
        await database.dispose()
