"""Content's HTTP API: posts, feeds, comments, likes, bookmarks, follows, profiles,
circles, reports and moderation, polls and search.

Reading public posts and feeds needs no token (a token adds the viewer's likes and
bookmarks and their own held posts); everything else does. Authorization is per object:
what a caller may not read is 'not found', another user's post is never theirs to edit.
"""

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.app import app_state
from kit.auth import CurrentPrincipal, Principal
from kit.db import SessionDep
from kit.openapi import created_response
from kit.problems import problem_responses
from services.content.auth import Staff, Viewer
from services.content.config import ContentSettings
from services.content.models import (
    CITY_MAX,
    Circle,
    CircleKind,
    CircleMember,
    CircleRole,
    CommentStatus,
    MembershipStatus,
    Poll,
    PollAudience,
    PollKind,
    PollRound,
    Post,
    PostEdit,
    PostStatus,
)
from services.content.schemas import (
    AuthorPublic,
    BallotPublic,
    BookmarkPublic,
    CircleCreate,
    CircleMemberPublic,
    CirclePublic,
    CommentCreate,
    CommentPublic,
    CommentViewerPublic,
    FinalRoundCreate,
    FollowPublic,
    LikePublic,
    MemberProfilePublic,
    MembershipPublic,
    ModeratedCommentPublic,
    ModerationReason,
    PollCreate,
    PollOptionPublic,
    PollPublic,
    PollVote,
    PostCreate,
    PostEditPublic,
    PostPublic,
    PostUpdate,
    ReportCreate,
    ReportedTargetPublic,
    ReportPublic,
    ResolutionCreate,
    ResolutionPublic,
    SearchQuery,
    Tag,
    ViewerPublic,
)
from services.content.service import (
    access,
    bookmarks,
    circles,
    comments,
    feeds,
    follows,
    likes,
    moderation,
    polls,
    posts,
    search,
)
from services.content.service.comments import CommentView
from services.content.service.feeds import PostView

post_router = APIRouter(prefix="/v1/posts", tags=["posts"])
feed_router = APIRouter(prefix="/v1/feed", tags=["feeds"])
social_router = APIRouter(tags=["social"])
circle_router = APIRouter(tags=["circles"])
moderation_router = APIRouter(tags=["moderation"])
poll_router = APIRouter(tags=["polls"])
search_router = APIRouter(tags=["search"])

Settings = Annotated[ContentSettings, app_state("settings")]
CityName = Annotated[str, Path(min_length=1, max_length=CITY_MAX)]


def post_public(view: PostView, principal: Principal | None) -> PostPublic:
    """The post as ``principal`` sees it: the moderation reason only for its author and staff."""
    post = view.post
    insider = access.is_staff(principal) or (
        principal is not None and principal.user_id == post.author_id
    )
    return PostPublic(
        id=post.id,
        author=AuthorPublic(id=post.author_id, display_name=view.author_name),
        official=post.official,
        text=post.text,
        images=list(post.images),
        tags=list(post.tags),
        circle_id=post.circle_id,
        members_only=post.members_only,
        city=post.city,
        status=PostStatus(post.status),
        moderation_reason=post.moderation_reason if insider else None,
        featured=post.featured_at is not None,
        pinned=post.pinned_at is not None,
        like_count=post.like_count,
        comment_count=post.comment_count,
        bookmark_count=post.bookmark_count,
        created_at=post.created_at,
        edited_at=post.edited_at,
        viewer=ViewerPublic(liked=view.liked, bookmarked=view.bookmarked),
    )


def post_page(
    found: tuple[list[PostView], str | None], principal: Principal | None
) -> CursorPage[PostPublic]:
    views, next_cursor = found
    items = [post_public(view, principal) for view in views]
    return CursorPage[PostPublic](items=items, next_cursor=next_cursor)


async def one_post(
    session: SessionDep, post_id: uuid.UUID, principal: Principal | None
) -> PostPublic:
    """A post the caller may read, as they see it (404 otherwise)."""
    await access.readable_post(session=session, post_id=post_id, principal=principal)
    found = await feeds.views(session=session, principal=principal, post_ids=[post_id])
    return post_public(found[post_id], principal)


# --- posts --------------------------------------------------------------------------------


@post_router.post(
    "",
    operation_id="posts.create",
    status_code=201,
    response_model=PostPublic,
    responses={**created_response("the post"), **problem_responses(401, 403, 404, 422)},
)
async def create_post(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: Settings,
    body: PostCreate,
    response: Response,
) -> PostPublic:
    """Published at once, or ``held`` for review when pre-moderation says so (the author
    sees it marked; nobody else does until staff release it)."""
    post = await posts.create_post(
        session=session, data=body, principal=principal, settings=settings
    )
    response.headers["Location"] = f"/v1/posts/{post.id}"
    return await one_post(session, post.id, principal)


@post_router.get(
    "/pinned",
    operation_id="posts.pinned",
    response_model=list[PostPublic],
    responses=problem_responses(401),
)
async def pinned_posts(session: SessionDep, viewer: Viewer) -> list[PostPublic]:
    """What staff pinned to the top of the app (at most 10), most recently pinned first."""
    found = await feeds.pinned(session=session, principal=viewer)
    return [post_public(view, viewer) for view in found]


@post_router.get(
    "/{post_id}",
    operation_id="posts.read",
    response_model=PostPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_post(session: SessionDep, viewer: Viewer, post_id: uuid.UUID) -> PostPublic:
    return await one_post(session, post_id, viewer)


@post_router.patch(
    "/{post_id}",
    operation_id="posts.update",
    response_model=PostPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_post(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: Settings,
    post_id: uuid.UUID,
    body: PostUpdate,
) -> PostPublic:
    """The author, within the edit window (409 after it); the earlier version is kept."""
    await posts.update_post(
        session=session, post_id=post_id, data=body, principal=principal, settings=settings
    )
    return await one_post(session, post_id, principal)


@post_router.delete(
    "/{post_id}",
    operation_id="posts.delete",
    status_code=204,
    responses={204: {"description": "deleted"}, **problem_responses(401, 403, 404, 422)},
)
async def delete_post(
    session: SessionDep, principal: CurrentPrincipal, post_id: uuid.UUID
) -> Response:
    """The author only; what the post earned is reversed (``content.post.removed``)."""
    await posts.delete_post(session=session, post_id=post_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@post_router.get(
    "/{post_id}/edits",
    operation_id="posts.edits",
    response_model=list[PostEditPublic],
    responses=problem_responses(401, 404, 422),
)
async def post_edits(
    session: SessionDep, viewer: Viewer, post_id: uuid.UUID
) -> list[PostEditPublic]:
    """The versions before each edit, newest first."""
    found: list[PostEdit] = await posts.edits(session=session, post_id=post_id, principal=viewer)
    return [PostEditPublic.model_validate(edit) for edit in found]


# --- feeds --------------------------------------------------------------------------------


@feed_router.get(
    "",
    operation_id="feeds.home",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def home_feed(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[PostPublic]:
    """The people and circles I follow, my own posts and the brand's, newest first."""
    return post_page(await feeds.home(session=session, principal=principal, page=page), principal)


@feed_router.get(
    "/official",
    operation_id="feeds.official",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def official_feed(
    session: SessionDep, viewer: Viewer, page: PageDep
) -> CursorPage[PostPublic]:
    return post_page(await feeds.official(session=session, principal=viewer, page=page), viewer)


@feed_router.get(
    "/featured",
    operation_id="feeds.featured",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def featured_feed(
    session: SessionDep, viewer: Viewer, page: PageDep
) -> CursorPage[PostPublic]:
    """Posts staff featured, most recently featured first."""
    return post_page(await feeds.featured(session=session, principal=viewer, page=page), viewer)


@feed_router.get(
    "/trending",
    operation_id="feeds.trending",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def trending_feed(
    session: SessionDep, viewer: Viewer, settings: Settings, page: PageDep
) -> CursorPage[PostPublic]:
    """Posts of the last ``CONTENT_TRENDING_WINDOW_HOURS`` by engagement, time-decayed."""
    window = timedelta(hours=settings.trending_window_hours)
    found = await feeds.trending(session=session, principal=viewer, page=page, window=window)
    return post_page(found, viewer)


@feed_router.get(
    "/cities/{city}",
    operation_id="feeds.city",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def city_feed(
    session: SessionDep, viewer: Viewer, city: CityName, page: PageDep
) -> CursorPage[PostPublic]:
    return post_page(
        await feeds.city(session=session, principal=viewer, city=city, page=page), viewer
    )


@feed_router.get(
    "/users/{user_id}",
    operation_id="feeds.user",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def user_feed(
    session: SessionDep, viewer: Viewer, user_id: uuid.UUID, page: PageDep
) -> CursorPage[PostPublic]:
    """A user's posts; their author also sees their held and hidden ones, marked."""
    found = await feeds.author(session=session, principal=viewer, author_id=user_id, page=page)
    return post_page(found, viewer)


# --- comments, likes, bookmarks, follows, profiles ----------------------------------------


def comment_public(view: CommentView, principal: Principal | None) -> CommentPublic:
    """The comment as ``principal`` sees it: a deleted one (its text erased) without its
    author, the moderation reason only for its author and staff."""
    comment = view.comment
    deleted = comment.status == CommentStatus.DELETED
    insider = access.is_staff(principal) or (
        principal is not None and principal.user_id == comment.author_id
    )
    author = None if deleted else AuthorPublic(id=comment.author_id, display_name=view.author_name)
    return CommentPublic(
        id=comment.id,
        post_id=comment.post_id,
        parent_id=comment.parent_id,
        author=author,
        text=comment.text,
        status=CommentStatus(comment.status),
        moderation_reason=comment.moderation_reason if insider and not deleted else None,
        like_count=comment.like_count,
        reply_count=comment.reply_count,
        created_at=comment.created_at,
        viewer=CommentViewerPublic(liked=view.liked),
    )


def comment_page(
    found: tuple[list[CommentView], str | None], principal: Principal | None
) -> CursorPage[CommentPublic]:
    views, next_cursor = found
    items = [comment_public(view, principal) for view in views]
    return CursorPage[CommentPublic](items=items, next_cursor=next_cursor)


def profile_public(found: follows.Profile) -> MemberProfilePublic:
    member = found.member
    return MemberProfilePublic(
        id=member.user_id,
        display_name=member.display_name,
        follower_count=member.follower_count,
        following_count=member.following_count,
        post_count=member.post_count,
        viewer_follows=found.viewer_follows,
    )


def account_page(found: tuple[list[follows.Account], str | None]) -> CursorPage[FollowPublic]:
    accounts, next_cursor = found
    items = [
        FollowPublic(
            user=AuthorPublic(id=account.user_id, display_name=account.display_name),
            followed_at=account.followed_at,
        )
        for account in accounts
    ]
    return CursorPage[FollowPublic](items=items, next_cursor=next_cursor)


NO_CONTENT: dict[int | str, dict[str, Any]] = {
    204: {"description": "done (also when there was nothing to undo)"}
}


@social_router.post(
    "/v1/posts/{post_id}/comments",
    operation_id="comments.create",
    status_code=201,
    response_model=CommentPublic,
    responses={**created_response("the comment"), **problem_responses(401, 404, 409, 422)},
)
async def create_comment(
    session: SessionDep,
    principal: CurrentPrincipal,
    post_id: uuid.UUID,
    body: CommentCreate,
    response: Response,
) -> CommentPublic:
    """A comment on a published post, or with ``parent_id`` a reply to one of its top-level
    comments (422 under a reply); 409 when the post is not published."""
    comment = await comments.create_comment(
        session=session, post_id=post_id, data=body, principal=principal
    )
    response.headers["Location"] = f"/v1/comments/{comment.id}"
    found = await comments.view(session=session, comment_id=comment.id, principal=principal)
    return comment_public(found, principal)


@social_router.get(
    "/v1/posts/{post_id}/comments",
    operation_id="comments.list",
    response_model=CursorPage[CommentPublic],
    responses=problem_responses(401, 404, 422),
)
async def list_comments(
    session: SessionDep, viewer: Viewer, post_id: uuid.UUID, page: PageDep
) -> CursorPage[CommentPublic]:
    """A post's top-level comments, oldest first, each with its reply count."""
    found = await comments.top_level(session=session, post_id=post_id, principal=viewer, page=page)
    return comment_page(found, viewer)


@social_router.get(
    "/v1/comments/{comment_id}",
    operation_id="comments.read",
    response_model=CommentPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_comment(session: SessionDep, viewer: Viewer, comment_id: uuid.UUID) -> CommentPublic:
    found = await comments.view(session=session, comment_id=comment_id, principal=viewer)
    return comment_public(found, viewer)


@social_router.get(
    "/v1/comments/{comment_id}/replies",
    operation_id="comments.replies",
    response_model=CursorPage[CommentPublic],
    responses=problem_responses(401, 404, 422),
)
async def list_replies(
    session: SessionDep, viewer: Viewer, comment_id: uuid.UUID, page: PageDep
) -> CursorPage[CommentPublic]:
    """The replies to a top-level comment, oldest first."""
    found = await comments.replies(
        session=session, comment_id=comment_id, principal=viewer, page=page
    )
    return comment_page(found, viewer)


@social_router.delete(
    "/v1/comments/{comment_id}",
    operation_id="comments.delete",
    status_code=204,
    responses={204: {"description": "deleted"}, **problem_responses(401, 403, 404, 422)},
)
async def delete_comment(
    session: SessionDep, principal: CurrentPrincipal, comment_id: uuid.UUID
) -> Response:
    """Its author only (staff: 403, they moderate; anyone else: 404). A comment with
    replies stays as a placeholder: ``deleted``, without author or text."""
    await comments.delete_comment(session=session, comment_id=comment_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@social_router.put(
    "/v1/comments/{comment_id}/like",
    operation_id="comments.like",
    response_model=LikePublic,
    responses=problem_responses(401, 404, 409, 422),
)
async def like_comment(
    session: SessionDep, principal: CurrentPrincipal, comment_id: uuid.UUID
) -> LikePublic:
    """Idempotent: liking twice is one like. 409 on a comment that is not published."""
    count = await comments.like_comment(session=session, comment_id=comment_id, principal=principal)
    return LikePublic(liked=True, like_count=count)


@social_router.delete(
    "/v1/comments/{comment_id}/like",
    operation_id="comments.unlike",
    status_code=204,
    responses={**NO_CONTENT, **problem_responses(401, 404, 422)},
)
async def unlike_comment(
    session: SessionDep, principal: CurrentPrincipal, comment_id: uuid.UUID
) -> Response:
    await comments.unlike_comment(session=session, comment_id=comment_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@social_router.put(
    "/v1/posts/{post_id}/like",
    operation_id="posts.like",
    response_model=LikePublic,
    responses=problem_responses(401, 404, 409, 422),
)
async def like_post(
    session: SessionDep, principal: CurrentPrincipal, post_id: uuid.UUID
) -> LikePublic:
    """Idempotent: liking twice is one like and one ``content.post.liked``. 409 on a post
    that is not published."""
    count = await likes.like_post(session=session, post_id=post_id, principal=principal)
    return LikePublic(liked=True, like_count=count)


@social_router.delete(
    "/v1/posts/{post_id}/like",
    operation_id="posts.unlike",
    status_code=204,
    responses={**NO_CONTENT, **problem_responses(401, 404, 422)},
)
async def unlike_post(
    session: SessionDep, principal: CurrentPrincipal, post_id: uuid.UUID
) -> Response:
    await likes.unlike_post(session=session, post_id=post_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@social_router.put(
    "/v1/posts/{post_id}/bookmark",
    operation_id="posts.bookmark",
    response_model=BookmarkPublic,
    responses=problem_responses(401, 404, 409, 422),
)
async def bookmark_post(
    session: SessionDep, principal: CurrentPrincipal, post_id: uuid.UUID
) -> BookmarkPublic:
    """Idempotent: saving twice is one bookmark. 409 on a post that is not published."""
    count = await bookmarks.bookmark(session=session, post_id=post_id, principal=principal)
    return BookmarkPublic(bookmarked=True, bookmark_count=count)


@social_router.delete(
    "/v1/posts/{post_id}/bookmark",
    operation_id="posts.unbookmark",
    status_code=204,
    responses={**NO_CONTENT, **problem_responses(401, 404, 422)},
)
async def unbookmark_post(
    session: SessionDep, principal: CurrentPrincipal, post_id: uuid.UUID
) -> Response:
    await bookmarks.unbookmark(session=session, post_id=post_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@social_router.get(
    "/v1/me/bookmarks",
    operation_id="me.bookmarks",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def my_bookmarks(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[PostPublic]:
    """My saved posts, most recently saved first (those I may no longer read drop out)."""
    found = await feeds.bookmarks(session=session, principal=principal, page=page)
    return post_page(found, principal)


@social_router.get(
    "/v1/profiles/{user_id}",
    operation_id="profiles.read",
    response_model=MemberProfilePublic,
    responses=problem_responses(401, 404, 422),
)
async def get_profile(
    session: SessionDep, viewer: Viewer, user_id: uuid.UUID
) -> MemberProfilePublic:
    found = await follows.profile(session=session, user_id=user_id, principal=viewer)
    return profile_public(found)


@social_router.put(
    "/v1/profiles/{user_id}/follow",
    operation_id="profiles.follow",
    response_model=MemberProfilePublic,
    responses=problem_responses(401, 404, 422),
)
async def follow_profile(
    session: SessionDep, principal: CurrentPrincipal, user_id: uuid.UUID
) -> MemberProfilePublic:
    """Idempotent: following twice is one follow. Following yourself is a 422."""
    await follows.follow(session=session, user_id=user_id, principal=principal)
    found = await follows.profile(session=session, user_id=user_id, principal=principal)
    return profile_public(found)


@social_router.delete(
    "/v1/profiles/{user_id}/follow",
    operation_id="profiles.unfollow",
    status_code=204,
    responses={**NO_CONTENT, **problem_responses(401, 404, 422)},
)
async def unfollow_profile(
    session: SessionDep, principal: CurrentPrincipal, user_id: uuid.UUID
) -> Response:
    await follows.unfollow(session=session, user_id=user_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@social_router.get(
    "/v1/profiles/{user_id}/followers",
    operation_id="profiles.followers",
    response_model=CursorPage[FollowPublic],
    responses=problem_responses(404, 422),
)
async def list_followers(
    session: SessionDep, user_id: uuid.UUID, page: PageDep
) -> CursorPage[FollowPublic]:
    """Who follows them, most recent first."""
    return account_page(await follows.followers(session=session, user_id=user_id, page=page))


@social_router.get(
    "/v1/profiles/{user_id}/following",
    operation_id="profiles.following",
    response_model=CursorPage[FollowPublic],
    responses=problem_responses(404, 422),
)
async def list_following(
    session: SessionDep, user_id: uuid.UUID, page: PageDep
) -> CursorPage[FollowPublic]:
    """Whom they follow, most recent first."""
    return account_page(await follows.following(session=session, user_id=user_id, page=page))


# --- circles, moderation, standing --------------------------------------------------------


def circle_public(circle: Circle, mine: CircleMember | None) -> CirclePublic:
    return CirclePublic(
        id=circle.id,
        name=circle.name,
        description=circle.description,
        kind=CircleKind(circle.kind),
        member_count=circle.member_count,
        created_by=circle.created_by,
        created_at=circle.created_at,
        membership=MembershipPublic.model_validate(mine) if mine else None,
    )


async def listed_posts(
    session: SessionDep, post_ids: list[uuid.UUID], principal: Principal | None
) -> list[PostPublic]:
    """The posts of ``post_ids``, in that order, as ``principal`` sees them (visibility
    checked by the caller)."""
    found = await feeds.views(session=session, principal=principal, post_ids=post_ids)
    return [post_public(found[post_id], principal) for post_id in post_ids]


async def staff_view(session: SessionDep, post: Post, principal: Principal) -> PostPublic:
    return (await listed_posts(session, [post.id], principal))[0]


@circle_router.post(
    "/v1/circles",
    operation_id="circles.create",
    status_code=201,
    response_model=CirclePublic,
    responses={**created_response("the circle"), **problem_responses(401, 403, 409, 422)},
)
async def create_circle(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: Settings,
    body: CircleCreate,
    response: Response,
) -> CirclePublic:
    """Needs the standing ``trusted`` (403 ``low-standing``); an industry circle only owners
    and staff create (403 ``owners-only``). The creator is its first admin."""
    circle = await circles.create_circle(
        session=session, data=body, principal=principal, settings=settings
    )
    mine = await circles.membership(session=session, circle_id=circle.id, user_id=principal.user_id)
    response.headers["Location"] = f"/v1/circles/{circle.id}"
    return circle_public(circle, mine)


@circle_router.get(
    "/v1/circles",
    operation_id="circles.list",
    response_model=CursorPage[CirclePublic],
    responses=problem_responses(401, 422),
)
async def list_circles(
    session: SessionDep, viewer: Viewer, page: PageDep
) -> CursorPage[CirclePublic]:
    """Every circle by name, with the caller's membership."""
    found, next_cursor = await circles.list_circles(session=session, page=page)
    mine = await circles.memberships(
        session=session, circle_ids=[circle.id for circle in found], principal=viewer
    )
    items = [circle_public(circle, mine.get(circle.id)) for circle in found]
    return CursorPage[CirclePublic](items=items, next_cursor=next_cursor)


@circle_router.get(
    "/v1/circles/{circle_id}",
    operation_id="circles.read",
    response_model=CirclePublic,
    responses=problem_responses(401, 404, 422),
)
async def get_circle(session: SessionDep, viewer: Viewer, circle_id: uuid.UUID) -> CirclePublic:
    circle = await circles.get_circle(session=session, circle_id=circle_id)
    mine = await circles.memberships(session=session, circle_ids=[circle_id], principal=viewer)
    return circle_public(circle, mine.get(circle_id))


@circle_router.put(
    "/v1/circles/{circle_id}/membership",
    operation_id="circles.join",
    response_model=MembershipPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def join_circle(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID
) -> MembershipPublic:
    """Join an interest circle (active at once), or ask to join an industry circle (owners
    only, 403 ``owners-only`` otherwise; ``pending`` until approved). Joining again
    answers the membership as it is."""
    member = await circles.join(session=session, circle_id=circle_id, principal=principal)
    return MembershipPublic.model_validate(member)


@circle_router.delete(
    "/v1/circles/{circle_id}/membership",
    operation_id="circles.leave",
    status_code=204,
    responses={
        204: {"description": "not a member (any more)"},
        **problem_responses(401, 404, 409, 422),
    },
)
async def leave_circle(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID
) -> Response:
    """Leave, or withdraw a request; the last admin cannot leave (409 ``last-admin``)."""
    await circles.leave(session=session, circle_id=circle_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@circle_router.get(
    "/v1/circles/{circle_id}/members",
    operation_id="circles.members",
    response_model=CursorPage[CircleMemberPublic],
    responses=problem_responses(401, 403, 404, 422),
)
async def circle_members(
    session: SessionDep,
    viewer: Viewer,
    circle_id: uuid.UUID,
    page: PageDep,
    member_status: Annotated[
        MembershipStatus,
        Query(alias="status", description="``pending``: the requests (admins and staff only)"),
    ] = MembershipStatus.ACTIVE,
) -> CursorPage[CircleMemberPublic]:
    """Longest-standing first; an industry circle's only its members and staff read."""
    found, next_cursor = await circles.members(
        session=session, circle_id=circle_id, status=member_status, principal=viewer, page=page
    )
    items = [
        CircleMemberPublic(
            user=AuthorPublic(id=member.user_id, display_name=name),
            role=CircleRole(member.role),
            status=MembershipStatus(member.status),
            created_at=member.created_at,
        )
        for member, name in found
    ]
    return CursorPage[CircleMemberPublic](items=items, next_cursor=next_cursor)


@circle_router.post(
    "/v1/circles/{circle_id}/members/{user_id}/approve",
    operation_id="circles.approve",
    response_model=MembershipPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def approve_member(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipPublic:
    """An admin of this circle or staff; 409 when the user is a member already."""
    member = await circles.approve(
        session=session, circle_id=circle_id, user_id=user_id, principal=principal
    )
    return MembershipPublic.model_validate(member)


@circle_router.post(
    "/v1/circles/{circle_id}/members/{user_id}/reject",
    operation_id="circles.reject",
    status_code=204,
    responses={
        204: {"description": "the request is gone"},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def reject_member(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID, user_id: uuid.UUID
) -> Response:
    """An admin of this circle or staff turns a pending request down."""
    await circles.reject(session=session, circle_id=circle_id, user_id=user_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@circle_router.post(
    "/v1/circles/{circle_id}/members/{user_id}/promote",
    operation_id="circles.promote",
    response_model=MembershipPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def promote_member(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipPublic:
    """An admin of this circle or staff makes an active member an admin."""
    member = await circles.promote(
        session=session, circle_id=circle_id, user_id=user_id, principal=principal
    )
    return MembershipPublic.model_validate(member)


@circle_router.get(
    "/v1/circles/{circle_id}/posts",
    operation_id="circles.posts",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 404, 422),
)
async def circle_posts(
    session: SessionDep, viewer: Viewer, circle_id: uuid.UUID, page: PageDep
) -> CursorPage[PostPublic]:
    """Newest first; an industry circle's only its members and staff read (404 otherwise)."""
    await circles.readable_circle(session=session, circle_id=circle_id, principal=viewer)
    found = await feeds.circle(session=session, principal=viewer, circle_id=circle_id, page=page)
    return post_page(found, viewer)


@circle_router.get(
    "/v1/circles/{circle_id}/pinned",
    operation_id="circles.pinned",
    response_model=list[PostPublic],
    responses=problem_responses(401, 404, 422),
)
async def circle_pinned(
    session: SessionDep, viewer: Viewer, circle_id: uuid.UUID
) -> list[PostPublic]:
    """What the circle's admins pinned (at most 10), most recently pinned first."""
    post_ids = await circles.pinned(session=session, circle_id=circle_id, principal=viewer)
    return await listed_posts(session, post_ids, viewer)


async def circle_moderation(
    session: SessionDep,
    principal: Principal,
    circle_id: uuid.UUID,
    post_id: uuid.UUID,
    action: moderation.PostAction,
    reason: str | None = None,
) -> PostPublic:
    post = await circles.moderate_post(
        session=session,
        circle_id=circle_id,
        post_id=post_id,
        action=action,
        principal=principal,
        reason=reason,
    )
    return await staff_view(session, post, principal)


CIRCLE_MODERATION = problem_responses(401, 403, 404, 409, 422)


@circle_router.post(
    "/v1/circles/{circle_id}/posts/{post_id}/pin",
    operation_id="circles.pinPost",
    response_model=PostPublic,
    responses=CIRCLE_MODERATION,
)
async def circle_pin(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID, post_id: uuid.UUID
) -> PostPublic:
    """An admin of this circle or staff pins a published post to the circle."""
    return await circle_moderation(
        session, principal, circle_id, post_id, moderation.PostAction.PIN
    )


@circle_router.post(
    "/v1/circles/{circle_id}/posts/{post_id}/unpin",
    operation_id="circles.unpinPost",
    response_model=PostPublic,
    responses=CIRCLE_MODERATION,
)
async def circle_unpin(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID, post_id: uuid.UUID
) -> PostPublic:
    return await circle_moderation(
        session, principal, circle_id, post_id, moderation.PostAction.UNPIN
    )


@circle_router.post(
    "/v1/circles/{circle_id}/posts/{post_id}/hide",
    operation_id="circles.hidePost",
    response_model=PostPublic,
    responses=CIRCLE_MODERATION,
)
async def circle_hide(
    session: SessionDep,
    principal: CurrentPrincipal,
    circle_id: uuid.UUID,
    post_id: uuid.UUID,
    body: ModerationReason,
) -> PostPublic:
    """Hide a published post of this circle (its author sees it hidden, with the reason)."""
    return await circle_moderation(
        session, principal, circle_id, post_id, moderation.PostAction.HIDE, body.reason
    )


@circle_router.post(
    "/v1/circles/{circle_id}/posts/{post_id}/restore",
    operation_id="circles.restorePost",
    response_model=PostPublic,
    responses=CIRCLE_MODERATION,
)
async def circle_restore(
    session: SessionDep, principal: CurrentPrincipal, circle_id: uuid.UUID, post_id: uuid.UUID
) -> PostPublic:
    """Show a hidden post of this circle again; one staff hid only staff restore (403
    ``hidden-by-staff``)."""
    return await circle_moderation(
        session, principal, circle_id, post_id, moderation.PostAction.RESTORE
    )


@moderation_router.post(
    "/v1/reports",
    operation_id="reports.create",
    status_code=201,
    response_model=ReportPublic,
    responses={
        **created_response("the report"),
        200: {"description": "reported before: the first report, unchanged", "model": ReportPublic},
        **problem_responses(401, 404, 422),
    },
)
async def create_report(
    session: SessionDep, principal: CurrentPrincipal, body: ReportCreate, response: Response
) -> ReportPublic:
    """Report a post or comment the caller can read (404 otherwise; 422 ``own-content`` for
    the caller's own)."""
    found, created = await moderation.report(session=session, data=body, principal=principal)
    if created:
        response.headers["Location"] = f"/v1/reports/{found.id}"
    else:
        response.status_code = status.HTTP_200_OK
    return ReportPublic.model_validate(found)


@moderation_router.get(
    "/v1/moderation/reports",
    operation_id="moderation.reports",
    response_model=CursorPage[ReportedTargetPublic],
    responses=problem_responses(401, 403, 422),
)
async def report_queue(
    session: SessionDep, staff: Staff, page: PageDep
) -> CursorPage[ReportedTargetPublic]:
    """Posts and comments with open reports, the one reported earliest first."""
    found, next_cursor = await moderation.queue(session=session, page=page)
    items = [ReportedTargetPublic.model_validate(target) for target in found]
    return CursorPage[ReportedTargetPublic](items=items, next_cursor=next_cursor)


@moderation_router.post(
    "/v1/moderation/reports/resolve",
    operation_id="moderation.resolveReports",
    response_model=ResolutionPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def resolve_reports(
    session: SessionDep, staff: Staff, body: ResolutionCreate
) -> ResolutionPublic:
    """Close every open report of the target (404 when it has none); ``upheld`` credits
    each reporter once (``content.report.upheld``)."""
    resolved = await moderation.resolve(
        session=session,
        target_kind=body.target_kind,
        target_id=body.target_id,
        verdict=body.verdict,
        principal=staff,
    )
    return ResolutionPublic(
        target_kind=body.target_kind,
        target_id=body.target_id,
        verdict=body.verdict,
        resolved=resolved,
    )


@moderation_router.get(
    "/v1/moderation/held",
    operation_id="moderation.held",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 403, 422),
)
async def held_posts(session: SessionDep, staff: Staff, page: PageDep) -> CursorPage[PostPublic]:
    """Posts held by pre-moderation, oldest first: release or remove them."""
    post_ids, next_cursor = await moderation.held(session=session, page=page)
    items = await listed_posts(session, post_ids, staff)
    return CursorPage[PostPublic](items=items, next_cursor=next_cursor)


async def staff_moderation(
    session: SessionDep,
    staff: Principal,
    post_id: uuid.UUID,
    action: moderation.PostAction,
    reason: str | None = None,
) -> PostPublic:
    post = await moderation.moderate_post(
        session=session, post_id=post_id, action=action, principal=staff, reason=reason
    )
    return await staff_view(session, post, staff)


POST_MODERATION = problem_responses(401, 403, 404, 409, 422)


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/hide",
    operation_id="moderation.hidePost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def hide_post(
    session: SessionDep, staff: Staff, post_id: uuid.UUID, body: ModerationReason
) -> PostPublic:
    """A published post is hidden (reversible); its author sees it marked, with the reason."""
    return await staff_moderation(session, staff, post_id, moderation.PostAction.HIDE, body.reason)


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/restore",
    operation_id="moderation.restorePost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def restore_post(session: SessionDep, staff: Staff, post_id: uuid.UUID) -> PostPublic:
    """A hidden post is published again (a removed one cannot be: 409)."""
    return await staff_moderation(session, staff, post_id, moderation.PostAction.RESTORE)


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/remove",
    operation_id="moderation.removePost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def remove_post(
    session: SessionDep, staff: Staff, post_id: uuid.UUID, body: ModerationReason
) -> PostPublic:
    """Final; a post others had seen is announced removed (``content.post.removed``,
    reason ``moderation``). Its author still sees it, marked, with the reason."""
    return await staff_moderation(
        session, staff, post_id, moderation.PostAction.REMOVE, body.reason
    )


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/release",
    operation_id="moderation.releasePost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def release_post(session: SessionDep, staff: Staff, post_id: uuid.UUID) -> PostPublic:
    """A held post is published and announced (any other: 409)."""
    return await staff_moderation(session, staff, post_id, moderation.PostAction.RELEASE)


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/feature",
    operation_id="moderation.featurePost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def feature_post(session: SessionDep, staff: Staff, post_id: uuid.UUID) -> PostPublic:
    """A published post joins the featured feed, announced once (``content.post.featured``)."""
    return await staff_moderation(session, staff, post_id, moderation.PostAction.FEATURE)


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/pin",
    operation_id="moderation.pinPost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def pin_post(session: SessionDep, staff: Staff, post_id: uuid.UUID) -> PostPublic:
    """A published post is pinned to the top of the app (``GET /v1/posts/pinned``)."""
    return await staff_moderation(session, staff, post_id, moderation.PostAction.PIN)


@moderation_router.post(
    "/v1/moderation/posts/{post_id}/unpin",
    operation_id="moderation.unpinPost",
    response_model=PostPublic,
    responses=POST_MODERATION,
)
async def unpin_post(session: SessionDep, staff: Staff, post_id: uuid.UUID) -> PostPublic:
    return await staff_moderation(session, staff, post_id, moderation.PostAction.UNPIN)


async def comment_moderation(
    session: SessionDep,
    staff: Principal,
    comment_id: uuid.UUID,
    action: moderation.CommentAction,
    reason: str | None = None,
) -> ModeratedCommentPublic:
    comment = await moderation.moderate_comment(
        session=session, comment_id=comment_id, action=action, principal=staff, reason=reason
    )
    return ModeratedCommentPublic.model_validate(comment)


@moderation_router.post(
    "/v1/moderation/comments/{comment_id}/hide",
    operation_id="moderation.hideComment",
    response_model=ModeratedCommentPublic,
    responses=POST_MODERATION,
)
async def hide_comment(
    session: SessionDep, staff: Staff, comment_id: uuid.UUID, body: ModerationReason
) -> ModeratedCommentPublic:
    return await comment_moderation(
        session, staff, comment_id, moderation.CommentAction.HIDE, body.reason
    )


@moderation_router.post(
    "/v1/moderation/comments/{comment_id}/restore",
    operation_id="moderation.restoreComment",
    response_model=ModeratedCommentPublic,
    responses=POST_MODERATION,
)
async def restore_comment(
    session: SessionDep, staff: Staff, comment_id: uuid.UUID
) -> ModeratedCommentPublic:
    return await comment_moderation(session, staff, comment_id, moderation.CommentAction.RESTORE)


@moderation_router.post(
    "/v1/moderation/comments/{comment_id}/remove",
    operation_id="moderation.removeComment",
    response_model=ModeratedCommentPublic,
    responses=POST_MODERATION,
)
async def remove_comment(
    session: SessionDep, staff: Staff, comment_id: uuid.UUID, body: ModerationReason
) -> ModeratedCommentPublic:
    """Final: announced (``content.comment.removed``), the post's comment count corrected."""
    return await comment_moderation(
        session, staff, comment_id, moderation.CommentAction.REMOVE, body.reason
    )


# --- polls, search ------------------------------------------------------------------------


def poll_public(view: polls.PollView) -> PollPublic:
    poll, ballot = view.poll, view.ballot
    return PollPublic(
        id=poll.id,
        question=poll.question,
        kind=PollKind(poll.kind),
        audience=PollAudience(poll.audience),
        round=PollRound(poll.round),
        shortlist_of=poll.shortlist_of,
        opens_at=poll.opens_at,
        closes_at=poll.closes_at,
        max_weight=poll.max_weight,
        points_per_weight=poll.points_per_weight,
        state=view.state,
        voter_count=poll.voter_count,
        options=[PollOptionPublic.model_validate(option) for option in view.options],
        winner_ids=view.winner_ids,
        my_ballot=BallotPublic.model_validate(ballot) if ballot else None,
        created_at=poll.created_at,
    )


async def one_poll(session: SessionDep, poll: Poll, principal: Principal | None) -> PollPublic:
    (view,) = await polls.views(session=session, polls=[poll], principal=principal)
    return poll_public(view)


@poll_router.post(
    "/v1/polls",
    operation_id="polls.create",
    status_code=201,
    response_model=PollPublic,
    responses={**created_response("the poll"), **problem_responses(401, 403, 422)},
)
async def create_poll(
    session: SessionDep, staff: Staff, body: PollCreate, response: Response
) -> PollPublic:
    """Staff ask; members vote between ``opens_at`` and ``closes_at``."""
    poll = await polls.create_poll(session=session, data=body, principal=staff)
    response.headers["Location"] = f"/v1/polls/{poll.id}"
    return await one_poll(session, poll, staff)


@poll_router.get(
    "/v1/polls",
    operation_id="polls.list",
    response_model=CursorPage[PollPublic],
    responses=problem_responses(401, 422),
)
async def list_polls(session: SessionDep, viewer: Viewer, page: PageDep) -> CursorPage[PollPublic]:
    """Polls, newest first, with their counts (and the viewer's ballots)."""
    found, next_cursor = await polls.list_polls(session=session, page=page)
    views = await polls.views(session=session, polls=found, principal=viewer)
    return CursorPage[PollPublic](
        items=[poll_public(view) for view in views], next_cursor=next_cursor
    )


@poll_router.get(
    "/v1/polls/{poll_id}",
    operation_id="polls.read",
    response_model=PollPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_poll(session: SessionDep, viewer: Viewer, poll_id: uuid.UUID) -> PollPublic:
    """The poll and its live counts; once closed, its results (``winner_ids``)."""
    return await one_poll(session, await polls.get_poll(session=session, poll_id=poll_id), viewer)


@poll_router.put(
    "/v1/polls/{poll_id}/vote",
    operation_id="polls.vote",
    response_model=PollPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def vote(
    session: SessionDep, principal: CurrentPrincipal, poll_id: uuid.UUID, body: PollVote
) -> PollPublic:
    """Cast my ballot, or replace it: one per user and poll, counted at once, or, when its
    weight costs points, once rewards charged them (``pending_charge`` until then, and
    unchangeable: 409 ``charge-pending``). 409 ``poll-not-open``/``poll-closed`` outside
    the poll's window; 403 ``owners-only`` for a non-owner in an owners' poll; 422 for an
    option not in the poll, several in a single-choice poll, or too much weight."""
    view = await polls.vote(session=session, poll_id=poll_id, data=body, principal=principal)
    return poll_public(view)


@poll_router.delete(
    "/v1/polls/{poll_id}/vote",
    operation_id="polls.withdraw",
    status_code=204,
    responses={204: {"description": "withdrawn"}, **problem_responses(401, 404, 409, 422)},
)
async def withdraw_vote(
    session: SessionDep, principal: CurrentPrincipal, poll_id: uuid.UUID
) -> Response:
    """Take my ballot back while the poll is open (without one, nothing happens)."""
    await polls.withdraw(session=session, poll_id=poll_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@poll_router.post(
    "/v1/polls/{poll_id}/final-round",
    operation_id="polls.finalRound",
    status_code=201,
    response_model=PollPublic,
    responses={**created_response("the final round"), **problem_responses(401, 403, 404, 409, 422)},
)
async def create_final_round(
    session: SessionDep,
    staff: Staff,
    poll_id: uuid.UUID,
    body: FinalRoundCreate,
    response: Response,
) -> PollPublic:
    """A weighted single-choice ``final`` poll between the ``top`` options of this closed
    poll, which becomes its ``shortlist`` (409 while it is open, or when it already has a
    final round or is one)."""
    final = await polls.final_round(session=session, poll_id=poll_id, data=body, principal=staff)
    response.headers["Location"] = f"/v1/polls/{final.id}"
    return await one_poll(session, final, staff)


@search_router.get(
    "/v1/search/posts",
    operation_id="search.posts",
    response_model=CursorPage[PostPublic],
    responses=problem_responses(401, 422),
)
async def search_posts(
    session: SessionDep,
    viewer: Viewer,
    page: PageDep,
    q: Annotated[SearchQuery | None, Query(description="every word must be in the text")] = None,
    tag: Annotated[Tag | None, Query(description="the tag as posts carry it (exact)")] = None,
) -> CursorPage[PostPublic]:
    """Posts I may read whose text holds every word of ``q`` (case-insensitive, any
    script) and that carry ``tag``, newest first; give ``q``, ``tag`` or both (else 422)."""
    found = await search.posts(session=session, principal=viewer, q=q, tag=tag, page=page)
    return post_page(found, viewer)


ROUTERS = (
    post_router,
    feed_router,
    social_router,
    circle_router,
    moderation_router,
    poll_router,
    search_router,
)
