"""A deleted account's content (``identity.user.deleted.v1``, ADR 0014).

Erased: the member's name and city, their posts (:func:`.posts.erase`, reason
``account_deleted``) and their comments (status ``deleted``, text ``""``; one with replies
stays as an authorless placeholder so the thread reads on). Dropped, with every count
corrected in the same transaction: their post and comment likes, bookmarks, follows in
both directions and circle memberships. Published: what others could see going away —
``post.removed`` and ``comment.removed`` for published ones (rewards reverses what they
earned), ``post.unliked`` for likes on posts that stay published, ``user.unfollowed`` for
every follow dropped, ``circle.membership_changed`` (``left``) for every membership.

The member rows of the account and of everyone it follows or is followed by are locked
first, in the order follows take them (:func:`.follows.lock_members`), so a follow racing
the deletion waits and then sees the account deleted. Running it again changes nothing:
everything it acts on is what is not erased or dropped yet.
"""

import uuid
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import CircleMembershipChanged, PostUnliked, UserUnfollowed
from kit.bus.outbox import publish
from kit.db import utcnow
from services.content.models import (
    Bookmark,
    Circle,
    CircleMember,
    Comment,
    CommentLike,
    CommentStatus,
    Follow,
    Member,
    MembershipStatus,
    Post,
    PostLike,
    PostStatus,
)
from services.content.service import access, comments, follows, posts
from services.content.service.likes import move_post_count


async def erase_account(*, session: AsyncSession, user_id: uuid.UUID, deleted_at: datetime) -> None:
    """Erase and drop what ``user_id`` left (module docstring)."""
    await access.ensure_member(session=session, user_id=user_id)
    partners = await session.execute(
        select(col(Follow.follower_id), col(Follow.followee_id)).where(
            or_(col(Follow.follower_id) == user_id, col(Follow.followee_id) == user_id)
        )
    )
    involved = {user_id, *(member for row in partners.all() for member in row)}
    await follows.lock_members(session=session, user_ids=sorted(involved))
    await session.execute(
        update(Member)
        .where(col(Member.user_id) == user_id, col(Member.deleted_at).is_(None))
        .values(display_name=None, city=None, deleted_at=deleted_at, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await _erase_posts(session, user_id)
    await _erase_comments(session, user_id)
    await _drop_post_likes(session, user_id)
    await _drop_comment_likes(session, user_id)
    await _drop_bookmarks(session, user_id)
    await _drop_follows(session, user_id)
    await _leave_circles(session, user_id)


async def _erase_posts(session: AsyncSession, user_id: uuid.UUID) -> None:
    found = await session.scalars(
        select(Post)
        .where(col(Post.author_id) == user_id, col(Post.status) != PostStatus.DELETED)
        .order_by(col(Post.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for post in found.all():
        await posts.erase(session=session, post=post, reason="account_deleted", actor=None)


async def _erase_comments(session: AsyncSession, user_id: uuid.UUID) -> None:
    found = await session.scalars(
        select(Comment)
        .where(col(Comment.author_id) == user_id, col(Comment.status) != CommentStatus.DELETED)
        .order_by(col(Comment.post_id), col(Comment.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for comment in found.all():
        await comments.erase(session=session, comment=comment, reason="account_deleted", actor=None)


async def _drop_post_likes(session: AsyncSession, user_id: uuid.UUID) -> None:
    liked = await session.scalars(
        delete(PostLike).where(col(PostLike.user_id) == user_id).returning(col(PostLike.post_id))
    )
    for post_id in sorted(liked.all()):
        like_count = await move_post_count(
            session=session, post_id=post_id, count="like_count", by=-1
        )
        post = await session.get(Post, post_id)
        if post is not None and post.status == PostStatus.PUBLISHED:
            publish(
                session,
                PostUnliked(
                    post_id=post_id,
                    author_id=post.author_id,
                    user_id=user_id,
                    like_count=like_count,
                ),
                actor=None,
            )


async def _drop_comment_likes(session: AsyncSession, user_id: uuid.UUID) -> None:
    liked = await session.scalars(
        delete(CommentLike)
        .where(col(CommentLike.user_id) == user_id)
        .returning(col(CommentLike.comment_id))
    )
    for comment_id in sorted(liked.all()):
        await comments.move_comment_likes(session=session, comment_id=comment_id, by=-1)


async def _drop_bookmarks(session: AsyncSession, user_id: uuid.UUID) -> None:
    saved = await session.scalars(
        delete(Bookmark).where(col(Bookmark.user_id) == user_id).returning(col(Bookmark.post_id))
    )
    for post_id in sorted(saved.all()):
        await move_post_count(session=session, post_id=post_id, count="bookmark_count", by=-1)


async def _drop_follows(session: AsyncSession, user_id: uuid.UUID) -> None:
    dropped = await session.execute(
        delete(Follow)
        .where(or_(col(Follow.follower_id) == user_id, col(Follow.followee_id) == user_id))
        .returning(col(Follow.follower_id), col(Follow.followee_id))
    )
    for follower_id, followee_id in sorted(dropped.all()):
        follower_count = await follows.move_follow_counts(
            session=session, follower_id=follower_id, followee_id=followee_id, by=-1
        )
        publish(
            session,
            UserUnfollowed(
                follower_id=follower_id, followee_id=followee_id, follower_count=follower_count
            ),
            actor=None,
        )


async def _leave_circles(session: AsyncSession, user_id: uuid.UUID) -> None:
    left = await session.execute(
        delete(CircleMember)
        .where(col(CircleMember.user_id) == user_id)
        .returning(col(CircleMember.circle_id), col(CircleMember.status))
    )
    for circle_id, status in sorted(left.all()):
        if status == MembershipStatus.ACTIVE:
            member_count = await session.scalar(
                update(Circle)
                .where(col(Circle.id) == circle_id)
                .values(member_count=col(Circle.member_count) - 1)
                .returning(col(Circle.member_count))
                .execution_options(synchronize_session=False)
            )
        else:
            member_count = await session.scalar(
                select(col(Circle.member_count)).where(col(Circle.id) == circle_id)
            )
        publish(
            session,
            CircleMembershipChanged(
                circle_id=circle_id,
                user_id=user_id,
                change="left",
                status=None,
                role=None,
                changed_by=None,
                member_count=member_count or 0,
            ),
            actor=None,
        )
