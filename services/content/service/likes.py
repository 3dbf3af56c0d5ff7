"""Likes of posts, and what every engagement (a like, a comment, a bookmark) shares: which
posts take it (:func:`engageable_post`) and how it moves a post's counter and its trending
score (:func:`move_post_count`). Comment likes live with comments (:mod:`.comments`).

Liking is idempotent and guarded by the database: the like row is inserted with
``ON CONFLICT DO NOTHING RETURNING`` and only a row actually inserted (or deleted, on
unliking) moves the counter, by a relative ``UPDATE ... RETURNING`` in the same
transaction, so liking twice is one like and one ``content.post.liked``, and any number of
concurrent likes leave ``like_count`` equal to the rows. Only published posts the caller
may read take a like; taking one back needs only that the caller may still read the post.
"""

import uuid
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import PostLiked, PostUnliked
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import dialect_insert
from kit.problems import Conflict
from services.content.models import Post, PostLike, PostStatus
from services.content.service import access, trending

PostCount = Literal["like_count", "comment_count", "bookmark_count"]


async def engageable_post(
    *, session: AsyncSession, post_id: uuid.UUID, principal: Principal
) -> Post:
    """A post the caller may read (else 404) that is published (else 409 ``not-published``):
    what takes likes, comments and bookmarks."""
    post = await access.readable_post(session=session, post_id=post_id, principal=principal)
    if post.status != PostStatus.PUBLISHED:
        raise Conflict(f"a {post.status} post takes no engagement", code="not-published")
    return post


async def move_post_count(
    *, session: AsyncSession, post_id: uuid.UUID, count: PostCount, by: int
) -> int:
    """Move one counter of a post by ``by`` (relative, so concurrent moves add up), rescore
    the post with the counters as they now are, and return the counter's new value."""
    moved = (
        await session.execute(
            update(Post)
            .where(col(Post.id) == post_id)
            .values({count: getattr(Post, count) + by})
            .returning(
                col(Post.created_at),
                col(Post.like_count),
                col(Post.comment_count),
                col(Post.bookmark_count),
            )
            .execution_options(synchronize_session=False)
        )
    ).one()
    await trending.rescore(
        session=session,
        post_id=post_id,
        created_at=moved.created_at,
        likes=moved.like_count,
        comments=moved.comment_count,
        bookmarks=moved.bookmark_count,
    )
    value: int = getattr(moved, count)
    return value


async def like_post(*, session: AsyncSession, post_id: uuid.UUID, principal: Principal) -> int:
    """Like a post (a second like changes nothing); returns its like count."""
    post = await engageable_post(session=session, post_id=post_id, principal=principal)
    inserted = await session.scalar(
        dialect_insert(session, PostLike)
        .values(post_id=post_id, user_id=principal.user_id)
        .on_conflict_do_nothing()
        .returning(col(PostLike.user_id))
    )
    if inserted is None:
        return await _post_like_count(session, post_id)
    like_count = await move_post_count(session=session, post_id=post_id, count="like_count", by=1)
    publish(
        session,
        PostLiked(
            post_id=post_id,
            author_id=post.author_id,
            user_id=principal.user_id,
            like_count=like_count,
        ),
        actor=principal.user_id,
    )
    return like_count


async def unlike_post(*, session: AsyncSession, post_id: uuid.UUID, principal: Principal) -> None:
    """Take a like back (nothing happens when there was none)."""
    post = await access.readable_post(session=session, post_id=post_id, principal=principal)
    deleted = await session.scalar(
        delete(PostLike)
        .where(col(PostLike.post_id) == post_id, col(PostLike.user_id) == principal.user_id)
        .returning(col(PostLike.user_id))
    )
    if deleted is None:
        return
    like_count = await move_post_count(session=session, post_id=post_id, count="like_count", by=-1)
    publish(
        session,
        PostUnliked(
            post_id=post_id,
            author_id=post.author_id,
            user_id=principal.user_id,
            like_count=like_count,
        ),
        actor=principal.user_id,
    )


async def _post_like_count(session: AsyncSession, post_id: uuid.UUID) -> int:
    count = await session.scalar(select(col(Post.like_count)).where(col(Post.id) == post_id))
    return count or 0
