"""Events' HTTP API: venues, events and their lifecycle, signups, waitlist offers, draws
and check-in.

Reading events needs no token (a token adds the viewer's own signup); everything else
does. Authorization is per object: another user's signup is 'not found', only an event's
organizer or staff manage it, volunteers need staff approval to publish.
"""

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from kit.api.idempotency import IdempotencyKey
from kit.api.pagination import PageDep
from kit.api.schemas import CursorPage
from kit.api.times import IsoDateTime
from kit.app import app_state
from kit.auth import CurrentPrincipal
from kit.db import ReadsDep, SessionDep, utcnow
from kit.openapi import created_response
from kit.problems import problem_responses
from services.events.auth import Staff, Viewer
from services.events.config import EventsSettings
from services.events.models import (
    Category,
    DrawRun,
    Event,
    SeatOffer,
    Signup,
    SignupMode,
    SignupStatus,
)
from services.events.schemas import (
    CheckinPublic,
    CheckinRequest,
    DrawApplicantPublic,
    DrawPublic,
    DrawRequest,
    EventCreate,
    EventPublic,
    EventUpdate,
    MyOfferPublic,
    MySignupPublic,
    OfferPublic,
    QrPublic,
    ReasonRequest,
    SignupPublic,
    TicketPoolPublic,
    TicketPublic,
    VenueCreate,
    VenuePublic,
    VenueUpdate,
    ViewerSignupPublic,
    When,
)
from services.events.service import checkin, draw, events, offers, pools, signups, tickets, venues
from services.events.service.checkin import QrSigner
from services.events.service.tickets import Ticket, TicketWatch

venue_router = APIRouter(prefix="/v1/venues", tags=["venues"])
event_router = APIRouter(prefix="/v1/events", tags=["events"])
signup_router = APIRouter(tags=["signups"])
ticket_router = APIRouter(tags=["tickets"])
offer_router = APIRouter(tags=["offers"])

Signer = Annotated[QrSigner, app_state("qr_signer")]
Settings = Annotated[EventsSettings, app_state("settings")]
Watch = Annotated[TicketWatch, app_state("ticket_watch")]


def event_public(event: Event, mine: Signup | None = None) -> EventPublic:
    viewer_signup = (
        ViewerSignupPublic(id=mine.id, status=mine.status, waitlist_position=_position(mine))
        if mine
        else None
    )
    return EventPublic.model_validate(
        {
            **event.model_dump(),
            "seats_left": max(event.capacity - event.confirmed_count, 0),
            "my_signup": viewer_signup,
        }
    )


async def event_with_queue(session: SessionDep, event: Event) -> EventPublic:
    """:func:`event_public`, with its pools and queue for a queue event."""
    public = event_public(event)
    if event.signup_mode != SignupMode.QUEUE:
        return public
    found = await session.execute(pools.QUEUE_VIEW, {"event_id": event.id, "viewer": None})
    shown, queue, _ = pools.queue_public(
        [dict(row) for row in found.mappings()], serving=event.queue_serving, now=utcnow()
    )
    return public.model_copy(update={"pools": shown, "queue": queue})


def ticket_public(ticket: Ticket) -> TicketPublic:
    return TicketPublic(
        id=ticket.id,
        event_id=ticket.event_id,
        number=ticket.number,
        pool=TicketPoolPublic(id=ticket.pool_id, name=ticket.pool_name),
        state=ticket.state,
        signup_id=ticket.signup_id,
        waitlist_position=ticket.waitlist_position,
        ahead=ticket.ahead,
        created_at=ticket.created_at,
        answered_at=ticket.answered_at,
    )


def event_page_public(
    row: Mapping[str, Any], queue_rows: list[Mapping[str, Any]] | None = None
) -> EventPublic:
    """The event page from :func:`events.event_page`'s row."""
    mine = None
    if row["my_signup_id"] is not None:
        waitlisted = row["my_signup_status"] == SignupStatus.WAITLISTED
        mine = ViewerSignupPublic(
            id=row["my_signup_id"],
            status=row["my_signup_status"],
            waitlist_position=row["my_waitlist_position"] if waitlisted else None,
        )
    seats_left = max(row["capacity"] - row["confirmed_count"], 0)
    extra: dict[str, Any] = {}
    if queue_rows is not None:
        shown, queue, ticket = pools.queue_public(
            queue_rows, serving=int(row["queue_serving"]), now=utcnow()
        )
        extra = {"pools": shown, "queue": queue, "my_ticket": ticket}
    return EventPublic.model_validate({**row, "seats_left": seats_left, "my_signup": mine, **extra})


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` (already validated) as JSON, sparing FastAPI a second validation of it
    against the route's ``response_model``, which stays for the OpenAPI document."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")


def _position(signup: Signup) -> int | None:
    return signup.waitlist_position if signup.status == SignupStatus.WAITLISTED else None


def signup_public(signup: Signup) -> SignupPublic:
    return SignupPublic.model_validate(
        {**signup.model_dump(), "waitlist_position": _position(signup)}
    )


def offer_public(offer: SeatOffer) -> OfferPublic:
    state = offers.effective_state(offer, utcnow())
    return OfferPublic.model_validate({**offer.model_dump(), "state": state})


def draw_public(run: DrawRun) -> DrawPublic:
    applicants = [
        DrawApplicantPublic(signup_id=signup, weight=run.weights.get(str(signup), "1"))
        for signup in run.applicants
    ]
    return DrawPublic.model_validate({**run.model_dump(), "applicants": applicants})


# --- venues -----------------------------------------------------------------------------


@venue_router.get(
    "",
    operation_id="venues.list",
    response_model=CursorPage[VenuePublic],
    responses=problem_responses(422),
)
async def list_venues(
    session: SessionDep, page: PageDep, city: Annotated[str | None, Query(max_length=100)] = None
) -> CursorPage[VenuePublic]:
    """Venues by city and name."""
    found, next_cursor = await venues.list_venues(session=session, city=city, page=page)
    items = [VenuePublic.model_validate(venue) for venue in found]
    return CursorPage[VenuePublic](items=items, next_cursor=next_cursor)


@venue_router.post(
    "",
    operation_id="venues.create",
    status_code=201,
    response_model=VenuePublic,
    responses={**created_response("the venue"), **problem_responses(401, 403, 422)},
)
async def create_venue(
    session: SessionDep, staff: Staff, body: VenueCreate, response: Response
) -> VenuePublic:
    venue = await venues.create_venue(session=session, data=body, principal=staff)
    response.headers["Location"] = f"/v1/venues/{venue.id}"
    return VenuePublic.model_validate(venue)


@venue_router.get(
    "/{venue_id}",
    operation_id="venues.read",
    response_model=VenuePublic,
    responses=problem_responses(404, 422),
)
async def get_venue(session: SessionDep, venue_id: uuid.UUID) -> VenuePublic:
    return VenuePublic.model_validate(await venues.get_venue(session=session, venue_id=venue_id))


@venue_router.patch(
    "/{venue_id}",
    operation_id="venues.update",
    response_model=VenuePublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_venue(
    session: SessionDep, staff: Staff, venue_id: uuid.UUID, body: VenueUpdate
) -> VenuePublic:
    venue = await venues.update_venue(
        session=session, venue_id=venue_id, data=body, principal=staff
    )
    return VenuePublic.model_validate(venue)


# --- events -----------------------------------------------------------------------------


@event_router.get(
    "",
    operation_id="events.list",
    response_model=CursorPage[EventPublic],
    responses=problem_responses(422),
)
async def browse_events(
    session: SessionDep,
    page: PageDep,
    city: Annotated[str | None, Query(max_length=100)] = None,
    category: Category | None = None,
    starts_from: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    starts_to: Annotated[IsoDateTime | None, Query(alias="to")] = None,
    has_seats: bool | None = None,
) -> CursorPage[EventPublic]:
    """Published upcoming events, soonest first; ``next_cursor`` continues the list."""
    found, next_cursor = await events.browse(
        session=session,
        city=city,
        category=category,
        starts_from=starts_from,
        starts_to=starts_to,
        has_seats=has_seats,
        page=page,
    )
    items = [event_public(event) for event in found]
    return CursorPage[EventPublic](items=items, next_cursor=next_cursor)


@event_router.post(
    "",
    operation_id="events.create",
    status_code=201,
    response_model=EventPublic,
    responses={**created_response("the draft"), **problem_responses(401, 403, 422)},
)
async def create_event(
    session: SessionDep, principal: CurrentPrincipal, body: EventCreate, response: Response
) -> EventPublic:
    """A draft organized by the caller (volunteers and staff)."""
    event = await events.create_event(session=session, data=body, principal=principal)
    response.headers["Location"] = f"/v1/events/{event.id}"
    return await event_with_queue(session, event)


@event_router.get(
    "/{event_id}",
    operation_id="events.read",
    response_model=EventPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_event(reads: ReadsDep, viewer: Viewer, event_id: uuid.UUID) -> Response:
    """The event with seats left and, with a token, the viewer's own signup."""
    row = await events.event_page(reads=reads, event_id=event_id, principal=viewer)
    queue_rows = None
    if row["signup_mode"] == SignupMode.QUEUE:
        queue_rows = await pools.queue_page(
            reads=reads, event_id=event_id, viewer=viewer.user_id if viewer else None
        )
    return json_response(event_page_public(row, queue_rows))


@event_router.patch(
    "/{event_id}",
    operation_id="events.update",
    response_model=EventPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID, body: EventUpdate
) -> EventPublic:
    """Organizer or staff; capacity never below the confirmed seats (409)."""
    event = await events.update_event(
        session=session, event_id=event_id, principal=principal, data=body
    )
    return await event_with_queue(session, event)


LIFECYCLE = problem_responses(401, 403, 404, 409, 422)


@event_router.post(
    "/{event_id}/publish",
    operation_id="events.publish",
    response_model=EventPublic,
    responses=LIFECYCLE,
)
async def publish_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventPublic:
    """Staff only: volunteers submit for approval instead (403)."""
    return await event_with_queue(
        session, await events.publish_event(session=session, event_id=event_id, principal=principal)
    )


@event_router.post(
    "/{event_id}/submit",
    operation_id="events.submit",
    response_model=EventPublic,
    responses=LIFECYCLE,
)
async def submit_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventPublic:
    """The organizer asks staff to approve the event."""
    return event_public(
        await events.submit_event(session=session, event_id=event_id, principal=principal)
    )


@event_router.post(
    "/{event_id}/approve",
    operation_id="events.approve",
    response_model=EventPublic,
    responses=LIFECYCLE,
)
async def approve_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventPublic:
    return await event_with_queue(
        session, await events.approve_event(session=session, event_id=event_id, principal=principal)
    )


@event_router.post(
    "/{event_id}/reject",
    operation_id="events.reject",
    response_model=EventPublic,
    responses=LIFECYCLE,
)
async def reject_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID, body: ReasonRequest
) -> EventPublic:
    event = await events.reject_event(
        session=session, event_id=event_id, principal=principal, reason=body.reason
    )
    return event_public(event)


@event_router.post(
    "/{event_id}/cancel",
    operation_id="events.cancel",
    response_model=EventPublic,
    responses=LIFECYCLE,
)
async def cancel_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID, body: ReasonRequest
) -> EventPublic:
    """Releases every signup; the refunds due travel on ``events.event.cancelled.v1``."""
    event = await events.cancel_event(
        session=session, event_id=event_id, principal=principal, reason=body.reason
    )
    return event_public(event)


@event_router.post(
    "/{event_id}/complete",
    operation_id="events.complete",
    response_model=EventPublic,
    responses=LIFECYCLE,
)
async def complete_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventPublic:
    return event_public(
        await events.complete_event(session=session, event_id=event_id, principal=principal)
    )


# --- signups ----------------------------------------------------------------------------


@event_router.post(
    "/{event_id}/signups",
    operation_id="events.signup",
    status_code=201,
    response_model=SignupPublic,
    responses={
        **created_response("a seat, a waitlist place or a draw application"),
        200: {
            "model": SignupPublic,
            "description": "the caller's existing signup: a retry, with the same "
            "Idempotency-Key or without one, answers what the first request made",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def sign_up(
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    event_id: uuid.UUID,
    idempotency_key: IdempotencyKey = None,
) -> SignupPublic:
    """Take a seat, or a waitlist place when full (201); a retry returns the same (200).

    In draw mode this is an application; seats are allocated by ``POST .../draw``.
    """
    signup, created = await signups.sign_up(
        session=session, event_id=event_id, principal=principal, idempotency_key=idempotency_key
    )
    if created:
        response.headers["Location"] = f"/v1/signups/{signup.id}"
    else:
        response.status_code = status.HTTP_200_OK
    return signup_public(signup)


@signup_router.get(
    "/v1/me/signups",
    operation_id="signups.listMine",
    response_model=CursorPage[MySignupPublic],
    responses=problem_responses(401, 422),
)
async def my_signups(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep, when: When = When.UPCOMING
) -> CursorPage[MySignupPublic]:
    """The caller's live signups: upcoming soonest first, or past latest first."""
    rows, next_cursor = await signups.my_signups(
        session=session, principal=principal, when=when, page=page
    )
    items = [
        MySignupPublic.model_validate(
            {**signup_public(signup).model_dump(), "event_title": title, "event_starts_at": starts}
        )
        for signup, title, starts in rows
    ]
    return CursorPage[MySignupPublic](items=items, next_cursor=next_cursor)


SIGNUP_ERRORS = problem_responses(401, 404, 422)
CANCEL_ERRORS = problem_responses(401, 404, 409, 422)


@signup_router.get(
    "/v1/signups/{signup_id}",
    operation_id="signups.read",
    response_model=SignupPublic,
    responses=SIGNUP_ERRORS,
)
async def get_signup(
    session: SessionDep, principal: CurrentPrincipal, signup_id: uuid.UUID
) -> SignupPublic:
    signup = await signups.get_signup(session=session, signup_id=signup_id, principal=principal)
    return signup_public(signup)


@signup_router.delete(
    "/v1/signups/{signup_id}",
    operation_id="signups.delete",
    response_model=SignupPublic,
    responses=CANCEL_ERRORS,
)
async def delete_signup(
    session: SessionDep, principal: CurrentPrincipal, signup_id: uuid.UUID
) -> SignupPublic:
    """Cancel; a freed seat goes to the head of the waitlist at once."""
    signup = await signups.cancel_signup(session=session, signup_id=signup_id, principal=principal)
    return signup_public(signup)


@signup_router.post(
    "/v1/signups/{signup_id}/cancel",
    operation_id="signups.cancel",
    response_model=SignupPublic,
    responses=CANCEL_ERRORS,
)
async def cancel_signup(
    session: SessionDep, principal: CurrentPrincipal, signup_id: uuid.UUID
) -> SignupPublic:
    """The same as ``DELETE /v1/signups/{id}``, for clients that cannot send DELETE."""
    signup = await signups.cancel_signup(session=session, signup_id=signup_id, principal=principal)
    return signup_public(signup)


@signup_router.get(
    "/v1/signups/{signup_id}/qr",
    operation_id="signups.qr",
    response_model=QrPublic,
    responses=problem_responses(401, 404, 409, 422),
)
async def signup_qr(
    session: SessionDep, principal: CurrentPrincipal, signer: Signer, signup_id: uuid.UUID
) -> QrPublic:
    """A short-lived entry code for the caller's confirmed signup; refresh it each minute."""
    token, expires_at = await checkin.qr_token(
        session=session, signup_id=signup_id, principal=principal, signer=signer
    )
    return QrPublic(token=token, expires_at=expires_at)


# --- the queue ---------------------------------------------------------------------------


@event_router.post(
    "/{event_id}/tickets",
    operation_id="tickets.create",
    status_code=201,
    response_model=TicketPublic,
    responses={
        **created_response("a place in the queue's arrival order"),
        200: {
            "model": TicketPublic,
            "description": "the caller's existing ticket: a retry, a second device or a "
            "reconnect keeps the first ticket",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def issue_ticket(
    session: SessionDep,
    reads: ReadsDep,
    principal: CurrentPrincipal,
    response: Response,
    event_id: uuid.UUID,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Queue for a queue event (201): the ticket's ``number`` is the caller's place in
    arrival order; seats are granted strictly in that order. A retry returns it (200).

    409 ``signups-not-open`` (with ``opens_at``) before the caller's pool opens, 403
    ``no-pool`` when no pool is for the caller's roles, 409 ``not-a-queue`` for other
    events (which take ``POST .../signups``)."""
    ticket, created = await tickets.issue_ticket(
        session=session,
        reads=reads,
        event_id=event_id,
        principal=principal,
        idempotency_key=idempotency_key,
    )
    if not created:
        return json_response(ticket_public(ticket), status.HTTP_200_OK)
    answer = json_response(ticket_public(ticket), status.HTTP_201_CREATED)
    answer.headers["Location"] = f"/v1/tickets/{ticket.id}"
    return answer


@ticket_router.get(
    "/v1/tickets/{ticket_id}",
    operation_id="tickets.read",
    response_model=TicketPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_ticket(
    reads: ReadsDep,
    principal: CurrentPrincipal,
    watch: Watch,
    ticket_id: uuid.UUID,
    wait: Annotated[
        float, Query(ge=0, le=30, description="seconds to wait for the answer (long poll)")
    ] = 0,
) -> Response:
    """The caller's ticket; with ``wait``, as soon as it is answered (not ``queued``) or
    after ``wait`` seconds, whichever comes first."""
    ticket = await tickets.get_ticket(
        reads=reads, watch=watch, ticket_id=ticket_id, principal=principal, wait=wait
    )
    return json_response(ticket_public(ticket))


# --- draw and check-in ------------------------------------------------------------------


@event_router.post(
    "/{event_id}/draw",
    operation_id="events.runDraw",
    status_code=201,
    response_model=DrawPublic,
    responses={**created_response("the draw's result"), **LIFECYCLE},
)
async def run_draw(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: Settings,
    event_id: uuid.UUID,
    response: Response,
    body: DrawRequest | None = None,
) -> DrawPublic:
    """Allocate the seats of a draw-mode event after applications closed; runs once (409).

    An organizer-held seed (``seed_source`` organizer) is revealed as ``seed`` and must
    match the event's ``seed_commitment`` (422 ``seed-mismatch``); a server-held seed takes
    none (422 ``seed-not-expected``). Applicants who lost recent draws weigh more."""
    run = await draw.run_draw(
        session=session,
        event_id=event_id,
        principal=principal,
        seed=body.seed if body else None,
        policy=draw.WeightPolicy(
            loser_days=settings.draw_loser_priority_days, max_weight=settings.draw_max_weight
        ),
    )
    response.headers["Location"] = f"/v1/events/{event_id}/draw"
    return draw_public(run)


@event_router.get(
    "/{event_id}/draw",
    operation_id="events.readDraw",
    response_model=DrawPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_draw(session: SessionDep, viewer: Viewer, event_id: uuid.UUID) -> DrawPublic:
    """The audit record: the revealed seed and its commitment, the applicants with their
    weights and the allocation; ``tools/verify_draw.py`` recomputes it from this alone."""
    return draw_public(await draw.get_draw(session=session, event_id=event_id, principal=viewer))


@event_router.post(
    "/{event_id}/checkins",
    operation_id="events.checkIn",
    response_model=CheckinPublic,
    responses=LIFECYCLE,
)
async def check_in(
    session: SessionDep,
    principal: CurrentPrincipal,
    signer: Signer,
    event_id: uuid.UUID,
    body: CheckinRequest,
) -> CheckinPublic:
    """Staff or the organizer scan an attendee's code; a second scan is harmless."""
    signup, already = await checkin.check_in(
        session=session, event_id=event_id, token=body.token, principal=principal, signer=signer
    )
    assert signup.checked_in_at is not None
    return CheckinPublic(
        signup_id=signup.id,
        user_id=signup.user_id,
        checked_in_at=signup.checked_in_at,
        already_checked_in=already,
    )


# --- waitlist offers --------------------------------------------------------------------


@offer_router.get(
    "/v1/me/offers",
    operation_id="offers.listMine",
    response_model=CursorPage[MyOfferPublic],
    responses=problem_responses(401, 422),
)
async def my_offers(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> CursorPage[MyOfferPublic]:
    """The caller's open offers (seats held for them), soonest to expire first."""
    rows, next_cursor = await offers.my_offers(session=session, principal=principal, page=page)
    items = [
        MyOfferPublic.model_validate(
            {**offer_public(offer).model_dump(), "event_title": title, "event_starts_at": starts}
        )
        for offer, title, starts in rows
    ]
    return CursorPage[MyOfferPublic](items=items, next_cursor=next_cursor)


@offer_router.get(
    "/v1/offers/{offer_id}",
    operation_id="offers.read",
    response_model=OfferPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_offer(
    session: SessionDep, principal: CurrentPrincipal, offer_id: uuid.UUID
) -> OfferPublic:
    """The caller's offer (``lapsed`` once past ``expires_at``); another user's is 404."""
    return offer_public(
        await offers.get_offer(session=session, offer_id=offer_id, principal=principal)
    )


OFFER_ERRORS = problem_responses(401, 404, 409, 422)


@offer_router.post(
    "/v1/offers/{offer_id}/accept",
    operation_id="offers.accept",
    response_model=OfferPublic,
    responses=OFFER_ERRORS,
)
async def accept_offer(
    session: SessionDep, principal: CurrentPrincipal, offer_id: uuid.UUID
) -> OfferPublic:
    """Take the held seat: the signup is confirmed (a paid event charges its fee now).
    An offer no longer open (lapsed, declined, withdrawn, accepted) is a 409."""
    return offer_public(
        await offers.accept_offer(session=session, offer_id=offer_id, principal=principal)
    )


@offer_router.post(
    "/v1/offers/{offer_id}/decline",
    operation_id="offers.decline",
    response_model=OfferPublic,
    responses=OFFER_ERRORS,
)
async def decline_offer(
    session: SessionDep, principal: CurrentPrincipal, offer_id: uuid.UUID
) -> OfferPublic:
    """Give the held seat up: the signup is cancelled and the next in line is offered it."""
    return offer_public(
        await offers.decline_offer(session=session, offer_id=offer_id, principal=principal)
    )


ROUTERS = (venue_router, event_router, signup_router, ticket_router, offer_router)
