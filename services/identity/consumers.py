"""What identity consumes from the bus: nothing yet, so it runs no consumer.

What will land here, each a :class:`kit.service.Subscription` whose handlers run in the
consumer's unit of work with its dedupe claim:

* revocation views: other services' reports that should end sessions or roles (a partner
  app disabled, a moderation ban), kept as local views identity checks on login and refresh;
* partners' delivery reports (``partners.inbound``): a sales partner reporting a delivery
  verifies the vehicle and makes its user an owner
  (:func:`services.identity.service.vehicles.verify_vehicle` with ``partner:<app>``).
"""

from kit.service import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
