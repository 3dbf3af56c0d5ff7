"""Circles: interest circles anyone joins, industry circles for verified owners.

* Creating one needs the standing ``create_circle`` (:mod:`.standing`); an industry circle
  only staff or owners create. The creator is its first admin.
* Anyone reads an interest circle's posts and joins it at once. An industry circle's posts
  only its active members and staff read (others: 404); only owners ask to join, and stay
  ``pending`` until an admin of that circle or staff approves. Staff join at once.
* "Owner" means the role ``owner`` or ``volunteer`` (volunteers are owners who organise), by
  the token or by identity's latest announcement (``members.roles``); an owner who loses
  the role leaves the industry circles (:func:`drop_industry_memberships`).
* ``member_count`` counts active members and moves in the transaction of the membership;
  the last admin cannot leave. Every change is announced (``content.circle.membership_changed``).
* A circle's admins moderate its posts: pin to the circle, hide, restore what an admin of
  the circle hid (staff may all of it).
"""

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import CircleMembershipChanged, MembershipChange
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, Forbidden, NotFound
from services.content.config import ContentSettings
from services.content.models import (
    Circle,
    CircleKind,
    CircleMember,
    CircleRole,
    Member,
    MembershipStatus,
    Post,
    PostStatus,
)
from services.content.schemas import CircleCreate
from services.content.service import access, moderation, standing
from services.content.service.feeds import PINNED_MAX

OWNER_ROLES = ("owner", "volunteer")
BY_NAME = Keyset(Order(col(Circle.name)), Order(col(Circle.id)))
BY_JOINED = Keyset(Order(col(CircleMember.created_at)), Order(col(CircleMember.user_id)))


async def is_owner(*, session: AsyncSession, principal: Principal) -> bool:
    """An owner by the token's roles or identity's latest announcement."""
    if principal.has_any(*OWNER_ROLES):
        return True
    member = await session.get(Member, principal.user_id)
    return bool(member and set(member.roles or []) & set(OWNER_ROLES))


async def create_circle(
    *, session: AsyncSession, data: CircleCreate, principal: Principal, settings: ContentSettings
) -> Circle:
    now = utcnow()
    await standing.require_standing(
        session=session,
        principal=principal,
        action=standing.Action.CREATE_CIRCLE,
        now=now,
        new_account=timedelta(days=settings.new_account_days),
    )
    if data.kind == CircleKind.INDUSTRY and not (
        access.is_staff(principal) or await is_owner(session=session, principal=principal)
    ):
        raise Forbidden("only owners and staff create industry circles", code="owners-only")
    circle = Circle(
        name=data.name,
        description=data.description,
        kind=data.kind,
        created_by=principal.user_id,
        member_count=1,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(circle)
    except IntegrityError as exc:
        raise Conflict("a circle of that name exists", code="name-taken") from exc
    admin = CircleMember(
        circle_id=circle.id,
        user_id=principal.user_id,
        role=CircleRole.ADMIN,
        status=MembershipStatus.ACTIVE,
        decided_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(admin)
    await session.flush()
    _announce(session, circle.id, admin, "joined", principal.user_id, circle.member_count)
    return circle


async def list_circles(
    *, session: AsyncSession, page: PageParams
) -> tuple[list[Circle], str | None]:
    """All circles by name (industry ones too: what they are is public, their posts are not)."""
    found = (await session.scalars(BY_NAME.paged(select(Circle), page))).all()
    return BY_NAME.page(found, page, lambda circle: (circle.name, circle.id))


async def get_circle(*, session: AsyncSession, circle_id: uuid.UUID) -> Circle:
    circle = await session.get(Circle, circle_id)
    if circle is None:
        raise NotFound("no such circle")
    return circle


async def membership(
    *, session: AsyncSession, circle_id: uuid.UUID, user_id: uuid.UUID, lock: bool = False
) -> CircleMember | None:
    query = select(CircleMember).where(
        col(CircleMember.circle_id) == circle_id, col(CircleMember.user_id) == user_id
    )
    if lock:
        query = query.with_for_update()
    found: CircleMember | None = await session.scalar(query)
    return found


async def memberships(
    *, session: AsyncSession, circle_ids: Sequence[uuid.UUID], principal: Principal | None
) -> dict[uuid.UUID, CircleMember]:
    """The caller's memberships among ``circle_ids``."""
    if principal is None or not circle_ids:
        return {}
    found = await session.scalars(
        select(CircleMember).where(
            col(CircleMember.user_id) == principal.user_id,
            col(CircleMember.circle_id).in_(circle_ids),
        )
    )
    return {member.circle_id: member for member in found.all()}


async def readable_circle(
    *, session: AsyncSession, circle_id: uuid.UUID, principal: Principal | None
) -> Circle:
    """The circle whose posts and members ``principal`` may read (else 404): an interest
    circle for anyone, an industry circle for its active members and staff."""
    circle = await get_circle(session=session, circle_id=circle_id)
    if circle.kind == CircleKind.INTEREST or access.is_staff(principal):
        return circle
    if principal is None or not await access.is_active_member(
        session=session, circle_id=circle_id, user_id=principal.user_id
    ):
        raise NotFound("no such circle")
    return circle


async def join(
    *, session: AsyncSession, circle_id: uuid.UUID, principal: Principal
) -> CircleMember:
    """Join (interest, or staff) or ask to join (an owner, industry); joining twice is the
    first membership, unchanged."""
    circle = await _locked_circle(session, circle_id)
    existing = await membership(session=session, circle_id=circle_id, user_id=principal.user_id)
    if existing is not None:
        return existing
    at_once = circle.kind == CircleKind.INTEREST or access.is_staff(principal)
    if not at_once and not await is_owner(session=session, principal=principal):
        raise Forbidden("only owners join an industry circle", code="owners-only")
    now = utcnow()
    member = CircleMember(
        circle_id=circle_id,
        user_id=principal.user_id,
        status=MembershipStatus.ACTIVE if at_once else MembershipStatus.PENDING,
        decided_by=principal.user_id if at_once else None,
        created_at=now,
        updated_at=now,
    )
    session.add(member)
    await session.flush()
    count = await _count(session, circle_id, +1) if at_once else circle.member_count
    _announce(
        session, circle_id, member, "joined" if at_once else "requested", principal.user_id, count
    )
    return member


async def leave(*, session: AsyncSession, circle_id: uuid.UUID, principal: Principal) -> None:
    """Leave a circle or withdraw a request (no membership: nothing to do); the last
    admin cannot leave (409: promote another first)."""
    await _locked_circle(session, circle_id)
    member = await membership(session=session, circle_id=circle_id, user_id=principal.user_id)
    if member is None:
        return
    if member.role == CircleRole.ADMIN and await _admins(session, circle_id) <= 1:
        raise Conflict("the last admin cannot leave: promote another first", code="last-admin")
    await _drop(session, member, "left", principal.user_id)


async def members(
    *,
    session: AsyncSession,
    circle_id: uuid.UUID,
    status: MembershipStatus,
    principal: Principal | None,
    page: PageParams,
) -> tuple[list[tuple[CircleMember, str | None]], str | None]:
    """A circle's members (or requests: its admins and staff only), longest-standing first."""
    await readable_circle(session=session, circle_id=circle_id, principal=principal)
    if status == MembershipStatus.PENDING:
        await _require_admin(session, circle_id, principal)
    query = (
        select(CircleMember, col(Member.display_name))
        .outerjoin(Member, col(Member.user_id) == col(CircleMember.user_id))
        .where(col(CircleMember.circle_id) == circle_id, col(CircleMember.status) == status)
    )
    found = (await session.execute(BY_JOINED.paged(query, page))).all()
    rows, next_cursor = BY_JOINED.page(found, page, lambda row: (row[0].created_at, row[0].user_id))
    return [(row[0], row[1]) for row in rows], next_cursor


async def approve(
    *, session: AsyncSession, circle_id: uuid.UUID, user_id: uuid.UUID, principal: Principal
) -> CircleMember:
    """An admin of the circle (or staff) lets a pending member in."""
    member = await _pending(session, circle_id, user_id, principal)
    member.status, member.decided_by, member.updated_at = (
        MembershipStatus.ACTIVE,
        principal.user_id,
        utcnow(),
    )
    await session.flush()
    count = await _count(session, circle_id, +1)
    _announce(session, circle_id, member, "approved", principal.user_id, count)
    _audit(session, principal, "approved", circle_id, user_id)
    return member


async def reject(
    *, session: AsyncSession, circle_id: uuid.UUID, user_id: uuid.UUID, principal: Principal
) -> None:
    """An admin of the circle (or staff) turns a request down."""
    member = await _pending(session, circle_id, user_id, principal)
    await _drop(session, member, "removed", principal.user_id)
    _audit(session, principal, "rejected", circle_id, user_id)


async def promote(
    *, session: AsyncSession, circle_id: uuid.UUID, user_id: uuid.UUID, principal: Principal
) -> CircleMember:
    """An admin of the circle (or staff) makes an active member an admin (an admin stays one)."""
    await _locked_circle(session, circle_id)
    await _require_admin(session, circle_id, principal)
    member = await membership(session=session, circle_id=circle_id, user_id=user_id, lock=True)
    if member is None:
        raise NotFound("no such member")
    if member.status != MembershipStatus.ACTIVE:
        raise Conflict("approve the request first", code="not-active")
    if member.role == CircleRole.ADMIN:
        return member
    member.role, member.updated_at = CircleRole.ADMIN, utcnow()
    await session.flush()
    count = await _member_count(session, circle_id)
    _announce(session, circle_id, member, "promoted", principal.user_id, count)
    _audit(session, principal, "promoted", circle_id, user_id)
    return member


async def drop_industry_memberships(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """``user_id`` is no owner any more: out of every industry circle (identity's role
    change), each circle locked before its membership, as every membership change does."""
    circle_ids = await session.scalars(
        select(col(CircleMember.circle_id))
        .join(Circle, col(Circle.id) == col(CircleMember.circle_id))
        .where(col(CircleMember.user_id) == user_id, col(Circle.kind) == CircleKind.INDUSTRY)
        .order_by(col(CircleMember.circle_id))
    )
    for circle_id in circle_ids.all():
        await _locked_circle(session, circle_id)
        member = await membership(session=session, circle_id=circle_id, user_id=user_id)
        if member is not None:
            await _drop(session, member, "removed", None)


async def pinned(
    *, session: AsyncSession, circle_id: uuid.UUID, principal: Principal | None
) -> list[uuid.UUID]:
    """The posts the circle's admins pinned, most recently pinned first (their ids)."""
    await readable_circle(session=session, circle_id=circle_id, principal=principal)
    found = await session.scalars(
        select(col(Post.id))
        .where(
            col(Post.circle_id) == circle_id,
            col(Post.circle_pinned_at).is_not(None),
            access.visible_to(principal),
        )
        .order_by(col(Post.circle_pinned_at).desc(), col(Post.id).desc())
        .limit(PINNED_MAX)
    )
    return list(found.all())


async def moderate_post(
    *,
    session: AsyncSession,
    circle_id: uuid.UUID,
    post_id: uuid.UUID,
    action: moderation.PostAction,
    principal: Principal,
    reason: str | None = None,
) -> Post:
    """A circle admin (or staff) pins, unpins, hides or restores a post of this circle
    (403 for anyone else, an admin of another circle too; 404 for a post elsewhere)."""
    await get_circle(session=session, circle_id=circle_id)
    await _require_admin(session, circle_id, principal)
    post = await moderation.locked_post(session=session, post_id=post_id)
    if post.circle_id != circle_id:
        raise NotFound("no such post in this circle")
    if action in (moderation.PostAction.PIN, moderation.PostAction.UNPIN):
        pin = action == moderation.PostAction.PIN
        if pin and post.status != PostStatus.PUBLISHED:
            raise moderation.illegal("post", post.status, action)
        post.circle_pinned_at = (post.circle_pinned_at or utcnow()) if pin else None
        await session.flush()
        record_action(
            session,
            actor=principal.user_id,
            action=f"circle.post.{action}",
            subject=post.id,
            circle_id=circle_id,
        )
        return post
    if action == moderation.PostAction.RESTORE and not access.is_staff(principal):
        await _hidden_here(session, circle_id, post)
    await moderation.apply_post_action(
        session=session,
        post=post,
        action=action,
        actor=principal.user_id,
        reason=reason,
        scope="circle",
    )
    return post


async def _hidden_here(session: AsyncSession, circle_id: uuid.UUID, post: Post) -> None:
    """A circle admin restores what an admin of this circle hid, not what staff hid."""
    hider = post.moderated_by
    member = (
        await membership(session=session, circle_id=circle_id, user_id=hider) if hider else None
    )
    if post.status == PostStatus.HIDDEN and (member is None or member.role != CircleRole.ADMIN):
        raise Forbidden("staff hid this post: only staff restore it", code="hidden-by-staff")


async def _locked_circle(session: AsyncSession, circle_id: uuid.UUID) -> Circle:
    """The circle, locked: its memberships change one at a time (the last-admin rule)."""
    circle = await session.get(Circle, circle_id, with_for_update=True)
    if circle is None:
        raise NotFound("no such circle")
    return circle


async def _require_admin(
    session: AsyncSession, circle_id: uuid.UUID, principal: Principal | None
) -> None:
    if access.is_staff(principal):
        return
    member = (
        await membership(session=session, circle_id=circle_id, user_id=principal.user_id)
        if principal is not None
        else None
    )
    if (
        member is None
        or member.role != CircleRole.ADMIN
        or member.status != MembershipStatus.ACTIVE
    ):
        raise Forbidden("only this circle's admins and staff may", code="not-circle-admin")


async def _pending(
    session: AsyncSession, circle_id: uuid.UUID, user_id: uuid.UUID, principal: Principal
) -> CircleMember:
    await _locked_circle(session, circle_id)
    await _require_admin(session, circle_id, principal)
    member = await membership(session=session, circle_id=circle_id, user_id=user_id, lock=True)
    if member is None:
        raise NotFound("no such request")
    if member.status != MembershipStatus.PENDING:
        raise Conflict("already a member", code="not-pending")
    return member


async def _admins(session: AsyncSession, circle_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(CircleMember)
        .where(
            col(CircleMember.circle_id) == circle_id,
            col(CircleMember.role) == CircleRole.ADMIN,
            col(CircleMember.status) == MembershipStatus.ACTIVE,
        )
    )
    return count or 0


async def _count(session: AsyncSession, circle_id: uuid.UUID, delta: int) -> int:
    """Move ``member_count`` by ``delta``; the count after."""
    count = await session.scalar(
        update(Circle)
        .where(col(Circle.id) == circle_id)
        .values(member_count=col(Circle.member_count) + delta, updated_at=utcnow())
        .returning(col(Circle.member_count))
    )
    assert count is not None
    return int(count)


async def _member_count(session: AsyncSession, circle_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(col(Circle.member_count)).where(col(Circle.id) == circle_id)
    )
    return int(count or 0)


async def _drop(
    session: AsyncSession,
    member: CircleMember,
    change: MembershipChange,
    actor: uuid.UUID | None,
) -> None:
    """Delete the membership (an active one leaves ``member_count``) and announce it."""
    await session.execute(
        delete(CircleMember).where(
            col(CircleMember.circle_id) == member.circle_id,
            col(CircleMember.user_id) == member.user_id,
        )
    )
    if member.status == MembershipStatus.ACTIVE:
        count = await _count(session, member.circle_id, -1)
    else:
        count = await _member_count(session, member.circle_id)
    publish(
        session,
        CircleMembershipChanged(
            circle_id=member.circle_id,
            user_id=member.user_id,
            change=change,
            status=None,
            role=None,
            changed_by=actor,
            member_count=count,
        ),
        actor=actor,
    )


def _announce(
    session: AsyncSession,
    circle_id: uuid.UUID,
    member: CircleMember,
    change: MembershipChange,
    actor: uuid.UUID,
    member_count: int,
) -> None:
    publish(
        session,
        CircleMembershipChanged(
            circle_id=circle_id,
            user_id=member.user_id,
            change=change,
            status=MembershipStatus(member.status),
            role=CircleRole(member.role),
            changed_by=actor,
            member_count=member_count,
        ),
        actor=actor,
    )


def _audit(
    session: AsyncSession,
    principal: Principal,
    decision: str,
    circle_id: uuid.UUID,
    user_id: uuid.UUID,
) -> None:
    record_action(
        session,
        actor=principal.user_id,
        action=f"circle.member.{decision}",
        subject=circle_id,
        user_id=user_id,
    )
