"""Who may call rewards' routes: the role dependencies its API uses. Balances and ledgers
are always the caller's own; staff and admins manage rules, grants and the mall."""

from typing import Annotated

from kit.auth import Principal, require_roles

STAFF_ROLES = ("staff", "admin")

Staff = Annotated[Principal, require_roles(*STAFF_ROLES)]
"""Staff or admin, by the token's roles."""

Admin = Annotated[Principal, require_roles("admin")]
"""Admins only: grants of special contribution and point adjustments."""
