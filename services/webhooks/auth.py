"""Who may call webhooks' routes: admins manage partner apps, endpoints, the delivery log and
replays; the event types and the Ed25519 key set are public; inbound webhooks are
authenticated by their signature and the portal by the partner's own sign-in."""

from typing import Annotated

from kit.auth import Principal, require_roles

Admin = Annotated[Principal, require_roles("admin")]
"""An admin, by the token's roles."""
