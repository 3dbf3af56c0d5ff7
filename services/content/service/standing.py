"""Trust by standing: what a member may do depends on how established they are.

=========  =====  ==========================================================================
standing   level  who
=========  =====  ==========================================================================
newcomer   0      a fan whose account is younger than ``CONTENT_NEW_ACCOUNT_DAYS``
member     1      any other signed-in user
trusted    2      an owner or volunteer, or anyone whose reward tier is ``TRUSTED_TIER``+
staff      3      staff and admins
=========  =====  ==========================================================================

==================  ========  ==============================================================
action              needs     where
==================  ========  ==============================================================
post images         member    content: a post with ``images``
create a circle     trusted   content: ``POST /v1/circles``
organise events     trusted   events: organisers are volunteers or staff (its own roles)
==================  ========  ==============================================================

Roles come from the token and from identity's latest announcement (``members.roles``),
the account's age from identity's registration event, the tier from rewards once it
publishes ``rewards.tier.changed`` (``members.tier``; until then roles decide).
"""

import enum
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Forbidden
from services.content.models import Member
from services.content.service.access import STAFF_ROLES

TRUSTED_ROLES = ("owner", "volunteer")
TRUSTED_TIER = 2


class Standing(enum.IntEnum):
    NEWCOMER = 0
    MEMBER = 1
    TRUSTED = 2
    STAFF = 3


class Action(enum.StrEnum):
    POST_IMAGES = "post_images"
    CREATE_CIRCLE = "create_circle"


REQUIRED = {Action.POST_IMAGES: Standing.MEMBER, Action.CREATE_CIRCLE: Standing.TRUSTED}


def standing_of(
    principal: Principal, member: Member | None, *, now: datetime, new_account: timedelta
) -> Standing:
    announced = {str(role) for role in (member.roles or [])} if member else set()
    roles = set(principal.roles) | announced
    if roles & set(STAFF_ROLES):
        return Standing.STAFF
    if roles & set(TRUSTED_ROLES) or (member and (member.tier or 0) >= TRUSTED_TIER):
        return Standing.TRUSTED
    registered = member.registered_at if member else None
    if registered is not None and now - registered < new_account:
        return Standing.NEWCOMER
    return Standing.MEMBER


async def require_standing(
    *,
    session: AsyncSession,
    principal: Principal,
    action: Action,
    now: datetime,
    new_account: timedelta,
) -> None:
    """Pass when ``principal`` has the standing ``action`` needs (else 403 ``low-standing``)."""
    member = await session.get(Member, principal.user_id)
    have = standing_of(principal, member, now=now, new_account=new_account)
    need = REQUIRED[action]
    if have < need:
        raise Forbidden(
            f"{action.replace('_', ' ')} needs the standing {need.name.lower()}",
            code="low-standing",
            needed=need.name.lower(),
            standing=have.name.lower(),
        )


def is_new_account(member: Member | None, *, now: datetime, new_account: timedelta) -> bool:
    return bool(member and member.registered_at and now - member.registered_at < new_account)
