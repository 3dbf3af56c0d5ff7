"""Events' API models: ``*Create``/``*Update`` request bodies refuse unknown fields,
``*Public`` responses never show the draw seed before the draw has run (knowing it would
let a bot time its application)."""

import enum
import uuid
from datetime import datetime
from typing import Self
from zoneinfo import available_timezones

from pydantic import ConfigDict, Field, model_validator

from kit.api.schemas import PublicModel, StrictBody, spelled_members, spelled_out
from kit.api.times import IsoDateTime
from services.events.models import (
    ADDRESS_MAX,
    CITY_MAX,
    DESCRIPTION_MAX,
    NAME_MAX,
    REASON_MAX,
    Category,
    Eligibility,
    EventStatus,
    OfferState,
    PoolAudience,
    SeedSource,
    SignupMode,
    SignupStatus,
    TicketState,
)

MAX_CAPACITY = 100_000
MAX_FEE = 1_000_000
MAX_TIER = 100
MAX_POOLS = 8
SEED_MAX = 2**63 - 1
COMMITMENT = r"^[0-9a-f]{64}$"
WEIGHT = r"^[1-9][0-9]*(/[1-9][0-9]*)?$"
COMMITMENT_RULE = (
    "lowercase hex SHA-256 of the UTF-8 text ``paddock-draw-v1:<seed>`` (the seed in decimal, "
    "0 to 2**63-1)"
)
# Text refuses control characters (PostgreSQL cannot store NUL); descriptions keep tab and
# line breaks.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
TimeZone = enum.StrEnum(  # type: ignore[misc]
    "TimeZone", spelled_members(sorted(available_timezones()))
)
"""The IANA time zone names this Python knows (``Europe/Berlin``): one schema component,
referred to by every field that holds a time zone, with a member name for each
(``EUROPE_BERLIN``) that generated clients keep."""
spelled_out(TimeZone)


class VenueCreate(StrictBody):
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=SINGLE_LINE)
    city: str = Field(min_length=1, max_length=CITY_MAX, pattern=SINGLE_LINE)
    address: str = Field(min_length=1, max_length=ADDRESS_MAX, pattern=SINGLE_LINE)
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    timezone: TimeZone = Field(
        examples=["Europe/Berlin"], description="an IANA time zone: the venue's local time"
    )


class VenueUpdate(StrictBody):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=SINGLE_LINE)
    city: str | None = Field(default=None, min_length=1, max_length=CITY_MAX, pattern=SINGLE_LINE)
    address: str | None = Field(
        default=None, min_length=1, max_length=ADDRESS_MAX, pattern=SINGLE_LINE
    )
    capacity: int | None = Field(default=None, ge=1, le=MAX_CAPACITY)
    timezone: TimeZone | None = Field(
        default=None, examples=["Europe/Berlin"], description="an IANA time zone"
    )


class VenuePublic(PublicModel):
    id: uuid.UUID
    name: str
    city: str
    address: str
    capacity: int
    timezone: str


SCHEDULE_RULES = (
    "The schedule must hold together (else a 422 names the rule broken): ``ends_at`` after "
    "``starts_at``, ``closes_at`` after ``opens_at``, and ``closes_at`` not after "
    "``starts_at``. Times are RFC 3339 date-times with an offset."
)


class Schedule(StrictBody):
    """Times shared by creation and edits; checked together once merged."""

    starts_at: IsoDateTime
    ends_at: IsoDateTime
    opens_at: IsoDateTime
    closes_at: IsoDateTime


def check_schedule(starts: datetime, ends: datetime, opens: datetime, closes: datetime) -> None:
    """Raise ``ValueError`` unless the event ends after it starts and signups close in time."""
    if ends <= starts:
        raise ValueError("ends_at must be after starts_at")
    if closes <= opens:
        raise ValueError("closes_at must be after opens_at")
    if closes > starts:
        raise ValueError("closes_at must not be after starts_at")


POOL_RULES = (
    "Queue events only. Sizes add up to ``capacity``; each pool opens within the event's "
    "signup window (``opens_at`` to ``closes_at``), closes after it opens and not after "
    "the event's ``closes_at``. Ranked in the order given: a user queues in the first pool "
    "open now whose audience their roles match; a closed pool's unused seats flow to the "
    "next pool that has not closed."
)


class PoolCreate(StrictBody):
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=SINGLE_LINE)
    audience: PoolAudience = PoolAudience.EVERYONE
    size: int = Field(ge=1, le=MAX_CAPACITY)
    opens_at: IsoDateTime
    closes_at: IsoDateTime


def check_pools(
    pools: list[PoolCreate], *, capacity: int, opens: datetime, closes: datetime
) -> None:
    """Raise ``ValueError`` unless ``pools`` fit the event (see :data:`POOL_RULES`)."""
    if sum(pool.size for pool in pools) != capacity:
        raise ValueError("the pools' sizes must add up to capacity")
    for pool in pools:
        if pool.closes_at <= pool.opens_at:
            raise ValueError(f"pool {pool.name!r}: closes_at must be after opens_at")
        if not opens <= pool.opens_at < closes:
            raise ValueError(f"pool {pool.name!r}: opens_at must be within the signup window")
        if pool.closes_at > closes:
            raise ValueError(f"pool {pool.name!r}: closes_at must not be after the event's")


WAITLIST_OFFERS = (
    "a freed seat is offered to the head of the waitlist, held for a while (accept or "
    "decline: ``/v1/offers/{id}``), instead of given at once"
)


class EventCreate(Schedule):
    model_config = ConfigDict(json_schema_extra={"description": SCHEDULE_RULES})

    title: str = Field(min_length=1, max_length=NAME_MAX, pattern=SINGLE_LINE)
    description: str = Field(default="", max_length=DESCRIPTION_MAX, pattern=MULTI_LINE)
    category: Category
    city: str | None = Field(
        default=None,
        min_length=1,
        max_length=CITY_MAX,
        pattern=SINGLE_LINE,
        description="defaults to the venue's",
    )
    venue_id: uuid.UUID | None = None
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    eligibility: Eligibility = Eligibility.EVERYONE
    min_tier: int = Field(default=0, ge=0, le=MAX_TIER)
    points_fee: int = Field(default=0, ge=0, le=MAX_FEE)
    signup_mode: SignupMode = SignupMode.FIRST_COME
    waitlist_offers: bool | None = Field(
        default=None, description=WAITLIST_OFFERS + "; by default for queue events only"
    )
    draw_seed: int | None = Field(
        default=None,
        ge=0,
        le=SEED_MAX,
        description="the server keeps this draw seed secret until the draw; random when "
        "neither it nor seed_commitment is given",
    )
    seed_commitment: str | None = Field(
        default=None,
        pattern=COMMITMENT,
        description="the organizer keeps the draw seed and reveals it to run the draw; this "
        f"commits to it: the {COMMITMENT_RULE}. Not with draw_seed.",
    )
    waitlist_limit: int | None = Field(
        default=None,
        ge=0,
        le=MAX_CAPACITY,
        description="queue events: the most waitlist places; later tickets are sold out "
        "(unlimited when omitted)",
    )
    pools: list[PoolCreate] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_POOLS,
        description=POOL_RULES + " Omitted: one pool for everyone, the whole capacity, "
        "open for the event's signup window.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_schedule(self.starts_at, self.ends_at, self.opens_at, self.closes_at)
        if self.city is None and self.venue_id is None:
            raise ValueError("city is required when there is no venue")
        if self.pools is not None:
            if self.signup_mode != SignupMode.QUEUE:
                raise ValueError("pools are for signup_mode queue only")
            check_pools(
                self.pools, capacity=self.capacity, opens=self.opens_at, closes=self.closes_at
            )
        if self.draw_seed is not None and self.seed_commitment is not None:
            raise ValueError("give draw_seed or seed_commitment, not both")
        return self


class EventUpdate(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "description": "Only the fields sent change. "
            + SCHEDULE_RULES.replace("must", "must still", 1)
        }
    )

    title: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=SINGLE_LINE)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX, pattern=MULTI_LINE)
    category: Category | None = None
    city: str | None = Field(default=None, min_length=1, max_length=CITY_MAX, pattern=SINGLE_LINE)
    starts_at: IsoDateTime | None = None
    ends_at: IsoDateTime | None = None
    opens_at: IsoDateTime | None = None
    closes_at: IsoDateTime | None = None
    capacity: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CAPACITY,
        description="never below the confirmed seats; fixed for queue events (their pools)",
    )
    waitlist_limit: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    waitlist_offers: bool | None = Field(default=None, description=WAITLIST_OFFERS)
    seed_commitment: str | None = Field(
        default=None,
        pattern=COMMITMENT,
        description="the organizer takes over the draw seed (see EventCreate); only before "
        "the event is published and its applications closed, else 409 commitment-locked",
    )


class ReasonRequest(StrictBody):
    reason: str = Field(min_length=1, max_length=REASON_MAX, pattern=MULTI_LINE)


class ViewerSignupPublic(PublicModel):
    id: uuid.UUID
    status: SignupStatus
    waitlist_position: int | None = None


class PoolPublic(PublicModel):
    id: uuid.UUID
    name: str
    audience: PoolAudience
    size: int
    taken: int
    seats_left: int
    opens_at: datetime
    closes_at: datetime


class QueuePublic(PublicModel):
    length: int = Field(description="tickets waiting for their answer")
    serving: int = Field(description="every ticket numbered up to this one has its answer")
    next_wave_at: datetime | None = Field(description="when the next pool opens, if one will")


class ViewerTicketPublic(PublicModel):
    id: uuid.UUID
    number: int
    state: TicketState


class EventPublic(PublicModel):
    id: uuid.UUID
    title: str
    description: str
    category: Category
    city: str
    venue_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    closes_at: datetime
    capacity: int
    confirmed_count: int
    seats_left: int
    eligibility: Eligibility
    min_tier: int
    points_fee: int
    organizer_id: uuid.UUID
    status: EventStatus
    status_reason: str | None
    signup_mode: SignupMode
    waitlist_offers: bool
    drawn_at: datetime | None
    waitlist_limit: int | None = None
    seed_commitment: str = Field(
        description=f"the draw seed's commitment, public before the draw: the {COMMITMENT_RULE}"
    )
    seed_source: SeedSource = Field(
        description="who holds the draw seed until the draw (an organizer reveals it)"
    )
    my_signup: ViewerSignupPublic | None = None
    pools: list[PoolPublic] | None = Field(default=None, description="queue events only")
    queue: QueuePublic | None = Field(default=None, description="queue events only")
    my_ticket: ViewerTicketPublic | None = None


class TicketPoolPublic(PublicModel):
    id: uuid.UUID
    name: str


class TicketPublic(PublicModel):
    """A place in a queue event's arrival order ("you are number 312") and its answer."""

    id: uuid.UUID
    event_id: uuid.UUID
    number: int = Field(description="1 for the first to queue")
    pool: TicketPoolPublic
    state: TicketState
    signup_id: uuid.UUID | None = Field(description="once confirmed or waitlisted")
    waitlist_position: int | None
    ahead: int = Field(description="about how many tickets wait before this one (0 once answered)")
    created_at: datetime
    answered_at: datetime | None


class SignupPublic(PublicModel):
    id: uuid.UUID
    event_id: uuid.UUID
    user_id: uuid.UUID
    status: SignupStatus
    waitlist_position: int | None = Field(description="only while waitlisted; 1 is first")
    fee_points: int
    created_at: datetime
    checked_in_at: datetime | None


class MySignupPublic(SignupPublic):
    """A signup in the caller's list, with its event's title and start."""

    event_title: str
    event_starts_at: datetime


class OfferPublic(PublicModel):
    """A seat held for a waitlisted signup: ``offered`` until ``expires_at``, then
    ``lapsed`` (shown so at once, even before the expiry job ran)."""

    id: uuid.UUID
    event_id: uuid.UUID
    signup_id: uuid.UUID
    user_id: uuid.UUID
    state: OfferState
    offered_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class MyOfferPublic(OfferPublic):
    """An open offer in the caller's list, with its event's title and start."""

    event_title: str
    event_starts_at: datetime


class DrawRequest(StrictBody):
    """The organizer's reveal of a committed seed; absent for a seed the server holds."""

    seed: int | None = Field(
        default=None,
        ge=0,
        le=SEED_MAX,
        description="the seed the event's seed_commitment commits to (422 seed-mismatch "
        "otherwise); only for events whose seed_source is organizer",
    )


class DrawApplicantPublic(PublicModel):
    signup_id: uuid.UUID
    weight: str = Field(
        pattern=WEIGHT,
        examples=["1", "3", "3/2"],
        description="the applicant's weight, an exact fraction",
    )


class DrawPublic(PublicModel):
    """The draw's audit record: recompute ``allocation`` from ``seed`` and ``applicants``
    with the ``algorithm`` (``tools/verify_draw.py`` does)."""

    event_id: uuid.UUID
    algorithm: str = Field(
        description="es-hmac-sha256-v1 (services/events/service/draw.py documents it), or "
        "legacy-shuffle for draws run before weights"
    )
    seed: int = Field(description="the revealed seed")
    seed_commitment: str | None = Field(
        description="what the event committed to before the draw (none for legacy draws)"
    )
    seed_source: SeedSource
    ran_at: datetime
    ran_by: uuid.UUID
    capacity: int | None = Field(description="the seats drawn for")
    applicants: list[DrawApplicantPublic] = Field(
        description="the applications, sorted by signup id, with their weights"
    )
    priority: list[uuid.UUID] = Field(
        description="applicants weighted above 1 (recently lost a draw)"
    )
    allocation: list[uuid.UUID] = Field(
        description="signup ids in drawn order: the first ``confirmed`` got seats, the rest "
        "the waitlist in this order"
    )
    confirmed: int
    waitlisted: int


class QrPublic(PublicModel):
    token: str
    expires_at: datetime


class CheckinRequest(StrictBody):
    token: str = Field(min_length=1, max_length=200, pattern=SINGLE_LINE)


class CheckinPublic(PublicModel):
    signup_id: uuid.UUID
    user_id: uuid.UUID
    checked_in_at: datetime
    already_checked_in: bool


class When(enum.StrEnum):
    """Which of the caller's signups a list shows: of events yet to start, or started."""

    UPCOMING = "upcoming"
    PAST = "past"
