"""Post search: the posts whose text holds every word of the query (a case-insensitive
substring, in any script) and that carry the tag, among those the caller may read, newest
first.

Each word is an ``ILIKE '%word%'``. On PostgreSQL the trigram index ``ix_posts_text_trgm``
(``pg_trgm``, migration 0002) answers it for words of three characters or more; shorter
words, and CJK text in a database whose ``LC_CTYPE`` is ``C``, are filtered by scanning
(the answer is the same, only slower): ADR 0015 has the measurements and the reasons for
trigrams over full-text search. SQLite (``make run``) has no such index and scans.
"""

import uuid

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kit.api.pagination import PageParams
from kit.auth import Principal
from kit.problems import Problem
from services.content.models import Post, PostTag
from services.content.service import access
from services.content.service.feeds import NEWEST, PostView, page_of, viewed

LIKE_ESCAPE = "\\"


def words_of(q: str | None) -> list[str]:
    """The query's distinct words (split at whitespace), in their order."""
    return list(dict.fromkeys((q or "").split()))


def matching(words: list[str], tag: str | None) -> ColumnElement[bool]:
    """Posts whose text holds each of ``words`` (case-insensitively) and that carry ``tag``."""
    conditions = [col(Post.text).ilike(f"%{_escaped(word)}%", escape=LIKE_ESCAPE) for word in words]
    if tag is not None:
        tagged = select(col(PostTag.post_id)).where(col(PostTag.tag) == tag)
        conditions.append(col(Post.id).in_(tagged))
    return and_(*conditions)


async def posts(
    *,
    session: AsyncSession,
    principal: Principal | None,
    q: str | None,
    tag: str | None,
    page: PageParams,
) -> tuple[list[PostView], str | None]:
    """The posts matching ``q`` and ``tag`` that ``principal`` may read (422 with neither)."""
    words = words_of(q)
    if not words and tag is None:
        raise Problem("search by q (a word at least) or tag", status=422, code="no-search-terms")
    query = viewed(principal).where(matching(words, tag), access.visible_to(principal))
    return await page_of(session=session, keyset=NEWEST, query=query, page=page, position=_newest)


def _newest(post: Post) -> tuple[object, uuid.UUID]:
    return post.created_at, post.id


def _escaped(word: str) -> str:
    """``word`` with LIKE's wildcards taken literally."""
    for special in (LIKE_ESCAPE, "%", "_"):
        word = word.replace(special, LIKE_ESCAPE + special)
    return word
