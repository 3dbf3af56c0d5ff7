"""Events' scheduled job (``python -m services.events.cli jobs``): lapse the waitlist offers
past ``expires_at``, one transaction per offer (:func:`.offers.lapse_offer`), in batches of
``EVENTS_JOB_BATCH_SIZE`` until none is due. Safe to run twice and in two replicas at once:
each offer is passed on exactly once."""

from datetime import datetime

from kit.db import Database, utcnow
from services.events.config import EventsSettings
from services.events.service import offers
from services.events.service.holds import POLICY_KEY, OfferPolicy


async def lapse_offers(database: Database, *, batch_size: int, now: datetime | None = None) -> int:
    """Lapse every due offer (as of ``now``, the clock by default); how many this run did."""
    lapsed = 0
    while True:
        at = now or utcnow()
        async with database.reading() as session:
            due = await offers.due_offers(session=session, now=at, limit=batch_size)
        done = 0
        for offer_id, event_id in due:
            async with database.transaction() as session:
                if await offers.lapse_offer(
                    session=session, offer_id=offer_id, event_id=event_id, now=at
                ):
                    done += 1
        lapsed += done
        if len(due) < batch_size or done == 0:
            return lapsed


def database_for(settings: EventsSettings) -> Database:
    """Events' database with the offers' hold policy in every session, as the app has it."""
    database = Database(settings.database_url, service=settings.service_name)
    database.session_info[POLICY_KEY] = OfferPolicy.from_settings(settings)
    return database


async def run(settings: EventsSettings, *, now: datetime | None = None) -> int:
    """One pass of the jobs on a database of its own; how many offers lapsed."""
    database = database_for(settings)
    try:
        return await lapse_offers(database, batch_size=settings.job_batch_size, now=now)
    finally:
        await database.dispose()
