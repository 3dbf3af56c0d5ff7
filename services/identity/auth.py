"""Who is calling identity, as route dependencies.

kit's :func:`kit.auth.require_roles` trusts the token's roles. Identity owns the accounts,
so it checks them again against the database: a deleted account's token is refused, and a
role revoked a minute ago no longer counts although the token still carries it.

* :data:`CurrentUser` — the caller's active account.
* :func:`require_account_roles` — the caller, when token *and* account hold one of the roles;
  :data:`Admin` and :data:`StaffOrAdmin` are the two identity's routes use.
"""

from typing import Annotated, Any

from fastapi import Depends

from kit.auth import CurrentPrincipal, Principal, require_roles
from kit.db import SessionDep
from kit.problems import Forbidden, Unauthorized
from services.identity.models import User
from services.identity.service import accounts, roles

ACCOUNT_GONE = "the account no longer exists"


async def current_user(principal: CurrentPrincipal, session: SessionDep) -> User:
    """The caller's account; a valid token of a deleted account is refused."""
    user = await accounts.active_user(session=session, user_id=principal.user_id)
    if user is None:
        raise Unauthorized(ACCOUNT_GONE)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_account_roles(*required: str) -> Any:
    """A dependency on the caller, when the token *and* the account (now) hold one of
    ``required``: 401 for a deleted account, 403 for a role no longer held."""

    async def dependency(
        session: SessionDep, principal: Principal = require_roles(*required)
    ) -> Principal:
        if await accounts.active_user(session=session, user_id=principal.user_id) is None:
            raise Unauthorized(ACCOUNT_GONE)
        held = await roles.roles_of(session=session, user_id=principal.user_id)
        if not set(held) & set(required):
            raise Forbidden(f"requires one of the roles: {', '.join(required)}")
        return principal

    return Depends(dependency)


Admin = Annotated[Principal, require_account_roles("admin")]
StaffOrAdmin = Annotated[Principal, require_account_roles("staff", "admin")]
