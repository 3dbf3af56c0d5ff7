"""Content's tables: posts and their edits and tags, comments, likes, bookmarks, follows,
circles and their members, reports, polls, and the local copy of members.

Counters are kept by the database: every ``*_count`` moves in the same transaction as the
row it counts (a like row and ``posts.like_count``), by a relative ``UPDATE``, under
``CHECK (... >= 0)``; unique keys make a second like, follow, bookmark or report a no-op.

Visibility is a post's ``status``: only ``published`` posts are shown to others; ``held``
(pre-moderation), ``hidden`` (moderation, reversible) and ``removed`` (moderation, final)
are shown to their author, marked, and to staff; ``deleted`` posts (by the author, or the
account) are shown to nobody. ``members_only`` marks posts of an industry circle, which
only its members read.

They derive from :class:`ContentTable`, whose MetaData is content's own (ADR 0002).
"""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    literal_column,
)
from sqlmodel import Field, SQLModel

from kit.audit import AuditRecord
from kit.bus.outbox import OutboxMessage, OutboxSequence, ProcessedEvent
from kit.db import UTCDateTime, utcnow
from kit.db.metadata import service_registry
from kit.ids import new_id

__all__ = [
    "METADATA",
    "AuditRecord",
    "BallotStatus",
    "Bookmark",
    "Circle",
    "CircleKind",
    "CircleMember",
    "CircleRole",
    "Comment",
    "CommentLike",
    "CommentStatus",
    "ContentTable",
    "Follow",
    "Member",
    "MembershipStatus",
    "OutboxMessage",
    "OutboxSequence",
    "Poll",
    "PollAudience",
    "PollBallot",
    "PollKind",
    "PollOption",
    "PollRound",
    "Post",
    "PostEdit",
    "PostLike",
    "PostStatus",
    "PostTag",
    "ProcessedEvent",
    "Report",
    "ReportStatus",
]

TEXT_MAX = 5000
COMMENT_MAX = 2000
IMAGES_MAX = 9
URL_MAX = 2000
TAG_MAX = 50
TAGS_MAX = 10
CITY_MAX = 100
NAME_MAX = 100
DESCRIPTION_MAX = 2000
REASON_MAX = 500
DISPLAY_NAME_MAX = 100


class PostStatus(enum.StrEnum):
    PUBLISHED = "published"
    HELD = "held"
    HIDDEN = "hidden"
    REMOVED = "removed"
    DELETED = "deleted"


class CommentStatus(enum.StrEnum):
    PUBLISHED = "published"
    HIDDEN = "hidden"
    REMOVED = "removed"
    DELETED = "deleted"


class CircleKind(enum.StrEnum):
    INTEREST = "interest"
    INDUSTRY = "industry"


class CircleRole(enum.StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class MembershipStatus(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class PollKind(enum.StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"


class PollAudience(enum.StrEnum):
    EVERYONE = "everyone"
    OWNERS = "owners"


class PollRound(enum.StrEnum):
    ONLY = "only"
    SHORTLIST = "shortlist"
    FINAL = "final"


class BallotStatus(enum.StrEnum):
    COUNTED = "counted"
    PENDING_CHARGE = "pending_charge"
    REFUSED = "refused"


def one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


class ContentTable(SQLModel, registry=service_registry()):
    """Base of content's tables: they live in :data:`METADATA`, never in ``SQLModel.metadata``."""


METADATA = ContentTable.metadata
"""content's whole schema: its tables and kit's; what its migrations and tests build."""


class Member(ContentTable, table=True):
    """What content knows of a user: identity's announcements (name, city, roles, when they
    registered, deletion), the tier rewards announces, and the counts of their profile."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("follower_count >= 0", name="follower_count_not_negative"),
        CheckConstraint("following_count >= 0", name="following_count_not_negative"),
        CheckConstraint("post_count >= 0", name="post_count_not_negative"),
    )

    user_id: uuid.UUID = Field(primary_key=True)
    display_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    city: str | None = Field(default=None, max_length=CITY_MAX)
    roles: list[Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """Identity's latest announced roles; null until it announced any (token roles decide)."""
    tier: int | None = None
    """The reward tier rewards announced; null until it does."""
    registered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    follower_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    following_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    post_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Post(ContentTable, table=True):
    """A post: UGC or official, with its counters and its moderation state.

    ``ix_posts_text_trgm`` is search's trigram index, PostgreSQL only (migration 0002, ADR
    0015): declared as an expression of ``text`` so that autogenerate compares it on
    PostgreSQL and skips it on SQLite, where no migration creates it."""

    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint(one_of("status", PostStatus), name="status_known"),
        CheckConstraint("like_count >= 0", name="like_count_not_negative"),
        CheckConstraint("comment_count >= 0", name="comment_count_not_negative"),
        CheckConstraint("bookmark_count >= 0", name="bookmark_count_not_negative"),
        Index("ix_posts_author_id_created_at_id", "author_id", "created_at", "id"),
        Index("ix_posts_status_official_created_at_id", "status", "official", "created_at", "id"),
        Index("ix_posts_status_city_created_at_id", "status", "city", "created_at", "id"),
        Index("ix_posts_circle_id_status_created_at_id", "circle_id", "status", "created_at", "id"),
        Index("ix_posts_status_hot_score_id", "status", "hot_score", "id"),
        Index("ix_posts_status_featured_at_id", "status", "featured_at", "id"),
        Index(
            "ix_posts_text_trgm",
            literal_column("text"),
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    author_id: uuid.UUID
    official: bool = False
    text: str = Field(sa_column=Column(Text, nullable=False))
    images: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tags: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    circle_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("circles.id"), nullable=True)
    )
    members_only: bool = False
    """Posted in an industry circle: only its members (and staff) read it."""
    city: str | None = Field(default=None, max_length=CITY_MAX)
    status: str = Field(default=PostStatus.PUBLISHED, max_length=20)
    moderation_reason: str | None = Field(default=None, max_length=REASON_MAX)
    moderated_by: uuid.UUID | None = None
    featured_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pinned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    circle_pinned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    like_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    comment_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    bookmark_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    hot_score: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    """Trending order: engagement on a log scale plus the creation time (see
    :mod:`.service.trending`); it only grows with engagement and never decays in place,
    newer posts simply start higher."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PostEdit(ContentTable, table=True):
    """The version of a post before one edit: the edit history its readers can open."""

    __tablename__ = "post_edits"
    __table_args__ = (Index("ix_post_edits_post_id_edited_at", "post_id", "edited_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    post_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    )
    text: str = Field(sa_column=Column(Text, nullable=False))
    images: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    tags: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    edited_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PostTag(ContentTable, table=True):
    """One tag of one post, for the tag search (``posts.tags`` keeps them for display)."""

    __tablename__ = "post_tags"

    tag: str = Field(primary_key=True, max_length=TAG_MAX)
    post_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    )


class Comment(ContentTable, table=True):
    """A comment on a post, or a reply to one (one level: a reply's parent is a comment)."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint(one_of("status", CommentStatus), name="status_known"),
        CheckConstraint("like_count >= 0", name="like_count_not_negative"),
        CheckConstraint("reply_count >= 0", name="reply_count_not_negative"),
        Index(
            "ix_comments_post_id_parent_id_created_at_id",
            "post_id",
            "parent_id",
            "created_at",
            "id",
        ),
        Index("ix_comments_author_id", "author_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    post_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    )
    parent_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("comments.id", ondelete="CASCADE"), nullable=True)
    )
    author_id: uuid.UUID
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=CommentStatus.PUBLISHED, max_length=20)
    moderation_reason: str | None = Field(default=None, max_length=REASON_MAX)
    moderated_by: uuid.UUID | None = None
    like_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    reply_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PostLike(ContentTable, table=True):
    __tablename__ = "post_likes"
    __table_args__ = (Index("ix_post_likes_user_id", "user_id"),)

    post_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommentLike(ContentTable, table=True):
    __tablename__ = "comment_likes"
    __table_args__ = (Index("ix_comment_likes_user_id", "user_id"),)

    comment_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Bookmark(ContentTable, table=True):
    __tablename__ = "bookmarks"
    __table_args__ = (
        Index("ix_bookmarks_user_id_created_at_post_id", "user_id", "created_at", "post_id"),
    )

    user_id: uuid.UUID = Field(primary_key=True)
    post_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Follow(ContentTable, table=True):
    """``follower_id`` follows ``followee_id``."""

    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="not_self"),
        Index("ix_follows_followee_id_created_at", "followee_id", "created_at"),
    )

    follower_id: uuid.UUID = Field(primary_key=True)
    followee_id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Circle(ContentTable, table=True):
    """An interest circle (anyone joins) or an industry circle (verified owners, approved)."""

    __tablename__ = "circles"
    __table_args__ = (
        CheckConstraint(one_of("kind", CircleKind), name="kind_known"),
        CheckConstraint("member_count >= 0", name="member_count_not_negative"),
        UniqueConstraint("name"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=NAME_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    kind: str = Field(max_length=20)
    created_by: uuid.UUID
    member_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CircleMember(ContentTable, table=True):
    """A user's membership of a circle: active or pending approval, member or admin."""

    __tablename__ = "circle_members"
    __table_args__ = (
        CheckConstraint(one_of("role", CircleRole), name="role_known"),
        CheckConstraint(one_of("status", MembershipStatus), name="status_known"),
        Index("ix_circle_members_user_id", "user_id"),
    )

    circle_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: uuid.UUID = Field(primary_key=True)
    role: str = Field(default=CircleRole.MEMBER, max_length=20)
    status: str = Field(default=MembershipStatus.ACTIVE, max_length=20)
    decided_by: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Report(ContentTable, table=True):
    """A user's report of a post or comment, and staff's verdict on it."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(one_of("status", ReportStatus), name="status_known"),
        CheckConstraint("target_kind IN ('post', 'comment')", name="target_kind_known"),
        UniqueConstraint("target_kind", "target_id", "reporter_id"),
        Index("ix_reports_status_created_at", "status", "created_at"),
        Index("ix_reports_author_id_status", "author_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    target_kind: str = Field(max_length=20)
    target_id: uuid.UUID
    author_id: uuid.UUID
    """The author of the reported post or comment (pre-moderation counts upheld reports)."""
    reporter_id: uuid.UUID
    reason: str = Field(max_length=REASON_MAX)
    status: str = Field(default=ReportStatus.OPEN, max_length=20)
    resolved_by: uuid.UUID | None = None
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


POLL_OPTIONS_MAX = 20
POLL_WEIGHT_MAX = 100
POLL_POINTS_PER_WEIGHT_MAX = 100_000


class Poll(ContentTable, table=True):
    """A staff poll; a weighted final round is created from a closed shortlist round."""

    __tablename__ = "polls"
    __table_args__ = (
        CheckConstraint(one_of("kind", PollKind), name="kind_known"),
        CheckConstraint(one_of("audience", PollAudience), name="audience_known"),
        CheckConstraint(one_of("round", PollRound), name="round_known"),
        CheckConstraint("closes_at > opens_at", name="closes_after_open"),
        CheckConstraint("max_weight >= 1", name="max_weight_positive"),
        CheckConstraint("points_per_weight >= 0", name="points_per_weight_not_negative"),
        CheckConstraint("voter_count >= 0", name="voter_count_not_negative"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    question: str = Field(max_length=REASON_MAX)
    kind: str = Field(default=PollKind.SINGLE, max_length=20)
    audience: str = Field(default=PollAudience.EVERYONE, max_length=20)
    round: str = Field(default=PollRound.ONLY, max_length=20)
    shortlist_of: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("polls.id"), nullable=True)
    )
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    max_weight: int = 1
    """Weighted rounds: the most weight one vote may carry; 1 means unweighted."""
    points_per_weight: int = 0
    """Points charged per unit of weight above 1 (the first is free)."""
    voter_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PollOption(ContentTable, table=True):
    """One option of a poll and its live counts (votes and the weight they carry)."""

    __tablename__ = "poll_options"
    __table_args__ = (
        UniqueConstraint("poll_id", "position"),
        CheckConstraint("vote_count >= 0", name="vote_count_not_negative"),
        CheckConstraint("weight_total >= 0", name="weight_total_not_negative"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    poll_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("polls.id", ondelete="CASCADE"), nullable=False)
    )
    position: int
    label: str = Field(max_length=NAME_MAX)
    vote_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    weight_total: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class PollBallot(ContentTable, table=True):
    """One user's vote in one poll: the options chosen, the weight, whether it counts."""

    __tablename__ = "poll_ballots"
    __table_args__ = (
        UniqueConstraint("poll_id", "user_id"),
        CheckConstraint(one_of("status", BallotStatus), name="status_known"),
        CheckConstraint("weight >= 1", name="weight_positive"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    poll_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("polls.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: uuid.UUID
    option_ids: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    weight: int = 1
    status: str = Field(default=BallotStatus.COUNTED, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
