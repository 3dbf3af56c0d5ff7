"""Follows and profiles: who follows whom, with the counts a profile shows.

Following is idempotent (``ON CONFLICT DO NOTHING RETURNING`` on the pair's key) and only
a follow row inserted or deleted moves ``members.follower_count`` of the followed and
``following_count`` of the follower, in the same transaction. Both member rows are made
sure of and locked first, in a fixed order (the sorted user ids), so that two users
following each other at the same moment queue instead of deadlocking, and a follow racing
the account's deletion sees the deletion. Following yourself is a 422; a deleted member
(``members.deleted_at``) is "not found" everywhere: profile, lists, following them.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import UserFollowed, UserUnfollowed
from kit.api.pagination import Keyset, Order, PageParams
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import dialect_insert
from kit.problems import NotFound, Problem
from services.content.models import Follow, Member
from services.content.service import access

FOLLOWERS = Keyset(
    Order(col(Follow.created_at), descending=True),
    Order(col(Follow.follower_id), descending=True),
)
FOLLOWING = Keyset(
    Order(col(Follow.created_at), descending=True),
    Order(col(Follow.followee_id), descending=True),
)


@dataclass(frozen=True)
class Profile:
    member: Member
    viewer_follows: bool


@dataclass(frozen=True)
class Account:
    """One account in a list of followers or of followed accounts."""

    user_id: uuid.UUID
    display_name: str | None
    followed_at: datetime


async def live_member(*, session: AsyncSession, user_id: uuid.UUID) -> Member:
    """The member as the database has them now (404 when content knows nothing of them or
    they were deleted)."""
    member = await session.get(Member, user_id, populate_existing=True)
    if member is None or member.deleted_at is not None:
        raise NotFound("no such profile")
    return member


async def profile(
    *, session: AsyncSession, user_id: uuid.UUID, principal: Principal | None
) -> Profile:
    member = await live_member(session=session, user_id=user_id)
    follows = False
    if principal is not None:
        follows = bool(
            await session.scalar(
                select(
                    exists().where(
                        col(Follow.follower_id) == principal.user_id,
                        col(Follow.followee_id) == user_id,
                    )
                )
            )
        )
    return Profile(member=member, viewer_follows=follows)


async def lock_members(
    *, session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Member]:
    """Lock the members' rows in the order of their ids (the order every writer of follow
    counts takes them in) and return them as they are now."""
    found = await session.scalars(
        select(Member)
        .where(col(Member.user_id).in_(user_ids))
        .order_by(col(Member.user_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {member.user_id: member for member in found}


async def follow(*, session: AsyncSession, user_id: uuid.UUID, principal: Principal) -> None:
    """``principal`` follows ``user_id`` (a second time changes nothing)."""
    me = _not_self(principal, user_id)
    pair = sorted((me, user_id))
    for member_id in pair:
        await access.ensure_member(session=session, user_id=member_id)
    members = await lock_members(session=session, user_ids=pair)
    if members[user_id].deleted_at is not None:
        raise NotFound("no such profile")
    inserted = await session.scalar(
        dialect_insert(session, Follow)
        .values(follower_id=me, followee_id=user_id)
        .on_conflict_do_nothing()
        .returning(col(Follow.followee_id))
    )
    if inserted is None:
        return
    follower_count = await move_follow_counts(
        session=session, follower_id=me, followee_id=user_id, by=1
    )
    publish(
        session,
        UserFollowed(follower_id=me, followee_id=user_id, follower_count=follower_count),
        actor=me,
    )


async def unfollow(*, session: AsyncSession, user_id: uuid.UUID, principal: Principal) -> None:
    """``principal`` stops following ``user_id`` (nothing happens when they did not)."""
    me = _not_self(principal, user_id)
    members = await lock_members(session=session, user_ids=sorted((me, user_id)))
    followed = members.get(user_id)
    if followed is not None and followed.deleted_at is not None:
        raise NotFound("no such profile")
    deleted = await session.scalar(
        delete(Follow)
        .where(col(Follow.follower_id) == me, col(Follow.followee_id) == user_id)
        .returning(col(Follow.followee_id))
    )
    if deleted is None:
        return
    follower_count = await move_follow_counts(
        session=session, follower_id=me, followee_id=user_id, by=-1
    )
    publish(
        session,
        UserUnfollowed(follower_id=me, followee_id=user_id, follower_count=follower_count),
        actor=me,
    )


async def move_follow_counts(
    *, session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID, by: int
) -> int:
    """Move the follower's ``following_count`` and the followee's ``follower_count`` by
    ``by`` (rows locked by the caller); returns the followee's new follower count."""
    follower_count = 0
    for member_id in sorted((follower_id, followee_id)):
        column = "follower_count" if member_id == followee_id else "following_count"
        moved = await session.scalar(
            update(Member)
            .where(col(Member.user_id) == member_id)
            .values({column: getattr(Member, column) + by})
            .returning(col(Member.follower_count))
            .execution_options(synchronize_session=False)
        )
        if member_id == followee_id:
            follower_count = moved or 0
    return follower_count


async def followers(
    *, session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[Account], str | None]:
    """Who follows ``user_id``, most recent first."""
    await live_member(session=session, user_id=user_id)
    query = _accounts(col(Follow.follower_id)).where(col(Follow.followee_id) == user_id)
    return await _page(session, FOLLOWERS, query, page)


async def following(
    *, session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[Account], str | None]:
    """Whom ``user_id`` follows, most recent first."""
    await live_member(session=session, user_id=user_id)
    query = _accounts(col(Follow.followee_id)).where(col(Follow.follower_id) == user_id)
    return await _page(session, FOLLOWING, query, page)


def _not_self(principal: Principal, user_id: uuid.UUID) -> uuid.UUID:
    if principal.user_id == user_id:
        raise Problem("you cannot follow yourself", status=422, code="follow-self")
    return principal.user_id


def _accounts(other: Any) -> Any:
    """The accounts at the ``other`` end of follows, with their names; deleted ones left out."""
    return (
        select(other, col(Member.display_name), col(Follow.created_at))
        .join(Member, col(Member.user_id) == other)
        .where(col(Member.deleted_at).is_(None))
    )


async def _page(
    session: AsyncSession, keyset: Keyset, query: Any, page: PageParams
) -> tuple[list[Account], str | None]:
    rows = (await session.execute(keyset.paged(query, page))).all()
    found, next_cursor = keyset.page(rows, page, lambda row: (row[2], row[0]))
    accounts = [Account(user_id=row[0], display_name=row[1], followed_at=row[2]) for row in found]
    return accounts, next_cursor
