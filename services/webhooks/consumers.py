"""What webhooks reads from the bus (``SUBSCRIPTIONS``, wired by the app): every event a
partner may subscribe to (:data:`.service.event_types.PARTNER_EVENTS`), each turned into a
message and its deliveries (:func:`.service.fanout.fan_out`) in the consumer's transaction,
together with its dedupe claim: a redelivered event queues nothing twice."""

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import Payload
from kit.bus.envelope import Envelope
from kit.service import Subscription
from services.webhooks.service.event_types import PARTNER_EVENTS
from services.webhooks.service.fanout import fan_out


async def on_partner_event(session: AsyncSession, _: Payload, envelope: Envelope) -> None:
    await fan_out(session=session, envelope=envelope)


SUBSCRIPTIONS = (
    Subscription(
        name="partner-events",
        handlers={spec.payload: on_partner_event for spec in PARTNER_EVENTS.values()},
    ),
)
