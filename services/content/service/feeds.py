"""Feeds: pages of posts, newest first (trending: by score), each a keyset over its index.

The home feed is **fan-out on read** (ADR 0013): the posts of the people and circles I
follow, my own, and the brand's official posts, merged at read time. On PostgreSQL each
followed account and circle contributes at most one page through a ``LATERAL`` index
scan, so a read costs (accounts + circles followed) x page size index rows whatever the
followed accounts have posted, and an account with 100,000 followers publishing writes one
row. Only ids and times are merged; the newest page of them is cut before the posts are
joined with their authors and the viewer's marks. SQLite (``make run``) reads the same
with plain ``IN`` lists.

Every feed shows only what the viewer may read (:func:`.access.visible_to`); each page is
one statement that also brings the author's name and the viewer's like and bookmark.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Subquery, exists, literal, select, true, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from kit.api.pagination import Keyset, Order, PageParams
from kit.auth import Principal
from kit.db import utcnow
from services.content.models import Bookmark, Follow, Member, Post, PostLike, PostStatus
from services.content.service import access

PINNED_MAX = 10
Viewed = Select[Post, str | None, bool, bool]
"""Posts with their author's name and the viewer's like and bookmark."""
NEWEST = Keyset(Order(col(Post.created_at), descending=True), Order(col(Post.id), descending=True))
HOTTEST = Keyset(Order(col(Post.hot_score), descending=True), Order(col(Post.id), descending=True))
FEATURED = Keyset(
    Order(col(Post.featured_at), descending=True), Order(col(Post.id), descending=True)
)


@dataclass(frozen=True)
class PostView:
    """A post as one viewer sees it."""

    post: Post
    author_name: str | None
    liked: bool
    bookmarked: bool


async def home(
    *, session: AsyncSession, principal: Principal, page: PageParams
) -> tuple[list[PostView], str | None]:
    """Followed accounts, joined circles, my own posts and official posts, newest first."""
    me = principal.user_id
    followed = select(col(Follow.followee_id)).where(col(Follow.follower_id) == me)
    circles = access.my_circles(me)
    published = col(Post.status) == PostStatus.PUBLISHED
    readable = published & (col(Post.members_only).is_(False) | col(Post.circle_id).in_(circles))
    if session.get_bind().dialect.name == "postgresql":
        arms = [
            _per_source(col(Post.author_id), followed.subquery(), readable, page),
            _per_source(col(Post.circle_id), circles.subquery(), published, page),
        ]
    else:
        arms = [
            _arm(col(Post.author_id).in_(followed) & readable, page),
            _arm(col(Post.circle_id).in_(circles) & published, page),
        ]
    arms.append(_arm((col(Post.author_id) == me) & access.visible_to(principal), page))
    arms.append(_arm(col(Post.official).is_(True) & access.readable_by_others(), page))
    merged = union(*arms).subquery()
    newest = (
        select(merged.c.id)
        .order_by(merged.c.created_at.desc(), merged.c.id.desc())
        .limit(page.limit + 1)
        .subquery()
    )
    query = viewed(principal).join(newest, col(Post.id) == newest.c.id)
    return await page_of(
        session=session,
        keyset=NEWEST,
        query=query,
        page=page,
        position=lambda post: (post.created_at, post.id),
    )


def _arm(where: ColumnElement[bool], page: PageParams) -> Select[uuid.UUID, datetime]:
    arm = NEWEST.paged(select(col(Post.id), col(Post.created_at)).where(where), page).subquery()
    return select(arm.c.id, arm.c.created_at)


def _per_source(
    column: Any,
    sources: Subquery,
    readable: ColumnElement[bool],
    page: PageParams,
) -> Select[uuid.UUID, datetime]:
    """One page from each source (a followed account, a circle) by a ``LATERAL`` scan."""
    source_id = next(iter(sources.c))
    latest = NEWEST.paged(
        select(col(Post.id), col(Post.created_at)).where(column == source_id, readable), page
    ).lateral()
    return select(latest.c.id, latest.c.created_at).select_from(sources).join(latest, true())


async def official(
    *, session: AsyncSession, principal: Principal | None, page: PageParams
) -> tuple[list[PostView], str | None]:
    where = col(Post.official).is_(True) & access.readable_by_others()
    return await _newest(session, principal, where, page)


async def city(
    *, session: AsyncSession, principal: Principal | None, city: str, page: PageParams
) -> tuple[list[PostView], str | None]:
    where = (col(Post.city) == city) & access.readable_by_others()
    return await _newest(session, principal, where, page)


async def circle(
    *, session: AsyncSession, principal: Principal | None, circle_id: uuid.UUID, page: PageParams
) -> tuple[list[PostView], str | None]:
    """A circle's posts; the caller checked that ``principal`` may read the circle."""
    where = (col(Post.circle_id) == circle_id) & access.visible_to(principal)
    return await _newest(session, principal, where, page)


async def author(
    *, session: AsyncSession, principal: Principal | None, author_id: uuid.UUID, page: PageParams
) -> tuple[list[PostView], str | None]:
    """A user's posts as the viewer may see them (their author sees held and hidden ones)."""
    where = (col(Post.author_id) == author_id) & access.visible_to(principal)
    return await _newest(session, principal, where, page)


async def featured(
    *, session: AsyncSession, principal: Principal | None, page: PageParams
) -> tuple[list[PostView], str | None]:
    where = col(Post.featured_at).is_not(None) & access.readable_by_others()
    query = viewed(principal).where(where)
    return await page_of(
        session=session,
        keyset=FEATURED,
        query=query,
        page=page,
        position=lambda post: (post.featured_at, post.id),
    )


async def pinned(*, session: AsyncSession, principal: Principal | None) -> list[PostView]:
    """The posts staff pinned to the top of the app, most recently pinned first."""
    query = (
        viewed(principal)
        .where(col(Post.pinned_at).is_not(None), access.readable_by_others())
        .order_by(col(Post.pinned_at).desc(), col(Post.id).desc())
        .limit(PINNED_MAX)
    )
    return [_view(row) for row in (await session.execute(query)).all()]


async def trending(
    *, session: AsyncSession, principal: Principal | None, page: PageParams, window: timedelta
) -> tuple[list[PostView], str | None]:
    """Posts of the recent window by engagement, time-decayed (:mod:`.trending`)."""
    where = (col(Post.created_at) >= utcnow() - window) & access.readable_by_others()
    query = viewed(principal).where(where)
    return await page_of(
        session=session,
        keyset=HOTTEST,
        query=query,
        page=page,
        position=lambda post: (post.hot_score, post.id),
    )


async def bookmarks(
    *, session: AsyncSession, principal: Principal, page: PageParams
) -> tuple[list[PostView], str | None]:
    """My bookmarks, most recently saved first (posts I may no longer read drop out). The
    list joins its own alias of ``bookmarks``: the viewer's ``bookmarked`` subquery keeps
    its own (a join of the table itself would correlate it away)."""
    mine = aliased(Bookmark)
    saved = Keyset(
        Order(col(mine.created_at), descending=True),
        Order(col(mine.post_id), descending=True),
    )
    query = (
        viewed(principal)
        .add_columns(col(mine.created_at))
        .join(mine, col(mine.post_id) == col(Post.id))
        .where(col(mine.user_id) == principal.user_id, access.visible_to(principal))
    )
    rows = (await session.execute(saved.paged(query, page))).all()
    found, next_cursor = saved.page(rows, page, lambda row: (row[-1], row[0].id))
    return [_view(row) for row in found], next_cursor


async def views(
    *, session: AsyncSession, principal: Principal | None, post_ids: list[uuid.UUID]
) -> dict[uuid.UUID, PostView]:
    """The given posts as ``principal`` sees them (visibility checked by the caller)."""
    query = viewed(principal).where(col(Post.id).in_(post_ids))
    return {row[0].id: _view(row) for row in (await session.execute(query)).all()}


async def _newest(
    session: AsyncSession,
    principal: Principal | None,
    where: ColumnElement[bool],
    page: PageParams,
) -> tuple[list[PostView], str | None]:
    query = viewed(principal).where(where)
    return await page_of(
        session=session,
        keyset=NEWEST,
        query=query,
        page=page,
        position=lambda post: (post.created_at, post.id),
    )


def viewed(principal: Principal | None) -> Viewed:
    """Posts with their author's name and the viewer's like and bookmark."""
    liked: ColumnElement[bool] = literal(False)
    saved: ColumnElement[bool] = literal(False)
    if principal is not None:
        liked = exists().where(
            col(PostLike.post_id) == col(Post.id), col(PostLike.user_id) == principal.user_id
        )
        saved = exists().where(
            col(Bookmark.post_id) == col(Post.id), col(Bookmark.user_id) == principal.user_id
        )
    return select(
        Post, col(Member.display_name), liked.label("liked"), saved.label("bookmarked")
    ).outerjoin(Member, col(Member.user_id) == col(Post.author_id))


async def page_of(
    *,
    session: AsyncSession,
    keyset: Keyset,
    query: Viewed,
    page: PageParams,
    position: Callable[[Post], Sequence[object]],
) -> tuple[list[PostView], str | None]:
    rows = (await session.execute(keyset.paged(query, page))).all()
    found, next_cursor = keyset.page(rows, page, lambda row: position(row[0]))
    return [_view(row) for row in found], next_cursor


def _view(
    row: Row[Post, str | None, bool, bool] | Row[Post, str | None, bool, bool, Any],
) -> PostView:
    post, name, liked, bookmarked = row[0], row[1], row[2], row[3]
    return PostView(post=post, author_name=name, liked=bool(liked), bookmarked=bool(bookmarked))
