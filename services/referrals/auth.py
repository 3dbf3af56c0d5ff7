"""Who may call referrals' routes: a member reads their own code and referrals and names
their referrer; staff and admins review referrals, advance them, decide their rewards,
keep the blocklist and erase leads' personal data. Resolving a code and the share form
need no token."""

from typing import Annotated

from kit.auth import Principal, require_roles

STAFF_ROLES = ("staff", "admin")

Staff = Annotated[Principal, require_roles(*STAFF_ROLES)]
"""Staff or admin, by the token's roles."""
