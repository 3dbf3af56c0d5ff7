"""Content's API models: ``*Create``/``*Update`` request bodies refuse unknown fields;
``*Public`` responses carry text exactly as it was written, as JSON strings (no HTML is
interpreted or produced anywhere: rendering is the app's, as plain text)."""

import enum
import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AnyUrl, Field, StringConstraints, UrlConstraints, model_validator

from kit.api.schemas import PublicModel, StrictBody
from services.content import models
from services.content.models import (
    CircleKind,
    CircleRole,
    CommentStatus,
    MembershipStatus,
    PostStatus,
    ReportStatus,
)

SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
TRIMMED_LINE = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"
"""One line with something besides whitespace (what stays non-empty once stripped)."""
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
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
    StringConstraints(min_length=1, max_length=models.TAG_MAX, pattern=r"^[^\s\x00-\x1f\x7f#,]+$"),
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


class ProfilePublic(PublicModel):
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


class ReasonRequest(StrictBody):
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
