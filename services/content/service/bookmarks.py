"""Bookmarks: a user saves a post to read later (their list is :func:`.feeds.bookmarks`).

Saving is idempotent like liking (:mod:`.likes`): the row is inserted with ``ON CONFLICT
DO NOTHING RETURNING`` and only a row inserted or deleted moves ``posts.bookmark_count``
(which weighs in the trending score). Only published posts the caller may read are saved;
removing a bookmark needs only that the caller may still read the post. Nothing is
published: bookmarks are private and no consumer credits them.
"""

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.auth import Principal
from kit.db import dialect_insert
from services.content.models import Bookmark, Post
from services.content.service import access
from services.content.service.likes import engageable_post, move_post_count


async def bookmark(*, session: AsyncSession, post_id: uuid.UUID, principal: Principal) -> int:
    """Save a post (a second time changes nothing); returns its bookmark count."""
    await engageable_post(session=session, post_id=post_id, principal=principal)
    inserted = await session.scalar(
        dialect_insert(session, Bookmark)
        .values(post_id=post_id, user_id=principal.user_id)
        .on_conflict_do_nothing()
        .returning(col(Bookmark.user_id))
    )
    if inserted is None:
        count = await session.scalar(
            select(col(Post.bookmark_count)).where(col(Post.id) == post_id)
        )
        return count or 0
    return await move_post_count(session=session, post_id=post_id, count="bookmark_count", by=1)


async def unbookmark(*, session: AsyncSession, post_id: uuid.UUID, principal: Principal) -> None:
    """Remove a saved post (nothing happens when it was not saved)."""
    await access.readable_post(session=session, post_id=post_id, principal=principal)
    deleted = await session.scalar(
        delete(Bookmark)
        .where(col(Bookmark.post_id) == post_id, col(Bookmark.user_id) == principal.user_id)
        .returning(col(Bookmark.user_id))
    )
    if deleted is not None:
        await move_post_count(session=session, post_id=post_id, count="bookmark_count", by=-1)
