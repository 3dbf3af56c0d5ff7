"""Who may do what: staff roles, organizers, visibility of unpublished events, eligibility.

Eligibility uses the caller's token roles first, then the local ``member_roles`` copy the
role-change consumer keeps (a role granted after the token was issued counts at once).
``min_tier`` admits a token whose ``tier`` claim (rewards' tier, put there by identity)
reaches the event's; ``club_members`` admits the ``club`` role identity grants.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.auth import Principal
from kit.problems import Forbidden, NotFound
from services.events.models import Eligibility, Event, EventStatus, MemberRoles

STAFF_ROLES = ("staff", "admin")
ORGANIZER_ROLES = ("volunteer", *STAFF_ROLES)
CLUB_ROLE = "club"
PUBLIC_STATUSES = frozenset({EventStatus.PUBLISHED, EventStatus.CANCELLED, EventStatus.COMPLETED})


def is_staff(principal: Principal | None) -> bool:
    return principal is not None and principal.has_any(*STAFF_ROLES)


def manages(principal: Principal | None, event: Event) -> bool:
    """Staff, or the event's own organizer."""
    return _organizes(principal, event.organizer_id)


def can_see(principal: Principal | None, event: Event) -> bool:
    return may_see(principal, status=event.status, organizer_id=event.organizer_id)


def may_see(principal: Principal | None, *, status: str, organizer_id: uuid.UUID) -> bool:
    """Published (or over) events are public; the others only for their managers."""
    return status in PUBLIC_STATUSES or _organizes(principal, organizer_id)


def _organizes(principal: Principal | None, organizer_id: uuid.UUID) -> bool:
    return principal is not None and (is_staff(principal) or organizer_id == principal.user_id)


def require_manager(principal: Principal, event: Event) -> None:
    if not can_see(principal, event):
        raise NotFound("no such event")
    if not manages(principal, event):
        raise Forbidden("only the event's organizer or staff may do this")


def _meets(roles: frozenset[str], tier: int, event: Event) -> bool:
    return _meets_rule(roles, tier, event.eligibility, event.min_tier)


def _meets_rule(roles: frozenset[str], tier: int, eligibility: str, min_tier: int) -> bool:
    match eligibility:
        case Eligibility.OWNERS_ONLY:
            return "owner" in roles
        case Eligibility.CLUB_MEMBERS:
            return CLUB_ROLE in roles
        case Eligibility.MIN_TIER:
            return tier >= min_tier
        case _:
            return True


def meets_eligibility(roles: frozenset[str], tier: int, *, eligibility: str, min_tier: int) -> bool:
    """Whether ``roles`` and ``tier`` satisfy an event's eligibility rule."""
    return _meets_rule(roles, tier, eligibility, min_tier)


def token_eligibilities(principal: Principal) -> list[str]:
    """The eligibilities the token's roles satisfy for every event (``min_tier`` depends on
    the event and is left to :func:`require_eligible`); never more than :func:`_meets`."""
    return [
        str(eligibility)
        for eligibility in Eligibility
        if eligibility != Eligibility.MIN_TIER and _meets_rule(principal.roles, 0, eligibility, 0)
    ]


async def managed_event(
    *, session: AsyncSession, event_id: uuid.UUID, principal: Principal
) -> Event:
    """The event, when the caller organizes it or is staff (403), and may see it (404)."""
    event = await session.get(Event, event_id)
    if event is None:
        raise NotFound("no such event")
    require_manager(principal, event)
    return event


async def require_eligible(*, session: AsyncSession, principal: Principal, event: Event) -> None:
    """Pass when the token's roles and tier, or the roles identity announced since, qualify."""
    if _meets(principal.roles, principal.tier, event):
        return
    if await _meets_by_announced_roles(session, principal, event):
        return
    raise Forbidden(
        f"this event is for {event.eligibility.replace('_', ' ')} only",
        code="not-eligible",
        eligibility=event.eligibility,
    )


async def _meets_by_announced_roles(
    session: AsyncSession, principal: Principal, event: Event
) -> bool:
    roles = await session.scalar(
        select(col(MemberRoles.roles)).where(col(MemberRoles.user_id) == principal.user_id)
    )
    announced = frozenset(str(role) for role in roles or ())
    return roles is not None and _meets(announced, principal.tier, event)
