"""Content's HTTP API: posts, feeds, comments, likes, bookmarks, follows, profiles,
circles, reports and moderation, polls and search.

Reading public posts and feeds needs no token (a token adds the viewer's likes and
bookmarks and their own held posts); everything else does. Authorization is per object:
what a caller may not read is 'not found', another user's post is never theirs to edit.
"""

import uuid
from datetime import timedelta
from typing import Annotated

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
    Poll,
    PollAudience,
    PollKind,
    PollRound,
    PostEdit,
    PostStatus,
)
from services.content.schemas import (
    AuthorPublic,
    BallotPublic,
    FinalRoundCreate,
    PollCreate,
    PollOptionPublic,
    PollPublic,
    PollVote,
    PostCreate,
    PostEditPublic,
    PostPublic,
    PostUpdate,
    SearchQuery,
    Tag,
    ViewerPublic,
)
from services.content.service import access, feeds, polls, posts, search
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


# --- circles, moderation, standing --------------------------------------------------------


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
