"""Events published by the rewards service (future) on ``rewards.*``: what it settles for
others. Today only the answer to a weighted poll vote's charge is declared, so that content
can count a vote once its points are paid; rewards publishes it when it lands.
"""

from uuid import UUID

from contracts.catalog import Payload, event, topic

REWARDS_CHARGES = topic(
    "rewards.charges",
    "Outcomes of points charges other services asked for (keyed by the asking aggregate)",
)


@event("rewards.poll_charge.settled.v1", topic=REWARDS_CHARGES, subject="poll_id")
class PollChargeSettled(Payload):
    """The points of a weighted poll vote were charged (``charged``) or could not be."""

    poll_id: UUID
    ballot_id: UUID
    user_id: UUID
    charged: bool
    reason: str | None = None
