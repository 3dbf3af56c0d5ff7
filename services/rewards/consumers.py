"""What rewards does with the other services' announcements (``SUBSCRIPTIONS``, wired by
the app): every contribution is credited by the earning rules, every reversal takes back
what its source earned, and paid seats and weighted votes are charged.

Each handler runs inside the consumer's transaction, together with its dedupe claim.
"""

from kit.service import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
