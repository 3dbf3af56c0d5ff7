"""Events' HTTP API: venues, events and their lifecycle, signups, draws and check-in.

Reading events needs no token (a token adds the viewer's own signup); everything else
does. Authorization is per object: another user's signup is 'not found', only an event's
organizer or staff manage it, volunteers need staff approval to publish.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel

from kit.auth import CurrentPrincipal, OptionalPrincipal, Principal, require_roles
from kit.db import ReadSessionDep, SessionDep
from kit.problems import problem_responses
from services.events.models import Category, DrawRun, Event, Signup, SignupStatus
from services.events.schemas import (
    CheckinOut,
    CheckinRequest,
    DrawOut,
    DrawRequest,
    EventCreate,
    EventOut,
    EventPage,
    EventUpdate,
    MySignup,
    QrOut,
    Reason,
    SignupOut,
    SignupPage,
    SignupWithEvent,
    VenueCreate,
    VenueOut,
    VenueUpdate,
    When,
)
from services.events.service import checkin, draw, events, signups, venues
from services.events.service.access import STAFF_ROLES
from services.events.service.checkin import QrSigner

venue_router = APIRouter(prefix="/v1/venues", tags=["venues"])
event_router = APIRouter(prefix="/v1/events", tags=["events"])
signup_router = APIRouter(tags=["signups"])

Staff = Annotated[Principal, require_roles(*STAFF_ROLES)]
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"


Viewer = OptionalPrincipal


def _signer(request: Request) -> QrSigner:
    signer: QrSigner = request.app.state.qr_signer
    return signer


Signer = Annotated[QrSigner, Depends(_signer)]


def event_out(event: Event, mine: Signup | None = None) -> EventOut:
    return EventOut.model_validate(
        {
            **event.model_dump(),
            "seats_left": max(event.capacity - event.confirmed_count, 0),
            "my_signup": MySignup(id=mine.id, status=mine.status, waitlist_position=_position(mine))
            if mine
            else None,
        }
    )


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` (already validated) as JSON, sparing FastAPI a second validation of it
    against the route's ``response_model``, which stays for the OpenAPI document."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")


def _position(signup: Signup) -> int | None:
    return signup.waitlist_position if signup.status == SignupStatus.WAITLISTED else None


def signup_out(signup: Signup) -> SignupOut:
    return SignupOut.model_validate({**signup.model_dump(), "waitlist_position": _position(signup)})


def draw_out(run: DrawRun) -> DrawOut:
    return DrawOut.model_validate(run.model_dump())


# --- venues -----------------------------------------------------------------------------


@venue_router.get("", response_model=list[VenueOut], responses=problem_responses(422))
async def list_venues(
    session: SessionDep, city: Annotated[str | None, Query(max_length=100)] = None
) -> list[VenueOut]:
    found = await venues.list_venues(session, city=city)
    return [VenueOut.model_validate(venue) for venue in found]


@venue_router.post(
    "", status_code=201, response_model=VenueOut, responses=problem_responses(401, 403, 422)
)
async def create_venue(session: SessionDep, _: Staff, body: VenueCreate) -> VenueOut:
    return VenueOut.model_validate(await venues.create_venue(session, data=body))


@venue_router.get("/{venue_id}", response_model=VenueOut, responses=problem_responses(404, 422))
async def get_venue(session: SessionDep, venue_id: uuid.UUID) -> VenueOut:
    return VenueOut.model_validate(await venues.get_venue(session, venue_id=venue_id))


@venue_router.patch(
    "/{venue_id}", response_model=VenueOut, responses=problem_responses(401, 403, 404, 422)
)
async def update_venue(
    session: SessionDep, _: Staff, venue_id: uuid.UUID, body: VenueUpdate
) -> VenueOut:
    venue = await venues.update_venue(session, venue_id=venue_id, data=body)
    return VenueOut.model_validate(venue)


# --- events -----------------------------------------------------------------------------


@event_router.get("", response_model=EventPage, responses=problem_responses(422))
async def browse_events(
    session: SessionDep,
    city: Annotated[str | None, Query(max_length=100)] = None,
    category: Category | None = None,
    starts_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    starts_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    has_seats: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> EventPage:
    """Published upcoming events, soonest first; ``next_cursor`` continues the list."""
    found, next_cursor = await events.browse(
        session,
        city=city,
        category=category,
        starts_from=starts_from,
        starts_to=starts_to,
        has_seats=has_seats,
        after=cursor,
        limit=limit,
    )
    return EventPage(items=[event_out(event) for event in found], next_cursor=next_cursor)


@event_router.post(
    "", status_code=201, response_model=EventOut, responses=problem_responses(401, 403, 422)
)
async def create_event(
    session: SessionDep, principal: CurrentPrincipal, body: EventCreate
) -> EventOut:
    """A draft organized by the caller (volunteers and staff)."""
    return event_out(await events.create_event(session, data=body, principal=principal))


@event_router.get(
    "/{event_id}", response_model=EventOut, responses=problem_responses(401, 404, 422)
)
async def get_event(session: ReadSessionDep, viewer: Viewer, event_id: uuid.UUID) -> Response:
    """The event with seats left and, with a token, the viewer's own signup."""
    event, mine = await events.get_event(session, event_id=event_id, principal=viewer)
    return json_response(event_out(event, mine))


@event_router.patch(
    "/{event_id}", response_model=EventOut, responses=problem_responses(401, 403, 404, 409, 422)
)
async def update_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID, body: EventUpdate
) -> EventOut:
    """Organizer or staff; capacity never below the confirmed seats (409)."""
    event = await events.update_event(session, event_id=event_id, principal=principal, data=body)
    return event_out(event)


LIFECYCLE = problem_responses(401, 403, 404, 409, 422)


@event_router.post("/{event_id}/publish", response_model=EventOut, responses=LIFECYCLE)
async def publish_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventOut:
    """Staff only: volunteers submit for approval instead (403)."""
    return event_out(await events.publish_event(session, event_id=event_id, principal=principal))


@event_router.post("/{event_id}/submit", response_model=EventOut, responses=LIFECYCLE)
async def submit_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventOut:
    """The organizer asks staff to approve the event."""
    return event_out(await events.submit_event(session, event_id=event_id, principal=principal))


@event_router.post("/{event_id}/approve", response_model=EventOut, responses=LIFECYCLE)
async def approve_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventOut:
    return event_out(await events.approve_event(session, event_id=event_id, principal=principal))


@event_router.post("/{event_id}/reject", response_model=EventOut, responses=LIFECYCLE)
async def reject_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID, body: Reason
) -> EventOut:
    event = await events.reject_event(
        session, event_id=event_id, principal=principal, reason=body.reason
    )
    return event_out(event)


@event_router.post("/{event_id}/cancel", response_model=EventOut, responses=LIFECYCLE)
async def cancel_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID, body: Reason
) -> EventOut:
    """Releases every signup; the refunds due travel on ``events.event.cancelled.v1``."""
    event = await events.cancel_event(
        session, event_id=event_id, principal=principal, reason=body.reason
    )
    return event_out(event)


@event_router.post("/{event_id}/complete", response_model=EventOut, responses=LIFECYCLE)
async def complete_event(
    session: SessionDep, principal: CurrentPrincipal, event_id: uuid.UUID
) -> EventOut:
    return event_out(await events.complete_event(session, event_id=event_id, principal=principal))


# --- signups ----------------------------------------------------------------------------


@event_router.post(
    "/{event_id}/signups",
    status_code=201,
    response_model=SignupOut,
    responses={
        200: {"model": SignupOut, "description": "the caller's existing signup (a retry)"},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def sign_up(
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    event_id: uuid.UUID,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)
    ] = None,
) -> SignupOut:
    """Take a seat, or a waitlist place when full (201); a retry returns the same (200).

    In draw mode this is an application; seats are allocated by ``POST .../draw``.
    """
    signup, created = await signups.sign_up(
        session, event_id=event_id, principal=principal, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return signup_out(signup)


@signup_router.get(
    "/v1/me/signups", response_model=SignupPage, responses=problem_responses(401, 422)
)
async def my_signups(
    session: SessionDep,
    principal: CurrentPrincipal,
    when: When = "upcoming",
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SignupPage:
    """The caller's live signups: upcoming soonest first, or past latest first."""
    rows, next_cursor = await signups.my_signups(
        session, principal=principal, when=when, limit=limit, after=cursor
    )
    items = [
        SignupWithEvent.model_validate(
            {**signup_out(signup).model_dump(), "event_title": title, "event_starts_at": starts}
        )
        for signup, title, starts in rows
    ]
    return SignupPage(items=items, next_cursor=next_cursor)


SIGNUP_ERRORS = problem_responses(401, 404, 422)


@signup_router.get("/v1/signups/{signup_id}", response_model=SignupOut, responses=SIGNUP_ERRORS)
async def get_signup(
    session: SessionDep, principal: CurrentPrincipal, signup_id: uuid.UUID
) -> SignupOut:
    signup = await signups.get_signup(session, signup_id=signup_id, principal=principal)
    return signup_out(signup)


@signup_router.delete("/v1/signups/{signup_id}", response_model=SignupOut, responses=SIGNUP_ERRORS)
async def delete_signup(
    session: SessionDep, principal: CurrentPrincipal, signup_id: uuid.UUID
) -> SignupOut:
    """Cancel; a freed seat goes to the head of the waitlist at once."""
    signup = await signups.cancel_signup(session, signup_id=signup_id, principal=principal)
    return signup_out(signup)


@signup_router.post(
    "/v1/signups/{signup_id}/cancel", response_model=SignupOut, responses=SIGNUP_ERRORS
)
async def cancel_signup(
    session: SessionDep, principal: CurrentPrincipal, signup_id: uuid.UUID
) -> SignupOut:
    """The same as ``DELETE /v1/signups/{id}``, for clients that cannot send DELETE."""
    signup = await signups.cancel_signup(session, signup_id=signup_id, principal=principal)
    return signup_out(signup)


@signup_router.get(
    "/v1/signups/{signup_id}/qr",
    response_model=QrOut,
    responses=problem_responses(401, 404, 409, 422),
)
async def signup_qr(
    session: SessionDep, principal: CurrentPrincipal, signer: Signer, signup_id: uuid.UUID
) -> QrOut:
    """A short-lived entry code for the caller's confirmed signup; refresh it each minute."""
    token, expires_at = await checkin.qr_token(
        session, signup_id=signup_id, principal=principal, signer=signer
    )
    return QrOut(token=token, expires_at=expires_at)


# --- draw and check-in ------------------------------------------------------------------


@event_router.post("/{event_id}/draw", status_code=201, response_model=DrawOut, responses=LIFECYCLE)
async def run_draw(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    event_id: uuid.UUID,
    _: DrawRequest | None = None,
) -> DrawOut:
    """Allocate the seats of a draw-mode event after applications closed; runs once (409)."""
    days = request.app.state.settings.draw_loser_priority_days
    run = await draw.run_draw(session, event_id=event_id, principal=principal, priority_days=days)
    return draw_out(run)


@event_router.get(
    "/{event_id}/draw", response_model=DrawOut, responses=problem_responses(401, 404, 422)
)
async def get_draw(session: SessionDep, viewer: Viewer, event_id: uuid.UUID) -> DrawOut:
    """The audit record: seed, input order and allocation; recompute it to check."""
    return draw_out(await draw.get_draw(session, event_id=event_id, principal=viewer))


@event_router.post("/{event_id}/checkins", response_model=CheckinOut, responses=LIFECYCLE)
async def check_in(
    session: SessionDep,
    principal: CurrentPrincipal,
    signer: Signer,
    event_id: uuid.UUID,
    body: CheckinRequest,
) -> CheckinOut:
    """Staff or the organizer scan an attendee's code; a second scan is harmless."""
    signup, already = await checkin.check_in(
        session, event_id=event_id, token=body.token, principal=principal, signer=signer
    )
    assert signup.checked_in_at is not None
    return CheckinOut(
        signup_id=signup.id,
        user_id=signup.user_id,
        checked_in_at=signup.checked_in_at,
        already_checked_in=already,
    )


ROUTERS = (venue_router, event_router, signup_router)
