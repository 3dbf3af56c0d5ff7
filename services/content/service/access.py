"""Who may see and change what: staff, authors, the visibility of a post by its status,
and the members this service knows (identity's announcements, kept in ``members``).

A post others may read is ``published`` and, when it belongs to an industry circle
(``members_only``), read by one of the circle's active members. Its author also sees it
``held``, ``hidden`` or ``removed`` (marked by its status); staff see all but ``deleted``.
Anything a caller may not see is "not found", never "forbidden", so its existence leaks
nowhere.
"""

import uuid

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.auth import Principal
from kit.db import dialect_insert
from kit.problems import NotFound
from services.content.models import CircleMember, Member, MembershipStatus, Post, PostStatus

STAFF_ROLES = ("staff", "admin")


def is_staff(principal: Principal | None) -> bool:
    return principal is not None and principal.has_any(*STAFF_ROLES)


def readable_by_others() -> ColumnElement[bool]:
    """The posts every feed may show to anyone: published, not members-only."""
    return and_(col(Post.status) == PostStatus.PUBLISHED, col(Post.members_only).is_(False))


def my_circles(user_id: uuid.UUID) -> Select[uuid.UUID]:
    """The circles ``user_id`` is an active member of (a subquery)."""
    return select(col(CircleMember.circle_id)).where(
        col(CircleMember.user_id) == user_id, col(CircleMember.status) == MembershipStatus.ACTIVE
    )


def visible_to(principal: Principal | None) -> ColumnElement[bool]:
    """The posts ``principal`` may read anywhere (see the module docstring)."""
    if is_staff(principal):
        return col(Post.status) != PostStatus.DELETED
    if principal is None:
        return readable_by_others()
    published = col(Post.status) == PostStatus.PUBLISHED
    own = and_(col(Post.author_id) == principal.user_id, col(Post.status) != PostStatus.DELETED)
    circle_member = and_(published, col(Post.circle_id).in_(my_circles(principal.user_id)))
    return or_(readable_by_others(), own, circle_member)


async def can_read(*, session: AsyncSession, principal: Principal | None, post: Post) -> bool:
    if post.status == PostStatus.DELETED:
        return False
    if is_staff(principal) or (principal is not None and post.author_id == principal.user_id):
        return True
    if post.status != PostStatus.PUBLISHED:
        return False
    if not post.members_only:
        return True
    return principal is not None and await is_active_member(
        session=session, circle_id=post.circle_id, user_id=principal.user_id
    )


async def is_active_member(
    *, session: AsyncSession, circle_id: uuid.UUID | None, user_id: uuid.UUID
) -> bool:
    if circle_id is None:
        return False
    status = await session.scalar(
        select(col(CircleMember.status)).where(
            col(CircleMember.circle_id) == circle_id, col(CircleMember.user_id) == user_id
        )
    )
    return status == MembershipStatus.ACTIVE


async def readable_post(
    *, session: AsyncSession, post_id: uuid.UUID, principal: Principal | None, lock: bool = False
) -> Post:
    """The post, when ``principal`` may read it (else 404)."""
    post = await session.get(Post, post_id, with_for_update=lock or None)
    if post is None or not await can_read(session=session, principal=principal, post=post):
        raise NotFound("no such post")
    return post


async def ensure_member(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Make sure ``members`` has a row for ``user_id`` (its counters live there)."""
    await session.execute(
        dialect_insert(session, Member).values(user_id=user_id).on_conflict_do_nothing()
    )
