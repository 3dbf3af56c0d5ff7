"""Initial schema: members, posts and their edits and tags, comments, likes, bookmarks,
follows, circles and members, reports, polls, kit's outbox (ordered), processed events, audit

Revision ID: 0001
Revises:
Create Date: 2026-12-02 02:42:02.382067
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kit.db
from kit.bus.outbox import order_outbox, unorder_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
    )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.create_index("ix_audit_records_actor", ["actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_records_subject", ["subject_id", "at"], unique=False)

    op.create_table(
        "circles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("member_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('interest', 'industry')", name=op.f("ck_circles_kind_known")),
        sa.CheckConstraint("member_count >= 0", name=op.f("ck_circles_member_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circles")),
        sa.UniqueConstraint("name", name=op.f("uq_circles_name")),
    )
    op.create_table(
        "follows",
        sa.Column("follower_id", sa.Uuid(), nullable=False),
        sa.Column("followee_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("follower_id <> followee_id", name=op.f("ck_follows_not_self")),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name=op.f("pk_follows")),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follows_followee_id_created_at", ["followee_id", "created_at"], unique=False
        )

    op.create_table(
        "members",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("registered_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("follower_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("following_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("post_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "follower_count >= 0", name=op.f("ck_members_follower_count_not_negative")
        ),
        sa.CheckConstraint(
            "following_count >= 0", name=op.f("ck_members_following_count_not_negative")
        ),
        sa.CheckConstraint("post_count >= 0", name=op.f("ck_members_post_count_not_negative")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_members")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("lane", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending",
            ["position"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "outbox_sequences",
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "key", name=op.f("pk_outbox_sequences")),
    )
    op.create_table(
        "polls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("question", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("round", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("shortlist_of", sa.Uuid(), nullable=True),
        sa.Column("opens_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("max_weight", sa.Integer(), nullable=False),
        sa.Column("points_per_weight", sa.Integer(), nullable=False),
        sa.Column("voter_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "audience IN ('everyone', 'owners')", name=op.f("ck_polls_audience_known")
        ),
        sa.CheckConstraint("kind IN ('single', 'multiple')", name=op.f("ck_polls_kind_known")),
        sa.CheckConstraint(
            "round IN ('only', 'shortlist', 'final')", name=op.f("ck_polls_round_known")
        ),
        sa.CheckConstraint("closes_at > opens_at", name=op.f("ck_polls_closes_after_open")),
        sa.CheckConstraint("max_weight >= 1", name=op.f("ck_polls_max_weight_positive")),
        sa.CheckConstraint(
            "points_per_weight >= 0", name=op.f("ck_polls_points_per_weight_not_negative")
        ),
        sa.CheckConstraint("voter_count >= 0", name=op.f("ck_polls_voter_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["shortlist_of"], ["polls.id"], name=op.f("fk_polls_shortlist_of_polls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("processed_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'upheld', 'dismissed')", name=op.f("ck_reports_status_known")
        ),
        sa.CheckConstraint(
            "target_kind IN ('post', 'comment')", name=op.f("ck_reports_target_kind_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "target_kind",
            "target_id",
            "reporter_id",
            name=op.f("uq_reports_target_kind_target_id_reporter_id"),
        ),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_author_id_status", ["author_id", "status"], unique=False)
        batch_op.create_index(
            "ix_reports_status_created_at", ["status", "created_at"], unique=False
        )

    op.create_table(
        "circle_members",
        sa.Column("circle_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('member', 'admin')", name=op.f("ck_circle_members_role_known")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'pending')", name=op.f("ck_circle_members_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_members_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("circle_id", "user_id", name=op.f("pk_circle_members")),
    )
    with op.batch_alter_table("circle_members", schema=None) as batch_op:
        batch_op.create_index("ix_circle_members_user_id", ["user_id"], unique=False)

    op.create_table(
        "poll_ballots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("poll_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("option_ids", sa.JSON(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('counted', 'pending_charge', 'refused')",
            name=op.f("ck_poll_ballots_status_known"),
        ),
        sa.CheckConstraint("weight >= 1", name=op.f("ck_poll_ballots_weight_positive")),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_ballots_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_ballots")),
        sa.UniqueConstraint("poll_id", "user_id", name=op.f("uq_poll_ballots_poll_id_user_id")),
    )
    op.create_table(
        "poll_options",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("poll_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("vote_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("weight_total", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("vote_count >= 0", name=op.f("ck_poll_options_vote_count_not_negative")),
        sa.CheckConstraint(
            "weight_total >= 0", name=op.f("ck_poll_options_weight_total_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_options_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_options")),
        sa.UniqueConstraint("poll_id", "position", name=op.f("uq_poll_options_poll_id_position")),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("circle_id", sa.Uuid(), nullable=True),
        sa.Column("members_only", sa.Boolean(), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("moderation_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("moderated_by", sa.Uuid(), nullable=True),
        sa.Column("featured_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pinned_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("circle_pinned_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("like_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("comment_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bookmark_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hot_score", sa.Float(), server_default="0", nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('published', 'held', 'hidden', 'removed', 'deleted')",
            name=op.f("ck_posts_status_known"),
        ),
        sa.CheckConstraint(
            "bookmark_count >= 0", name=op.f("ck_posts_bookmark_count_not_negative")
        ),
        sa.CheckConstraint("comment_count >= 0", name=op.f("ck_posts_comment_count_not_negative")),
        sa.CheckConstraint("like_count >= 0", name=op.f("ck_posts_like_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_posts_circle_id_circles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_posts_author_id_created_at_id", ["author_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_posts_circle_id_status_created_at_id",
            ["circle_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_posts_status_city_created_at_id",
            ["status", "city", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_posts_status_featured_at_id", ["status", "featured_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_posts_status_hot_score_id", ["status", "hot_score", "id"], unique=False
        )
        batch_op.create_index(
            "ix_posts_status_official_created_at_id",
            ["status", "official", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "bookmarks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_bookmarks_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "post_id", name=op.f("pk_bookmarks")),
    )
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bookmarks_user_id_created_at_post_id",
            ["user_id", "created_at", "post_id"],
            unique=False,
        )

    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("moderation_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("moderated_by", sa.Uuid(), nullable=True),
        sa.Column("like_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reply_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('published', 'hidden', 'removed', 'deleted')",
            name=op.f("ck_comments_status_known"),
        ),
        sa.CheckConstraint("like_count >= 0", name=op.f("ck_comments_like_count_not_negative")),
        sa.CheckConstraint("reply_count >= 0", name=op.f("ck_comments_reply_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["comments.id"],
            name=op.f("fk_comments_parent_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_comments_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_author_id", ["author_id"], unique=False)
        batch_op.create_index(
            "ix_comments_post_id_parent_id_created_at_id",
            ["post_id", "parent_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "post_edits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("edited_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_edits_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_edits")),
    )
    with op.batch_alter_table("post_edits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_post_edits_post_id_edited_at", ["post_id", "edited_at"], unique=False
        )

    op.create_table(
        "post_likes",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_likes_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_post_likes")),
    )
    with op.batch_alter_table("post_likes", schema=None) as batch_op:
        batch_op.create_index("ix_post_likes_user_id", ["user_id"], unique=False)

    op.create_table(
        "post_tags",
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_tags_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tag", "post_id", name=op.f("pk_post_tags")),
    )
    op.create_table(
        "comment_likes",
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_likes_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", "user_id", name=op.f("pk_comment_likes")),
    )
    with op.batch_alter_table("comment_likes", schema=None) as batch_op:
        batch_op.create_index("ix_comment_likes_user_id", ["user_id"], unique=False)

    order_outbox(op.get_bind())


def downgrade() -> None:
    unorder_outbox(op.get_bind())
    with op.batch_alter_table("comment_likes", schema=None) as batch_op:
        batch_op.drop_index("ix_comment_likes_user_id")

    op.drop_table("comment_likes")
    op.drop_table("post_tags")
    with op.batch_alter_table("post_likes", schema=None) as batch_op:
        batch_op.drop_index("ix_post_likes_user_id")

    op.drop_table("post_likes")
    with op.batch_alter_table("post_edits", schema=None) as batch_op:
        batch_op.drop_index("ix_post_edits_post_id_edited_at")

    op.drop_table("post_edits")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_post_id_parent_id_created_at_id")
        batch_op.drop_index("ix_comments_author_id")

    op.drop_table("comments")
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.drop_index("ix_bookmarks_user_id_created_at_post_id")

    op.drop_table("bookmarks")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_status_official_created_at_id")
        batch_op.drop_index("ix_posts_status_hot_score_id")
        batch_op.drop_index("ix_posts_status_featured_at_id")
        batch_op.drop_index("ix_posts_status_city_created_at_id")
        batch_op.drop_index("ix_posts_circle_id_status_created_at_id")
        batch_op.drop_index("ix_posts_author_id_created_at_id")

    op.drop_table("posts")
    op.drop_table("poll_options")
    op.drop_table("poll_ballots")
    with op.batch_alter_table("circle_members", schema=None) as batch_op:
        batch_op.drop_index("ix_circle_members_user_id")

    op.drop_table("circle_members")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_status_created_at")
        batch_op.drop_index("ix_reports_author_id_status")

    op.drop_table("reports")
    op.drop_table("processed_events")
    op.drop_table("polls")
    op.drop_table("outbox_sequences")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    op.drop_table("members")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_followee_id_created_at")

    op.drop_table("follows")
    op.drop_table("circles")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_subject")
        batch_op.drop_index("ix_audit_records_actor")

    op.drop_table("audit_records")
