"""Posts: writing, editing within the window (the earlier version kept), deleting.

A new post is ``published`` at once (and announced), or ``held`` for review when
pre-moderation says so (announced when staff release it). Official posts are staff's.
A post in a circle needs the author's active membership; in an industry circle it is
``members_only``. Images need the standing :data:`.standing.Action.POST_IMAGES`.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import PostPublished, PostRemoved, PostUpdated, RemovalReason
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import utcnow
from kit.problems import Conflict, Forbidden, NotFound
from services.content.config import ContentSettings
from services.content.models import Circle, CircleKind, Member, Post, PostEdit, PostStatus, PostTag
from services.content.schemas import PostCreate, PostUpdate
from services.content.service import access, premoderation, standing
from services.content.service.trending import hot_score

EDITABLE = frozenset({PostStatus.PUBLISHED, PostStatus.HELD})


async def create_post(
    *, session: AsyncSession, data: PostCreate, principal: Principal, settings: ContentSettings
) -> Post:
    now = utcnow()
    if data.official and not access.is_staff(principal):
        raise Forbidden("only staff publish official posts")
    if data.images:
        await standing.require_standing(
            session=session,
            principal=principal,
            action=standing.Action.POST_IMAGES,
            now=now,
            new_account=timedelta(days=settings.new_account_days),
        )
    members_only = await _circle_of(session, data.circle_id, principal)
    held = not access.is_staff(principal) and await premoderation.should_hold(
        session=session, author_id=principal.user_id, now=now, settings=settings
    )
    tags = _unique(data.tags)
    post = Post(
        author_id=principal.user_id,
        official=data.official,
        text=data.text,
        images=[str(url) for url in data.images],
        tags=tags,
        circle_id=data.circle_id,
        members_only=members_only,
        city=data.city,
        status=PostStatus.HELD if held else PostStatus.PUBLISHED,
        hot_score=hot_score(created_at=now, likes=0, comments=0, bookmarks=0),
        created_at=now,
        updated_at=now,
    )
    session.add(post)
    session.add_all(PostTag(tag=tag, post_id=post.id) for tag in tags)
    await access.ensure_member(session=session, user_id=principal.user_id)
    await session.execute(
        update(Member)
        .where(col(Member.user_id) == principal.user_id)
        .values(post_count=col(Member.post_count) + 1)
    )
    await session.flush()
    if not held:
        announce_published(session=session, post=post, actor=principal.user_id, at=now)
    return post


def announce_published(
    *, session: AsyncSession, post: Post, actor: uuid.UUID, at: datetime
) -> None:
    """Stage ``post.published`` (on posting, or when staff release a held post)."""
    publish(
        session,
        PostPublished(
            post_id=post.id,
            author_id=post.author_id,
            official=post.official,
            circle_id=post.circle_id,
            city=post.city,
            tags=list(post.tags),
            image_count=len(post.images),
            published_at=at,
        ),
        actor=actor,
    )


async def _circle_of(
    session: AsyncSession, circle_id: uuid.UUID | None, principal: Principal
) -> bool:
    """Whether a post in ``circle_id`` is members-only; 404/403 when it may not go there."""
    if circle_id is None:
        return False
    circle = await session.get(Circle, circle_id)
    if circle is None:
        raise NotFound("no such circle")
    member = await access.is_active_member(
        session=session, circle_id=circle_id, user_id=principal.user_id
    )
    if not member and not access.is_staff(principal):
        if circle.kind == CircleKind.INDUSTRY:
            raise NotFound("no such circle")
        raise Forbidden("join the circle to post in it", code="not-a-member")
    return circle.kind == CircleKind.INDUSTRY


def _unique(tags: list[str]) -> list[str]:
    """Tags in the order given, each once, compared case-insensitively (kept as written)."""
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


async def own_post(*, session: AsyncSession, post_id: uuid.UUID, principal: Principal) -> Post:
    """The caller's own post, locked (404 when it is not theirs or not to be seen)."""
    post = await access.readable_post(
        session=session, post_id=post_id, principal=principal, lock=True
    )
    if post.author_id != principal.user_id:
        if access.is_staff(principal):
            raise Forbidden("only its author edits or deletes a post; staff moderate it")
        raise NotFound("no such post")
    return post


async def update_post(
    *,
    session: AsyncSession,
    post_id: uuid.UUID,
    data: PostUpdate,
    principal: Principal,
    settings: ContentSettings,
) -> Post:
    post = await own_post(session=session, post_id=post_id, principal=principal)
    now = utcnow()
    if post.status not in EDITABLE:
        raise Conflict(f"a {post.status} post cannot be edited", code="not-editable")
    if now - post.created_at > timedelta(hours=settings.edit_window_hours):
        raise Conflict(
            f"posts can be edited for {settings.edit_window_hours:g} hours after posting",
            code="edit-window-closed",
        )
    changes = data.model_dump(exclude_unset=True)
    if "images" in changes:
        changes["images"] = [str(url) for url in data.images or []]
        if changes["images"] and not post.images:
            await standing.require_standing(
                session=session,
                principal=principal,
                action=standing.Action.POST_IMAGES,
                now=now,
                new_account=timedelta(days=settings.new_account_days),
            )
    if "tags" in changes:
        changes["tags"] = _unique(data.tags or [])
    changed = sorted(name for name, value in changes.items() if getattr(post, name) != value)
    if not changed:
        return post
    session.add(
        PostEdit(post_id=post.id, text=post.text, images=post.images, tags=post.tags, edited_at=now)
    )
    for name in changed:
        setattr(post, name, changes[name])
    if "tags" in changed:
        await session.execute(delete(PostTag).where(col(PostTag.post_id) == post.id))
        session.add_all(PostTag(tag=tag, post_id=post.id) for tag in post.tags)
    post.edited_at = post.updated_at = now
    await session.flush()
    if post.status == PostStatus.PUBLISHED:
        publish(
            session,
            PostUpdated(post_id=post.id, author_id=post.author_id, changed=changed, updated_at=now),
            actor=principal.user_id,
        )
    return post


async def delete_post(*, session: AsyncSession, post_id: uuid.UUID, principal: Principal) -> None:
    """The author deletes their post: gone for everyone; what it earned is reversed."""
    post = await own_post(session=session, post_id=post_id, principal=principal)
    await erase(session=session, post=post, reason="author", actor=principal.user_id)


async def erase(
    *, session: AsyncSession, post: Post, reason: RemovalReason, actor: uuid.UUID | None
) -> None:
    """Delete ``post`` (author or account deletion): its text, images and tags are erased,
    its author's count corrected; a post others could see is announced as removed."""
    was_published = post.status == PostStatus.PUBLISHED
    await session.execute(delete(PostTag).where(col(PostTag.post_id) == post.id))
    await session.execute(delete(PostEdit).where(col(PostEdit.post_id) == post.id))
    post.status = PostStatus.DELETED
    post.text, post.images, post.tags = "", [], []
    post.updated_at = utcnow()
    await session.execute(
        update(Member)
        .where(col(Member.user_id) == post.author_id, col(Member.post_count) > 0)
        .values(post_count=col(Member.post_count) - 1)
    )
    await session.flush()
    if was_published:
        publish(
            session,
            PostRemoved(post_id=post.id, author_id=post.author_id, reason=reason, removed_by=actor),
            actor=actor,
        )


async def edits(
    *, session: AsyncSession, post_id: uuid.UUID, principal: Principal | None
) -> list[PostEdit]:
    """The earlier versions of a post, newest first (whoever may read the post)."""
    await access.readable_post(session=session, post_id=post_id, principal=principal)
    found = await session.scalars(
        select(PostEdit)
        .where(col(PostEdit.post_id) == post_id)
        .order_by(col(PostEdit.edited_at).desc(), col(PostEdit.id).desc())
    )
    return list(found.all())
