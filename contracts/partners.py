"""What partners report to Paddock, on ``partners.inbound``: the sales system's steps of a
customer's way to a car (test drive booked and done, order placed, vehicle delivered,
order cancelled or refunded).

The webhooks service (issue 17) verifies each inbound partner webhook and publishes it
here; until then staff tools and tests publish the same events. Every report is keyed by
``customer_ref`` (the sales system's own id of the customer), so that the steps of one
customer stay in order on one partition; a partner that sends a message twice sends the
same ``report_id``, and readers dedupe on what the report is about, not only on the
CloudEvent id.

A report names the customer as well as the sales system knows them: the Paddock account
(``customer_user_id``, when the customer gave it), the lead the referral share form
created (``lead_id``, when the prospect showed it at the dealer) and the phone number
(E.164). Referrals matches a report to a referral by the first of these it knows;
identity makes the buyer of a delivered vehicle an owner when the account is known.
"""

from datetime import datetime
from uuid import UUID

from contracts.catalog import Payload, event, topic

PARTNERS_INBOUND = topic(
    "partners.inbound",
    "Verified reports of partners' systems: the sales funnel of a customer "
    "(keyed by the partner's customer reference)",
)


class SalesReport(Payload):
    """What every sales report carries: who reported it, about whom, and when."""

    partner_id: str
    report_id: str
    """The partner's id of this message; a resent message has the same one."""
    customer_ref: str
    customer_user_id: UUID | None = None
    lead_id: UUID | None = None
    customer_phone: str | None = None
    """E.164 (``+8613800138000``), as the partner validated it."""
    occurred_at: datetime


@event("partners.sales.test_drive_booked.v1", topic=PARTNERS_INBOUND, subject="customer_ref")
class SalesTestDriveBooked(SalesReport):
    """The customer booked a test drive."""

    scheduled_for: datetime | None = None


@event("partners.sales.test_drive_done.v1", topic=PARTNERS_INBOUND, subject="customer_ref")
class SalesTestDriveDone(SalesReport):
    """The customer took the test drive."""


@event("partners.sales.order_placed.v1", topic=PARTNERS_INBOUND, subject="customer_ref")
class SalesOrderPlaced(SalesReport):
    """The customer ordered a vehicle."""

    order_ref: str


@event("partners.sales.vehicle_delivered.v1", topic=PARTNERS_INBOUND, subject="customer_ref")
class SalesVehicleDelivered(SalesReport):
    """The ordered vehicle was handed over: its buyer is an owner of ``vin``."""

    order_ref: str
    vin: str


@event("partners.sales.order_cancelled.v1", topic=PARTNERS_INBOUND, subject="customer_ref")
class SalesOrderCancelled(SalesReport):
    """The order was cancelled before delivery."""

    order_ref: str


@event("partners.sales.order_refunded.v1", topic=PARTNERS_INBOUND, subject="customer_ref")
class SalesOrderRefunded(SalesReport):
    """A delivered vehicle was returned and the order refunded."""

    order_ref: str
