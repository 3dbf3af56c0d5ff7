"""Events published by the content service on ``content.*``.

* ``content.posts`` (keyed by post id): a post's life — published, updated, featured,
  removed — and its likes, so a consumer sees one post's history in commit order.
* ``content.comments`` (keyed by post id): comments created and removed under a post.
* ``content.follows`` (keyed by the followed user): follows and unfollows.
* ``content.circles`` (keyed by circle id): circle membership changes.
* ``content.polls`` (keyed by poll id): votes cast and the points a weighted vote asks for.
* ``content.moderation`` (keyed by the reported post or comment): upheld reports, one
  event per reporter, so rewards can credit each reporter once.

Rewards (future) credits authors on ``post.published``, ``comment.created`` and
``post.liked`` (``author_id`` is the one who earns) and takes it back on ``post.removed``
and ``comment.removed``; it credits reporters on ``report.upheld`` and charges
``poll.vote_charge_requested``, answering with ``rewards.poll_charge.settled``.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from contracts.catalog import Payload, event, topic

CONTENT_POSTS = topic(
    "content.posts",
    "Posts of the community feed: published, updated, featured, removed, liked, unliked "
    "(keyed by post id)",
)
CONTENT_COMMENTS = topic(
    "content.comments", "Comments on posts: created and removed (keyed by post id)"
)
CONTENT_FOLLOWS = topic(
    "content.follows", "Who follows whom: followed and unfollowed (keyed by the followed user)"
)
CONTENT_CIRCLES = topic(
    "content.circles", "Membership of interest and industry circles (keyed by circle id)"
)
CONTENT_POLLS = topic(
    "content.polls", "Poll votes and the points weighted votes ask for (keyed by poll id)"
)
CONTENT_MODERATION = topic(
    "content.moderation",
    "Outcomes of moderation that credit someone: upheld reports (keyed by the reported item)",
)

RemovalReason = Literal["moderation", "author", "account_deleted"]
TargetKind = Literal["post", "comment"]
MembershipChange = Literal["joined", "requested", "approved", "left", "removed", "promoted"]


@event("content.post.published.v1", topic=CONTENT_POSTS, subject="post_id")
class PostPublished(Payload):
    """A post became visible to others (at once, or when staff released it from review)."""

    post_id: UUID
    author_id: UUID
    official: bool
    circle_id: UUID | None
    city: str | None
    tags: list[str]
    image_count: int
    published_at: datetime


@event("content.post.updated.v1", topic=CONTENT_POSTS, subject="post_id")
class PostUpdated(Payload):
    """The author edited a post within the edit window; ``changed`` names the fields."""

    post_id: UUID
    author_id: UUID
    changed: list[str]
    updated_at: datetime


@event("content.post.featured.v1", topic=CONTENT_POSTS, subject="post_id")
class PostFeatured(Payload):
    """Staff featured a post (rewards credits its author once per post)."""

    post_id: UUID
    author_id: UUID
    featured_by: UUID


@event("content.post.removed.v1", topic=CONTENT_POSTS, subject="post_id")
class PostRemoved(Payload):
    """A published post is gone for good: whatever it earned can be reversed."""

    post_id: UUID
    author_id: UUID
    reason: RemovalReason
    removed_by: UUID | None
    note: str | None = None


@event("content.post.liked.v1", topic=CONTENT_POSTS, subject="post_id")
class PostLiked(Payload):
    """A user liked a post (liking twice is one like and one event)."""

    post_id: UUID
    author_id: UUID
    user_id: UUID
    like_count: int


@event("content.post.unliked.v1", topic=CONTENT_POSTS, subject="post_id")
class PostUnliked(Payload):
    """A user took their like back."""

    post_id: UUID
    author_id: UUID
    user_id: UUID
    like_count: int


@event("content.comment.created.v1", topic=CONTENT_COMMENTS, subject="post_id")
class CommentCreated(Payload):
    """A comment (``parent_id`` null) or a reply was written under a post."""

    comment_id: UUID
    post_id: UUID
    author_id: UUID
    parent_id: UUID | None
    post_author_id: UUID


@event("content.comment.removed.v1", topic=CONTENT_COMMENTS, subject="post_id")
class CommentRemoved(Payload):
    """A comment is gone for good (its author deleted it, or moderation removed it)."""

    comment_id: UUID
    post_id: UUID
    author_id: UUID
    reason: RemovalReason
    removed_by: UUID | None


@event("content.user.followed.v1", topic=CONTENT_FOLLOWS, subject="followee_id")
class UserFollowed(Payload):
    """``follower_id`` now follows ``followee_id``."""

    follower_id: UUID
    followee_id: UUID
    follower_count: int


@event("content.user.unfollowed.v1", topic=CONTENT_FOLLOWS, subject="followee_id")
class UserUnfollowed(Payload):
    """``follower_id`` stopped following ``followee_id``."""

    follower_id: UUID
    followee_id: UUID
    follower_count: int


@event("content.circle.membership_changed.v1", topic=CONTENT_CIRCLES, subject="circle_id")
class CircleMembershipChanged(Payload):
    """A user joined, asked to join, was approved, left, was removed from or promoted to
    admin of a circle; ``status`` and ``role`` are the membership after the change
    (``status`` null when there is no membership any more)."""

    circle_id: UUID
    user_id: UUID
    change: MembershipChange
    status: Literal["active", "pending"] | None
    role: Literal["member", "admin"] | None
    changed_by: UUID | None
    member_count: int


@event("content.poll.vote_cast.v1", topic=CONTENT_POLLS, subject="poll_id")
class PollVoteCast(Payload):
    """A vote was counted (``option_ids`` replace the voter's earlier choice)."""

    poll_id: UUID
    user_id: UUID
    option_ids: list[UUID]
    weight: int


@event("content.poll.vote_charge_requested.v1", topic=CONTENT_POLLS, subject="poll_id")
class PollVoteChargeRequested(Payload):
    """A weighted vote waits for its points: rewards charges ``points`` and answers with
    ``rewards.poll_charge.settled`` naming ``ballot_id``; only then is the vote counted."""

    poll_id: UUID
    ballot_id: UUID
    user_id: UUID
    weight: int
    points: int


@event("content.report.upheld.v1", topic=CONTENT_MODERATION, subject="target_id")
class ReportUpheld(Payload):
    """Staff upheld ``reporter_id``'s report of a post or comment: the reporter is credited."""

    report_id: UUID
    target_kind: TargetKind
    target_id: UUID
    reporter_id: UUID
    author_id: UUID
    resolved_by: UUID
