"""Automatic pre-moderation: whose new posts are held for review instead of shown.

A post is held when its author

* had more than ``CONTENT_HELD_SHARE_THRESHOLD`` of their posts of the last 30 days
  upheld-reported (staff upheld a report of them, :mod:`.moderation`), counted once the
  author has ``CONTENT_HELD_SHARE_MIN_POSTS`` posts in that window, or
* has a new account (younger than ``CONTENT_NEW_ACCOUNT_DAYS``) and already posted
  ``CONTENT_NEW_ACCOUNT_POSTS_PER_HOUR`` times in the last hour.

Staff and official posts are never held. A held post is shown to its author (marked) and
to staff, who release it (it is then published) or remove it.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.content.config import ContentSettings
from services.content.models import Member, Post, PostStatus, Report, ReportStatus
from services.content.service.standing import is_new_account

WINDOW = timedelta(days=30)


async def should_hold(
    *, session: AsyncSession, author_id: uuid.UUID, now: datetime, settings: ContentSettings
) -> bool:
    member = await session.get(Member, author_id)
    new_account = timedelta(days=settings.new_account_days)
    if is_new_account(member, now=now, new_account=new_account):
        last_hour = await _posts_since(session, author_id, now - timedelta(hours=1))
        if last_hour >= settings.new_account_posts_per_hour:
            return True
    posts = await _posts_since(session, author_id, now - WINDOW)
    if posts < settings.held_share_min_posts:
        return False
    upheld = await session.scalar(
        select(func.count(distinct(col(Report.target_id))))
        .join(Post, col(Post.id) == col(Report.target_id))
        .where(
            col(Report.author_id) == author_id,
            col(Report.target_kind) == "post",
            col(Report.status) == ReportStatus.UPHELD,
            col(Post.created_at) >= now - WINDOW,
            col(Post.status) != PostStatus.DELETED,
        )
    )
    return (upheld or 0) / posts > settings.held_share_threshold


async def _posts_since(session: AsyncSession, author_id: uuid.UUID, since: datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Post)
        .where(
            col(Post.author_id) == author_id,
            col(Post.created_at) >= since,
            col(Post.status) != PostStatus.DELETED,
        )
    )
    return count or 0
