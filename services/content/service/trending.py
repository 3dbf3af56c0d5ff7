"""Trending order: ``hot_score = log10(max(engagement, 1)) + created_epoch / DECAY_SECONDS``.

Engagement is likes + 2 x comments + 3 x bookmarks. A post needs ten times the engagement
of one created ``DECAY_SECONDS`` (12.5 h) later to rank with it: the time decay, without
ever rewriting old scores (the score of a post moves only when its engagement does, so a
cursor through the trending feed stays stable while time passes). The feed reads the
posts of the recent window (``CONTENT_TRENDING_WINDOW_HOURS``) by this score.
"""

import math
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.content.models import Post

DECAY_SECONDS = 45_000


def hot_score(*, created_at: datetime, likes: int, comments: int, bookmarks: int) -> float:
    engagement = likes + 2 * comments + 3 * bookmarks
    return math.log10(max(engagement, 1)) + created_at.timestamp() / DECAY_SECONDS


async def rescore(
    *,
    session: AsyncSession,
    post_id: uuid.UUID,
    created_at: datetime,
    likes: int,
    comments: int,
    bookmarks: int,
) -> None:
    """Store the post's score after its counters moved (its row is locked already)."""
    score = hot_score(created_at=created_at, likes=likes, comments=comments, bookmarks=bookmarks)
    await session.execute(update(Post).where(col(Post.id) == post_id).values(hot_score=score))
