"""Reports and moderation: users report posts and comments, staff work the queue and
moderate; circle admins moderate their own circle's posts (:mod:`.circles`).

A post moves ``published`` → ``hidden`` (reversible, ``restore``), ``held`` →
``published`` (``release``, announced then), and ``published``/``held``/``hidden`` →
``removed`` (final; a post that had been announced is announced as removed, reason
``moderation``). A comment moves ``published`` ⇄ ``hidden`` and to ``removed`` (final,
announced, ``posts.comment_count`` corrected). Any other move is a 409 and changes nothing.
The author still sees their hidden or removed post, marked, with the moderator's reason.

Reports: one per reporter and target (a second is the first, unchanged); staff see the
targets with open reports, oldest first, and resolve all of a target's open reports with
one verdict; ``upheld`` publishes one ``content.report.upheld`` per reporter (each is
credited once) and counts toward the author's pre-moderation (:mod:`.premoderation`).

Every staff or circle-admin action is an audit record (:func:`kit.audit.record_action`).
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from contracts.content import CommentRemoved, PostFeatured, PostRemoved, ReportUpheld
from kit.api.pagination import Keyset, Order, PageParams
from kit.audit import record_action
from kit.auth import Principal
from kit.bus.outbox import publish
from kit.db import dialect_insert, utcnow
from kit.ids import new_id
from kit.problems import Conflict, NotFound, Problem
from services.content.models import Comment, CommentStatus, Post, PostStatus, Report, ReportStatus
from services.content.schemas import ReportCreate, ReportTarget, Verdict
from services.content.service import access, comments, posts


class PostAction(enum.StrEnum):
    HIDE = "hide"
    RESTORE = "restore"
    REMOVE = "remove"
    RELEASE = "release"
    FEATURE = "feature"
    PIN = "pin"
    UNPIN = "unpin"


class CommentAction(enum.StrEnum):
    HIDE = "hide"
    RESTORE = "restore"
    REMOVE = "remove"


ANNOUNCED = frozenset({PostStatus.PUBLISHED, PostStatus.HIDDEN})
"""Post states that follow a ``post.published`` announcement."""
POST_MOVES: dict[PostAction, tuple[frozenset[str], PostStatus | None]] = {
    PostAction.HIDE: (frozenset({PostStatus.PUBLISHED}), PostStatus.HIDDEN),
    PostAction.RESTORE: (frozenset({PostStatus.HIDDEN}), PostStatus.PUBLISHED),
    PostAction.REMOVE: (
        frozenset({PostStatus.PUBLISHED, PostStatus.HELD, PostStatus.HIDDEN}),
        PostStatus.REMOVED,
    ),
    PostAction.RELEASE: (frozenset({PostStatus.HELD}), PostStatus.PUBLISHED),
    PostAction.FEATURE: (frozenset({PostStatus.PUBLISHED}), None),
    PostAction.PIN: (frozenset({PostStatus.PUBLISHED}), None),
    PostAction.UNPIN: (frozenset(PostStatus) - {PostStatus.DELETED}, None),
}
"""Each action: the states it starts from and the state it leaves (``None``: unchanged)."""
COMMENT_MOVES: dict[CommentAction, tuple[frozenset[str], CommentStatus]] = {
    CommentAction.HIDE: (frozenset({CommentStatus.PUBLISHED}), CommentStatus.HIDDEN),
    CommentAction.RESTORE: (frozenset({CommentStatus.HIDDEN}), CommentStatus.PUBLISHED),
    CommentAction.REMOVE: (
        frozenset({CommentStatus.PUBLISHED, CommentStatus.HIDDEN}),
        CommentStatus.REMOVED,
    ),
}
OLDEST = Keyset(Order(col(Post.created_at)), Order(col(Post.id)))


def illegal(kind: str, status: str, action: str) -> Conflict:
    return Conflict(f"a {status} {kind} cannot be {action}d", code="illegal-transition")


async def locked_post(*, session: AsyncSession, post_id: uuid.UUID) -> Post:
    """The post, locked for moderation (404 when it does not exist or was deleted)."""
    post = await session.get(Post, post_id, with_for_update=True)
    if post is None or post.status == PostStatus.DELETED:
        raise NotFound("no such post")
    return post


async def apply_post_action(
    *,
    session: AsyncSession,
    post: Post,
    action: PostAction,
    actor: uuid.UUID,
    reason: str | None,
    scope: str = "moderation",
) -> None:
    """Move the locked ``post`` by ``action`` (409 when its state does not allow it),
    announce what others must learn, and record who did it (audit ``<scope>.post.<action>``)."""
    allowed, after = POST_MOVES[action]
    before = post.status
    if before not in allowed:
        raise illegal("post", before, action)
    now = utcnow()
    if after is not None:
        post.status = after
    if action in (PostAction.HIDE, PostAction.REMOVE):
        post.moderation_reason, post.moderated_by = reason, actor
    elif action in (PostAction.RESTORE, PostAction.RELEASE):
        post.moderation_reason, post.moderated_by = None, actor
    newly_featured = action == PostAction.FEATURE and post.featured_at is None
    if newly_featured:
        post.featured_at = now
    if action == PostAction.PIN:
        post.pinned_at = post.pinned_at or now
    if action == PostAction.UNPIN:
        post.pinned_at = None
    post.updated_at = now
    await session.flush()
    if action == PostAction.RELEASE:
        posts.announce_published(session=session, post=post, actor=actor, at=now)
    if action == PostAction.REMOVE and before in ANNOUNCED:
        publish(
            session,
            PostRemoved(
                post_id=post.id,
                author_id=post.author_id,
                reason="moderation",
                removed_by=actor,
                note=reason,
            ),
            actor=actor,
        )
    if newly_featured:
        publish(
            session,
            PostFeatured(post_id=post.id, author_id=post.author_id, featured_by=actor),
            actor=actor,
        )
    record_action(
        session,
        actor=actor,
        action=f"{scope}.post.{action}",
        subject=post.id,
        status_before=before,
        status_after=post.status,
        reason=reason,
    )


async def moderate_post(
    *,
    session: AsyncSession,
    post_id: uuid.UUID,
    action: PostAction,
    principal: Principal,
    reason: str | None = None,
) -> Post:
    """Staff's move of a post (the route checked the caller is staff)."""
    post = await locked_post(session=session, post_id=post_id)
    await apply_post_action(
        session=session, post=post, action=action, actor=principal.user_id, reason=reason
    )
    return post


async def moderate_comment(
    *,
    session: AsyncSession,
    comment_id: uuid.UUID,
    action: CommentAction,
    principal: Principal,
    reason: str | None = None,
) -> Comment:
    """Staff's move of a comment; removing one corrects its post's (and parent's) counts."""
    comment = await session.get(Comment, comment_id, with_for_update=True)
    if comment is None or comment.status == CommentStatus.DELETED:
        raise NotFound("no such comment")
    allowed, after = COMMENT_MOVES[action]
    before = comment.status
    if before not in allowed:
        raise illegal("comment", before, action)
    comment.status = after
    comment.moderation_reason = None if action == CommentAction.RESTORE else reason
    comment.moderated_by = principal.user_id
    comment.updated_at = utcnow()
    await session.flush()
    if action == CommentAction.REMOVE:
        await comments.uncount(session=session, comment=comment)
        publish(
            session,
            CommentRemoved(
                comment_id=comment.id,
                post_id=comment.post_id,
                author_id=comment.author_id,
                reason="moderation",
                removed_by=principal.user_id,
            ),
            actor=principal.user_id,
        )
    record_action(
        session,
        actor=principal.user_id,
        action=f"moderation.comment.{action}",
        subject=comment.id,
        status_before=before,
        status_after=comment.status,
        reason=reason,
    )
    return comment


async def held(*, session: AsyncSession, page: PageParams) -> tuple[list[uuid.UUID], str | None]:
    """The posts waiting for review, oldest first (their ids)."""
    query = select(col(Post.id), col(Post.created_at)).where(col(Post.status) == PostStatus.HELD)
    found = (await session.execute(OLDEST.paged(query, page))).all()
    rows, next_cursor = OLDEST.page(found, page, lambda row: (row[1], row[0]))
    return [row[0] for row in rows], next_cursor


# --- reports ------------------------------------------------------------------------------


async def report(
    *, session: AsyncSession, data: ReportCreate, principal: Principal
) -> tuple[Report, bool]:
    """File the caller's report (and whether it is new: a second one is the first)."""
    author_id = await _reportable_author(session, data.target_kind, data.target_id, principal)
    if author_id == principal.user_id:
        raise Problem("you cannot report your own content", status=422, code="own-content")
    inserted = await session.scalar(
        dialect_insert(session, Report)
        .values(
            id=new_id(),
            target_kind=data.target_kind,
            target_id=data.target_id,
            author_id=author_id,
            reporter_id=principal.user_id,
            reason=data.reason,
            status=ReportStatus.OPEN,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["target_kind", "target_id", "reporter_id"])
        .returning(col(Report.id))
    )
    found = await session.scalar(
        select(Report).where(
            col(Report.target_kind) == data.target_kind,
            col(Report.target_id) == data.target_id,
            col(Report.reporter_id) == principal.user_id,
        )
    )
    assert found is not None
    return found, inserted is not None


async def _reportable_author(
    session: AsyncSession, kind: ReportTarget, target_id: uuid.UUID, principal: Principal
) -> uuid.UUID:
    """The author of what ``principal`` reports, when they may read it (else 404)."""
    if kind == ReportTarget.POST:
        post = await access.readable_post(session=session, post_id=target_id, principal=principal)
        return post.author_id
    comment = await session.get(Comment, target_id)
    if comment is None or comment.status == CommentStatus.DELETED:
        raise NotFound("no such comment")
    mine = comment.author_id == principal.user_id
    if comment.status != CommentStatus.PUBLISHED and not (mine or access.is_staff(principal)):
        raise NotFound("no such comment")
    try:
        await access.readable_post(session=session, post_id=comment.post_id, principal=principal)
    except NotFound:
        raise NotFound("no such comment") from None
    return comment.author_id


@dataclass(frozen=True)
class ReportedTarget:
    """A post or comment with open reports: how many, why, since when."""

    target_kind: ReportTarget
    target_id: uuid.UUID
    author_id: uuid.UUID
    report_count: int
    reasons: list[str]
    first_reported_at: datetime


async def queue(
    *, session: AsyncSession, page: PageParams
) -> tuple[list[ReportedTarget], str | None]:
    """Targets with open reports, the one reported earliest first."""
    grouped = (
        select(
            col(Report.target_kind).label("target_kind"),
            col(Report.target_id).label("target_id"),
            col(Report.author_id).label("author_id"),
            func.count().label("report_count"),
            func.min(col(Report.created_at)).label("first_reported_at"),
        )
        .where(col(Report.status) == ReportStatus.OPEN)
        .group_by(col(Report.target_kind), col(Report.target_id), col(Report.author_id))
        .subquery()
    )
    keyset = Keyset(Order(grouped.c.first_reported_at), Order(grouped.c.target_id))
    found = (await session.execute(keyset.paged(select(grouped), page))).all()
    rows, next_cursor = keyset.page(found, page, lambda row: (row.first_reported_at, row.target_id))
    reasons: dict[uuid.UUID, list[str]] = {}
    if rows:
        listed = await session.execute(
            select(col(Report.target_id), col(Report.reason))
            .where(
                col(Report.status) == ReportStatus.OPEN,
                col(Report.target_id).in_([row.target_id for row in rows]),
            )
            .order_by(col(Report.created_at), col(Report.id))
        )
        for target_id, reason in listed.all():
            reasons.setdefault(target_id, []).append(reason)
    targets = [
        ReportedTarget(
            target_kind=row.target_kind,
            target_id=row.target_id,
            author_id=row.author_id,
            report_count=row.report_count,
            reasons=reasons.get(row.target_id, []),
            first_reported_at=row.first_reported_at,
        )
        for row in rows
    ]
    return targets, next_cursor


async def resolve(
    *,
    session: AsyncSession,
    target_kind: ReportTarget,
    target_id: uuid.UUID,
    verdict: Verdict,
    principal: Principal,
) -> int:
    """Close every open report of the target with ``verdict`` (404 when it has none);
    how many were closed."""
    found = await session.scalars(
        select(Report)
        .where(
            col(Report.target_kind) == target_kind,
            col(Report.target_id) == target_id,
            col(Report.status) == ReportStatus.OPEN,
        )
        .order_by(col(Report.created_at), col(Report.id))
        .with_for_update()
    )
    reports = list(found.all())
    if not reports:
        raise NotFound("no open reports of this target")
    now = utcnow()
    for open_report in reports:
        open_report.status = ReportStatus(verdict)
        open_report.resolved_by, open_report.resolved_at = principal.user_id, now
    await session.flush()
    if verdict == Verdict.UPHELD:
        for upheld in reports:
            publish(
                session,
                ReportUpheld(
                    report_id=upheld.id,
                    target_kind=target_kind,
                    target_id=target_id,
                    reporter_id=upheld.reporter_id,
                    author_id=upheld.author_id,
                    resolved_by=principal.user_id,
                ),
                actor=principal.user_id,
            )
    record_action(
        session,
        actor=principal.user_id,
        action=f"moderation.reports.{verdict}",
        subject=target_id,
        target_kind=target_kind,
        report_ids=[closed.id for closed in reports],
    )
    return len(reports)
