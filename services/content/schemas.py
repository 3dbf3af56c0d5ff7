"""Content's API models: ``*Create``/``*Update`` request bodies refuse unknown fields;
``*Public`` responses carry text exactly as it was written, as JSON strings (no HTML is
interpreted or produced anywhere: rendering is the app's, as plain text)."""

import enum
import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AnyUrl, Field, StringConstraints, UrlConstraints, model_validator

from kit.api.schemas import TRIMMED_LINE, VISIBLE, PublicModel, StrictBody
from kit.api.times import IsoDateTime
from services.content import models
from services.content.models import (
    BallotStatus,
    CircleKind,
    CircleRole,
    CommentStatus,
    MembershipStatus,
    PollAudience,
    PollKind,
    PollRound,
    PostStatus,
    ReportStatus,
)

SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
TAG_CHARACTER = VISIBLE[:-1] + "#,]"
"""A visible character other than ``#`` and comma."""
TEXT = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*{VISIBLE}[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Multi-line text with something besides whitespace: tab and line breaks kept, other
control characters refused (PostgreSQL cannot store NUL)."""

PostText = Annotated[str, StringConstraints(min_length=1, max_length=models.TEXT_MAX, pattern=TEXT)]
CommentText = Annotated[
    str, StringConstraints(min_length=1, max_length=models.COMMENT_MAX, pattern=TEXT)
]
Reason = Annotated[
    str, StringConstraints(min_length=1, max_length=models.REASON_MAX, pattern=TRIMMED_LINE)
]
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=models.TAG_MAX, pattern=f"^{TAG_CHARACTER}+$"),
]
"""One word: no whitespace, ``#`` or comma (the app writes ``#tag``, the API ``tag``)."""
City = Annotated[
    str, StringConstraints(min_length=1, max_length=models.CITY_MAX, pattern=TRIMMED_LINE)
]
ImageUrl = Annotated[
    AnyUrl,
    UrlConstraints(max_length=models.URL_MAX, allowed_schemes=["https"], host_required=True),
]
"""An ``https`` URL of an image the app uploaded elsewhere; any other scheme is a 422."""


# --- posts and feeds ----------------------------------------------------------------------


class PostCreate(StrictBody):
    text: PostText
    images: list[ImageUrl] = Field(default_factory=list, max_length=models.IMAGES_MAX)
    tags: list[Tag] = Field(default_factory=list, max_length=models.TAGS_MAX)
    circle_id: uuid.UUID | None = None
    city: City | None = None
    official: bool = Field(
        default=False, description="an official post of the brand: staff only (else a 403)"
    )


class PostUpdate(StrictBody):
    text: PostText | None = None
    images: list[ImageUrl] | None = Field(default=None, max_length=models.IMAGES_MAX)
    tags: list[Tag] | None = Field(default=None, max_length=models.TAGS_MAX)

    @model_validator(mode="after")
    def _something_changes(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one of text, images, tags")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("text, images and tags cannot be null")
        return self


class AuthorPublic(PublicModel):
    id: uuid.UUID
    display_name: str | None = Field(
        description="as identity announced it; null until it did (or after deletion)"
    )


class ViewerPublic(PublicModel):
    """What the caller has done to this post (all false without a token)."""

    liked: bool
    bookmarked: bool


class PostPublic(PublicModel):
    id: uuid.UUID
    author: AuthorPublic
    official: bool
    text: str
    images: list[str]
    tags: list[str]
    circle_id: uuid.UUID | None
    members_only: bool
    city: str | None
    status: PostStatus = Field(
        description="``published`` for everyone; its author and staff also see their "
        "``held``, ``hidden`` and ``removed`` posts, marked by this field"
    )
    moderation_reason: str | None = Field(
        description="why moderation hid or removed it (shown to its author and staff)"
    )
    featured: bool
    pinned: bool
    like_count: int
    comment_count: int
    bookmark_count: int
    created_at: datetime
    edited_at: datetime | None
    viewer: ViewerPublic


class PostEditPublic(PublicModel):
    """The post as it was before one edit."""

    id: uuid.UUID
    text: str
    images: list[str]
    tags: list[str]
    edited_at: datetime


# --- comments, likes, bookmarks, follows, profiles ----------------------------------------


class CommentCreate(StrictBody):
    text: CommentText
    parent_id: uuid.UUID | None = Field(
        default=None,
        description="reply to this comment: a published top-level comment of the same post",
    )


class CommentViewerPublic(PublicModel):
    """What the caller has done to this comment (false without a token)."""

    liked: bool


class CommentPublic(PublicModel):
    id: uuid.UUID
    post_id: uuid.UUID
    parent_id: uuid.UUID | None = Field(description="the comment this replies to; null on top")
    author: AuthorPublic | None = Field(
        description="null on a deleted comment, which stays (``status`` ``deleted``, empty "
        "``text``) only while replies hang under it"
    )
    text: str
    status: CommentStatus = Field(
        description="``published`` for everyone; its author and staff also see their "
        "``hidden`` and ``removed`` comments; ``deleted`` marks the placeholder of a deleted "
        "comment that has replies"
    )
    moderation_reason: str | None = Field(
        description="why moderation hid or removed it (shown to its author and staff)"
    )
    like_count: int
    reply_count: int
    created_at: datetime
    viewer: CommentViewerPublic


class LikePublic(PublicModel):
    liked: bool
    like_count: int


class BookmarkPublic(PublicModel):
    bookmarked: bool
    bookmark_count: int


class MemberProfilePublic(PublicModel):
    id: uuid.UUID
    display_name: str | None = Field(description="as identity announced it; null until it did")
    follower_count: int
    following_count: int
    post_count: int
    viewer_follows: bool = Field(
        description="whether the caller follows them (false without a token)"
    )


class FollowPublic(PublicModel):
    """One account in a list of followers or followed accounts."""

    user: AuthorPublic
    followed_at: datetime


# --- circles, moderation, standing --------------------------------------------------------


CircleName = Annotated[
    str, StringConstraints(min_length=1, max_length=models.NAME_MAX, pattern=TRIMMED_LINE)
]
CircleDescription = Annotated[
    str,
    StringConstraints(
        max_length=models.DESCRIPTION_MAX,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
    ),
]


class CircleCreate(StrictBody):
    name: CircleName = Field(description="unique among circles")
    description: CircleDescription = ""
    kind: CircleKind = Field(
        description="``interest``: anyone joins; ``industry``: verified owners, approved by "
        "a circle admin; only staff and owners create one"
    )


class MembershipPublic(PublicModel):
    """One user's membership of a circle."""

    circle_id: uuid.UUID
    user_id: uuid.UUID
    role: CircleRole
    status: MembershipStatus = Field(
        description="``pending`` until a circle admin or staff approves (industry circles)"
    )
    created_at: datetime


class CircleMemberPublic(PublicModel):
    user: AuthorPublic
    role: CircleRole
    status: MembershipStatus
    created_at: datetime


class CirclePublic(PublicModel):
    id: uuid.UUID
    name: str
    description: str
    kind: CircleKind
    member_count: int = Field(description="active members (pending requests not counted)")
    created_by: uuid.UUID
    created_at: datetime
    membership: MembershipPublic | None = Field(
        description="the caller's own membership; null without one (or without a token)"
    )


class ReportTarget(enum.StrEnum):
    POST = "post"
    COMMENT = "comment"


class ModerationReason(StrictBody):
    reason: Reason = Field(description="shown to the author of what is moderated")


class ReportCreate(StrictBody):
    target_kind: ReportTarget
    target_id: uuid.UUID
    reason: Reason


class ReportPublic(PublicModel):
    id: uuid.UUID
    target_kind: ReportTarget
    target_id: uuid.UUID
    reason: str
    status: ReportStatus
    created_at: datetime


class ReportedTargetPublic(PublicModel):
    """A post or comment with open reports, as the staff queue shows it."""

    target_kind: ReportTarget
    target_id: uuid.UUID
    author_id: uuid.UUID
    report_count: int = Field(description="its open reports")
    reasons: list[str] = Field(description="the open reports' reasons, oldest first")
    first_reported_at: datetime


class Verdict(enum.StrEnum):
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class ResolutionCreate(StrictBody):
    target_kind: ReportTarget
    target_id: uuid.UUID
    verdict: Verdict = Field(
        description="``upheld`` credits each reporter (``content.report.upheld``); moderating "
        "the target itself is a separate action"
    )


class ResolutionPublic(PublicModel):
    target_kind: ReportTarget
    target_id: uuid.UUID
    verdict: Verdict
    resolved: int = Field(description="how many open reports this verdict closed")


class ModeratedCommentPublic(PublicModel):
    """A comment as staff moderated it."""

    id: uuid.UUID
    post_id: uuid.UUID
    author_id: uuid.UUID
    status: CommentStatus
    moderation_reason: str | None


# --- polls, search ------------------------------------------------------------------------


class PollState(enum.StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


Question = Annotated[
    str, StringConstraints(min_length=1, max_length=models.REASON_MAX, pattern=TRIMMED_LINE)
]
OptionLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=models.NAME_MAX, pattern=TRIMMED_LINE)
]
Weight = Annotated[int, Field(ge=1, le=models.POLL_WEIGHT_MAX)]
SEARCH_QUERY_MAX = 100
SearchQuery = Annotated[
    str, StringConstraints(min_length=1, max_length=SEARCH_QUERY_MAX, pattern=SINGLE_LINE)
]
"""Words to find, separated by spaces (one line: no control characters)."""
PointsPerWeight = Annotated[int, Field(ge=0, le=models.POLL_POINTS_PER_WEIGHT_MAX)]


class PollSchedule(StrictBody):
    opens_at: IsoDateTime
    closes_at: IsoDateTime = Field(description="after ``opens_at``, and in the future")
    max_weight: Weight = Field(
        default=1, description="the most weight one vote may carry; 1 means unweighted"
    )
    points_per_weight: PointsPerWeight = Field(
        default=0,
        description="points charged per unit of weight above 1 (the first is free); with 0, "
        "weight is free",
    )

    @model_validator(mode="after")
    def _closes_after_opening(self) -> Self:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        return self


class PollCreate(PollSchedule):
    question: Question
    kind: PollKind = PollKind.SINGLE
    options: list[OptionLabel] = Field(
        min_length=2,
        max_length=models.POLL_OPTIONS_MAX,
        description="labels, distinct (compared case-insensitively, ignoring outer spaces)",
    )
    audience: PollAudience = PollAudience.EVERYONE

    @model_validator(mode="after")
    def _distinct_options(self) -> Self:
        labels = [label.strip().casefold() for label in self.options]
        if len(set(labels)) != len(labels):
            raise ValueError("options must be distinct")
        return self


class FinalRoundCreate(PollSchedule):
    top: int = Field(ge=2, le=10, description="how many of the shortlist's leaders go on")


class PollVote(StrictBody):
    option_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=models.POLL_OPTIONS_MAX,
        description="a single-choice poll takes exactly one",
    )
    weight: Weight = Field(
        default=1,
        description="up to the poll's ``max_weight``; above 1 in a poll that charges points, "
        "the vote counts once rewards charged them",
    )


class PollOptionPublic(PublicModel):
    id: uuid.UUID
    label: str
    position: int
    vote_count: int = Field(description="counted ballots choosing it")
    weight_total: int = Field(description="the weight those ballots carry")


class BallotPublic(PublicModel):
    """The viewer's ballot: ``pending_charge`` until rewards charged its points (it is
    not counted until then), ``refused`` when they could not be charged."""

    id: uuid.UUID
    option_ids: list[uuid.UUID]
    weight: int
    status: BallotStatus
    updated_at: datetime


class PollPublic(PublicModel):
    id: uuid.UUID
    question: str
    kind: PollKind
    audience: PollAudience
    round: PollRound = Field(
        description="``only``; a poll whose leaders went on to a final round is a "
        "``shortlist``, that round a ``final``"
    )
    shortlist_of: uuid.UUID | None = Field(description="a final round: the shortlist poll")
    opens_at: datetime
    closes_at: datetime
    max_weight: int
    points_per_weight: int
    state: PollState
    voter_count: int = Field(description="counted ballots")
    options: list[PollOptionPublic] = Field(description="in the order given at creation")
    winner_ids: list[uuid.UUID] | None = Field(
        description="once closed: the options with the most weight (several on a tie, none "
        "without votes); null before"
    )
    my_ballot: BallotPublic | None
    created_at: datetime
