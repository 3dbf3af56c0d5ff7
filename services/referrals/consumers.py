"""What referrals does with identity's and the partners' announcements (``SUBSCRIPTIONS``,
wired by the app).

* ``identity.users``: a registration makes the member (their code, public name and device
  hash) and, with a referral code, the referrer's lead (:func:`.service.leads.from_registration`);
  a profile update keeps the public name; a deleted account's code stops resolving.
* ``partners.inbound``: the sales system's reports advance the referral they are about
  (:mod:`.service.reports`), delivery included, which makes the reward pending.

Each handler runs inside the consumer's transaction, together with its dedupe claim; a
resent report (same ``report_id``) and a replay from offset zero change nothing.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import UserDeleted, UserRegistered, UserUpdated
from contracts.partners import (
    SalesOrderCancelled,
    SalesOrderPlaced,
    SalesOrderRefunded,
    SalesReport,
    SalesTestDriveBooked,
    SalesTestDriveDone,
    SalesVehicleDelivered,
)
from kit.bus.envelope import Envelope
from kit.service import Subscription
from services.referrals.config import ReferralsSettings
from services.referrals.models import Stage
from services.referrals.service import leads, members, reports
from services.referrals.service.phones import PhoneBook

REPORTED_STEPS: dict[type[SalesReport], Stage] = {
    SalesTestDriveBooked: Stage.TEST_DRIVE_BOOKED,
    SalesTestDriveDone: Stage.TEST_DRIVE_DONE,
    SalesOrderPlaced: Stage.ORDER_PLACED,
    SalesOrderCancelled: Stage.ORDER_CANCELLED,
    SalesVehicleDelivered: Stage.DELIVERED,
    SalesOrderRefunded: Stage.REFUNDED,
}


CONTEXT_KEY = "referrals.consumer_context"


@dataclass(frozen=True)
class ConsumerContext:
    """What the handlers need besides the event: the app puts it in every session's info."""

    settings: ReferralsSettings
    phones: PhoneBook


def _context(session: AsyncSession) -> ConsumerContext:
    context: ConsumerContext = session.info[CONTEXT_KEY]
    return context


async def on_registered(session: AsyncSession, payload: UserRegistered, _: Envelope) -> None:
    await members.record_registration(
        session=session,
        user_id=payload.user_id,
        display_name=payload.display_name,
        device_hash=payload.device_hash,
        registered_at=payload.registered_at,
    )
    if payload.referral_code:
        await leads.from_registration(
            session=session,
            user_id=payload.user_id,
            code=payload.referral_code,
            device=payload.device_hash,
            registered_at=payload.registered_at,
            settings=_context(session).settings,
        )


async def on_updated(session: AsyncSession, payload: UserUpdated, _: Envelope) -> None:
    member = await members.ensure_member(session=session, user_id=payload.user_id)
    if member.deleted_at is None:
        member.display_name = payload.display_name


async def on_deleted(session: AsyncSession, payload: UserDeleted, _: Envelope) -> None:
    await members.forget(session=session, user_id=payload.user_id, deleted_at=payload.deleted_at)


def on_report(stage: Stage) -> Callable[..., Coroutine[Any, Any, None]]:
    """The handler of the reports of ``stage``."""

    async def handle(session: AsyncSession, payload: SalesReport, envelope: Envelope) -> None:
        context = _context(session)
        await reports.apply(
            session=session,
            report=payload,
            stage=stage,
            phones=context.phones,
            settings=context.settings,
            received_at=envelope.time,
        )

    return handle


SUBSCRIPTIONS = (
    Subscription(
        name="identity-users",
        handlers={UserRegistered: on_registered, UserUpdated: on_updated, UserDeleted: on_deleted},
    ),
    Subscription(
        name="partners-inbound",
        handlers={model: on_report(stage) for model, stage in REPORTED_STEPS.items()},
    ),
)
