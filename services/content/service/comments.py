"""Comments on posts with one level of replies, their deletion, and comment likes.

A comment is written on a published post the caller may read; a reply names a published
top-level comment of the same post as its parent (a reply to a reply is a 422).
``posts.comment_count`` (comments and replies) and the parent's ``reply_count`` move in
the comment's transaction and count what is neither ``deleted`` nor ``removed``: a
``hidden`` comment still counts (it can be restored), moderation's removal takes it out
of the counts (:mod:`.moderation`), and deleting a removed comment moves them no more.
The post is rescored.

Who sees what (:func:`visible_comments`): ``published`` comments everyone who may read the
post; ``hidden`` and ``removed`` ones their author and staff, marked; ``deleted`` ones
nobody, except a deleted top-level comment that still has replies: it stays as a
placeholder (empty text, no author) so the thread under it reads on, and goes when its
last reply does. A comment or post the caller may not see is "not found".

Deleting is its author's (staff moderate instead: 403; anyone else: 404): the text is
erased, ``content.comment.removed`` announced when others could see it. Comment likes
work like post likes (:mod:`.likes`) on ``comments.like_count`` and publish nothing.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    delete,
    exists,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import CommentCreated, CommentRemoved, RemovalReason
from kit.api.pagination import Keyset, Order, PageParams
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import dialect_insert, utcnow
from kit.problems import Conflict, Forbidden, NotFound, Problem
from services.content.models import Comment, CommentLike, CommentStatus, Member, Post
from services.content.schemas import CommentCreate
from services.content.service import access
from services.content.service.likes import engageable_post, move_post_count

OLDEST = Keyset(Order(col(Comment.created_at)), Order(col(Comment.id)))
Viewed = Select[Comment, str | None, bool]


@dataclass(frozen=True)
class CommentView:
    """A comment as one viewer sees it."""

    comment: Comment
    author_name: str | None
    liked: bool


def visible_comments(principal: Principal | None) -> ColumnElement[bool]:
    """The comments ``principal`` may see, on posts they may read (module docstring)."""
    status = col(Comment.status)
    placeholder = and_(status == CommentStatus.DELETED, col(Comment.reply_count) > 0)
    if access.is_staff(principal):
        return or_(status != CommentStatus.DELETED, placeholder)
    published = status == CommentStatus.PUBLISHED
    if principal is None:
        return or_(published, placeholder)
    own = and_(col(Comment.author_id) == principal.user_id, status != CommentStatus.DELETED)
    return or_(published, own, placeholder)


async def readable_comment(
    *,
    session: AsyncSession,
    comment_id: uuid.UUID,
    principal: Principal | None,
    lock: bool = False,
) -> Comment:
    """The comment, when ``principal`` may see it and read its post (else 404)."""
    query = select(Comment).where(col(Comment.id) == comment_id, visible_comments(principal))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    comment = await session.scalar(query)
    if comment is None:
        raise NotFound("no such comment")
    post = await session.get(Post, comment.post_id)
    if post is None or not await access.can_read(session=session, principal=principal, post=post):
        raise NotFound("no such comment")
    return comment


async def create_comment(
    *, session: AsyncSession, post_id: uuid.UUID, data: CommentCreate, principal: Principal
) -> Comment:
    post = await engageable_post(session=session, post_id=post_id, principal=principal)
    if data.parent_id is not None:
        await _take_reply(session, post_id, data.parent_id, principal)
    now = utcnow()
    comment = Comment(
        post_id=post_id,
        parent_id=data.parent_id,
        author_id=principal.user_id,
        text=data.text,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    await session.flush()
    await move_post_count(session=session, post_id=post_id, count="comment_count", by=1)
    publish(
        session,
        CommentCreated(
            comment_id=comment.id,
            post_id=post_id,
            author_id=principal.user_id,
            parent_id=data.parent_id,
            post_author_id=post.author_id,
        ),
        actor=principal.user_id,
    )
    return comment


async def _take_reply(
    session: AsyncSession, post_id: uuid.UUID, parent_id: uuid.UUID, principal: Principal
) -> None:
    """Count a new reply on ``parent_id`` (422 when it cannot take one)."""
    parent = await session.scalar(
        select(Comment).where(col(Comment.id) == parent_id, visible_comments(principal))
    )
    if parent is None or parent.post_id != post_id:
        raise Problem("parent_id names no comment of this post", status=422, code="unknown-parent")
    if parent.parent_id is not None:
        raise Problem(
            "replies go under a top-level comment, not under a reply",
            status=422,
            code="reply-to-reply",
        )
    counted = await session.scalar(
        update(Comment)
        .where(
            col(Comment.id) == parent_id,
            col(Comment.status) == CommentStatus.PUBLISHED,
        )
        .values(reply_count=col(Comment.reply_count) + 1)
        .returning(col(Comment.reply_count))
        .execution_options(synchronize_session=False)
    )
    if counted is None:
        raise Problem(
            "only a published comment takes replies", status=422, code="parent-not-published"
        )


async def delete_comment(
    *, session: AsyncSession, comment_id: uuid.UUID, principal: Principal
) -> None:
    """Its author deletes a comment: its text is erased, what it earned reversed."""
    comment = await readable_comment(
        session=session, comment_id=comment_id, principal=principal, lock=True
    )
    if comment.author_id != principal.user_id or comment.status == CommentStatus.DELETED:
        if access.is_staff(principal) and comment.status != CommentStatus.DELETED:
            raise Forbidden("only its author deletes a comment; staff moderate it")
        raise NotFound("no such comment")
    await erase(session=session, comment=comment, reason="author", actor=principal.user_id)


async def erase(
    *, session: AsyncSession, comment: Comment, reason: RemovalReason, actor: uuid.UUID | None
) -> None:
    """Delete ``comment`` (not yet deleted, its row locked): its text erased, the counts of
    its post and parent corrected; a comment others could see is announced as removed."""
    was_published = comment.status == CommentStatus.PUBLISHED
    counted = comment.status != CommentStatus.REMOVED
    comment.status = CommentStatus.DELETED
    comment.text = ""
    comment.updated_at = utcnow()
    await session.flush()
    if counted:
        await uncount(session=session, comment=comment)
    if was_published:
        publish(
            session,
            CommentRemoved(
                comment_id=comment.id,
                post_id=comment.post_id,
                author_id=comment.author_id,
                reason=reason,
                removed_by=actor,
            ),
            actor=actor,
        )


async def uncount(*, session: AsyncSession, comment: Comment) -> None:
    """Take ``comment`` out of its post's ``comment_count`` and its parent's ``reply_count``
    (it was deleted, or moderation removed it)."""
    if comment.parent_id is not None:
        await session.execute(
            update(Comment)
            .where(col(Comment.id) == comment.parent_id)
            .values(reply_count=col(Comment.reply_count) - 1)
            .execution_options(synchronize_session=False)
        )
    await move_post_count(session=session, post_id=comment.post_id, count="comment_count", by=-1)


async def top_level(
    *, session: AsyncSession, post_id: uuid.UUID, principal: Principal | None, page: PageParams
) -> tuple[list[CommentView], str | None]:
    """A post's top-level comments the caller may see, oldest first."""
    await access.readable_post(session=session, post_id=post_id, principal=principal)
    where = and_(
        col(Comment.post_id) == post_id,
        col(Comment.parent_id).is_(None),
        visible_comments(principal),
    )
    return await _page(session, _viewed(principal).where(where), page)


async def replies(
    *,
    session: AsyncSession,
    comment_id: uuid.UUID,
    principal: Principal | None,
    page: PageParams,
) -> tuple[list[CommentView], str | None]:
    """The replies to a comment the caller may see, oldest first."""
    parent = await readable_comment(session=session, comment_id=comment_id, principal=principal)
    where = and_(
        col(Comment.post_id) == parent.post_id,
        col(Comment.parent_id) == parent.id,
        visible_comments(principal),
    )
    return await _page(session, _viewed(principal).where(where), page)


async def view(
    *, session: AsyncSession, comment_id: uuid.UUID, principal: Principal | None
) -> CommentView:
    """One comment as the caller sees it (404 when they may not)."""
    await readable_comment(session=session, comment_id=comment_id, principal=principal)
    row = (await session.execute(_viewed(principal).where(col(Comment.id) == comment_id))).one()
    return _view(row)


async def like_comment(
    *, session: AsyncSession, comment_id: uuid.UUID, principal: Principal
) -> int:
    """Like a published comment (a second like changes nothing); returns its like count."""
    comment = await readable_comment(session=session, comment_id=comment_id, principal=principal)
    if comment.status != CommentStatus.PUBLISHED:
        raise Conflict(f"a {comment.status} comment takes no likes", code="not-published")
    inserted = await session.scalar(
        dialect_insert(session, CommentLike)
        .values(comment_id=comment_id, user_id=principal.user_id)
        .on_conflict_do_nothing()
        .returning(col(CommentLike.user_id))
    )
    if inserted is None:
        count = await session.scalar(
            select(col(Comment.like_count)).where(col(Comment.id) == comment_id)
        )
        return count or 0
    return await move_comment_likes(session=session, comment_id=comment_id, by=1)


async def unlike_comment(
    *, session: AsyncSession, comment_id: uuid.UUID, principal: Principal
) -> None:
    """Take a like back (nothing happens when there was none)."""
    await readable_comment(session=session, comment_id=comment_id, principal=principal)
    deleted = await session.scalar(
        delete(CommentLike)
        .where(
            col(CommentLike.comment_id) == comment_id,
            col(CommentLike.user_id) == principal.user_id,
        )
        .returning(col(CommentLike.user_id))
    )
    if deleted is not None:
        await move_comment_likes(session=session, comment_id=comment_id, by=-1)


async def move_comment_likes(*, session: AsyncSession, comment_id: uuid.UUID, by: int) -> int:
    """Move a comment's like count by ``by`` (relative) and return its new value."""
    count = await session.scalar(
        update(Comment)
        .where(col(Comment.id) == comment_id)
        .values(like_count=col(Comment.like_count) + by)
        .returning(col(Comment.like_count))
        .execution_options(synchronize_session=False)
    )
    return count or 0


def _viewed(principal: Principal | None) -> Viewed:
    """Comments with their author's name and whether the viewer liked them."""
    liked: ColumnElement[bool] = literal(False)
    if principal is not None:
        liked = exists().where(
            col(CommentLike.comment_id) == col(Comment.id),
            col(CommentLike.user_id) == principal.user_id,
        )
    return select(Comment, col(Member.display_name), liked.label("liked")).outerjoin(
        Member, col(Member.user_id) == col(Comment.author_id)
    )


async def _page(
    session: AsyncSession, query: Viewed, page: PageParams
) -> tuple[list[CommentView], str | None]:
    rows: Sequence[Row[Comment, str | None, bool]] = (
        await session.execute(OLDEST.paged(query, page))
    ).all()
    found, next_cursor = OLDEST.page(rows, page, lambda row: (row[0].created_at, row[0].id))
    return [_view(row) for row in found], next_cursor


def _view(row: Row[Comment, str | None, bool]) -> CommentView:
    return CommentView(comment=row[0], author_name=row[1], liked=bool(row[2]))
