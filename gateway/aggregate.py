"""``GET /v1/me/home``: one call for the app's home screen.

``profile`` comes from identity's ``GET /v1/me`` and is required: its error passes
through unchanged. The optional parts (:data:`gateway.config.DEFAULT_HOME_PARTS`:
wallet, next signups, first feed page, referral summary) are fetched concurrently with a
short timeout; a part whose service is not configured, down, slow or answering an error
is ``null`` and named in ``unavailable``, so the screen renders what is there. Each
part's shape is a named component the gateway owns (ADR 0011): the members of identity's,
events', rewards', content's and referrals' answers that the screen shows.
"""

import asyncio
import enum
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from gateway.config import HomePart, HomePartName
from gateway.guard import Guard
from gateway.proxy import downstream_headers
from gateway.tracing import TRACEPARENT_HEADER, child_traceparent, trace_context
from gateway.upstream import RETRY_AFTER_SECONDS, Upstream, UpstreamProblem, UpstreamResponse
from kit.api.schemas import PublicModel
from kit.auth import Role
from kit.problems import Problem, problem_response, problem_responses

log = logging.getLogger(__name__)

PROFILE_UPSTREAM = "identity"
PROFILE_PATH = "/v1/me"
# Documents the same security scheme as kit.auth, so the merged OpenAPI has one.
BEARER = HTTPBearer(auto_error=False, description="Access token from identity's /v1/auth/login")


class SignupStatus(enum.StrEnum):
    # events' SignupStatus, value for value: the merged document keeps one component
    APPLIED = "applied"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class HomeProfile(PublicModel):
    """The caller's account, as identity's ``GET /v1/me`` shows it."""

    id: uuid.UUID
    display_name: str
    email: str
    bio: str | None
    city: str | None
    avatar_url: str | None
    roles: list[Role]
    created_at: datetime


class HomeSignup(PublicModel):
    """One of the caller's next signups, as events' ``GET /v1/me/signups`` shows it."""

    id: uuid.UUID
    event_id: uuid.UUID
    status: SignupStatus
    waitlist_position: int | None = Field(description="only while waitlisted; 1 is first")
    event_title: str
    event_starts_at: datetime


class HomeSignups(PublicModel):
    """The first page of the caller's upcoming signups (``next_cursor`` continues it at
    events' ``GET /v1/me/signups?when=upcoming``)."""

    items: list[HomeSignup]
    next_cursor: str | None


class HomeOffer(PublicModel):
    """A seat held for the caller, as events' ``GET /v1/me/offers`` shows it: accept it
    (events' ``POST /v1/offers/{id}/accept``) before ``expires_at`` or it passes on."""

    id: uuid.UUID
    event_id: uuid.UUID
    signup_id: uuid.UUID
    expires_at: datetime
    event_title: str
    event_starts_at: datetime


class HomeOffers(PublicModel):
    """The caller's open seat offers, soonest to expire first (``next_cursor`` continues
    them at events' ``GET /v1/me/offers``)."""

    items: list[HomeOffer]
    next_cursor: str | None


class HomeWallet(PublicModel):
    """The caller's two currencies, as rewards' ``GET /v1/me/wallet`` shows them: the
    members of its ``WalletPublic`` that the screen needs (the rest of the wallet is at
    rewards' ``GET /v1/me/wallet``)."""

    points: int = Field(ge=0, description="spendable points (they expire)")
    community_value: int = Field(
        ge=0, description="the non-transferable reputation: every contribution, summed"
    )


class HomeFeedAuthor(PublicModel):
    """Who wrote a feed post, as content shows them (``AuthorPublic``)."""

    id: uuid.UUID
    display_name: str | None = Field(
        description="as identity announced it; null until it did (or after deletion)"
    )


class HomeFeedPost(PublicModel):
    """One post of the feed's first page, as content's ``GET /v1/feed`` shows it: the
    members of its ``PostPublic`` that a card needs."""

    id: uuid.UUID
    author: HomeFeedAuthor
    official: bool = Field(description="an official post of the brand")
    text: str
    images: list[str]
    created_at: datetime
    like_count: int = Field(ge=0)
    comment_count: int = Field(ge=0)


class HomeFeed(PublicModel):
    """The first page of the caller's home feed (``next_cursor`` continues it at content's
    ``GET /v1/feed``): the people and circles they follow, their own posts and the brand's."""

    items: list[HomeFeedPost]
    next_cursor: str | None


class HomeReferrals(PublicModel):
    """The caller's referral code and how far the people they referred got, as referrals'
    ``GET /v1/me/referrals/summary`` shows it (the referrals themselves are at referrals'
    ``GET /v1/me/referrals``)."""

    code: str = Field(description="the caller's referral code")
    link: str = Field(description="the share link: the link base followed by the code")
    leads: int = Field(ge=0, description="people who became the caller's leads")
    test_drives: int = Field(ge=0, description="of them, those who took a test drive")
    orders: int = Field(ge=0, description="of them, those who ordered a vehicle")
    deliveries: int = Field(ge=0, description="of them, those whose vehicle was delivered")
    approved: int = Field(ge=0, description="referrals whose reward was approved")
    pending: int = Field(
        ge=0, description="referrals whose reward is held until the refund window passes"
    )


PART_MODELS: dict[str, type[BaseModel]] = {
    "wallet": HomeWallet,
    "signups": HomeSignups,
    "offers": HomeOffers,
    "feed": HomeFeed,
    "referrals": HomeReferrals,
}


class HomeScreen(PublicModel):
    """The home screen; a part is ``null`` when its service could not answer in time."""

    profile: HomeProfile
    wallet: HomeWallet | None = None
    signups: HomeSignups | None = None
    offers: HomeOffers | None = None
    feed: HomeFeed | None = None
    referrals: HomeReferrals | None = None
    unavailable: list[HomePartName] = Field(
        default=[], description="the parts that are null because their service did not answer"
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """What every upstream call made for one client request carries."""

    headers: tuple[tuple[str, str], ...]
    trace: tuple[str, str]

    @classmethod
    def of(cls, request: Request) -> "Caller":
        headers = [("accept", "application/json")]
        if "authorization" in request.headers:
            headers.append(("authorization", request.headers["authorization"]))
        if request_id := request.scope.get("state", {}).get("request_id"):
            headers.append(("x-request-id", request_id))
        return cls(tuple(headers), trace_context(request.headers.get(TRACEPARENT_HEADER)))

    def call_headers(self) -> list[tuple[str, str]]:
        """Headers for one upstream call: a child span of its own."""
        return [*self.headers, (TRACEPARENT_HEADER, child_traceparent(*self.trace))]


class HomeAggregator:
    """Fetch the profile and the optional parts for one caller, all at once."""

    def __init__(
        self, upstreams: Mapping[str, Upstream], parts: Sequence[HomePart], *, timeout: float
    ) -> None:
        self.upstreams = upstreams
        self.parts = parts
        self.timeout = timeout

    async def home(self, caller: Caller) -> HomeScreen | UpstreamResponse:
        """The screen, or identity's own answer when it is not a profile."""
        profile, parts = await asyncio.gather(
            self._profile(caller),
            asyncio.gather(*(self._part(part, caller) for part in self.parts)),
        )
        if profile.status != 200:
            return profile
        values = {part.name: value for part, value in zip(self.parts, parts, strict=True)}
        return HomeScreen.model_validate(
            {
                "profile": _profile_of(profile),
                "unavailable": [name for name, value in values.items() if value is None],
                **values,
            }
        )

    async def _profile(self, caller: Caller) -> UpstreamResponse:
        upstream = self.upstreams.get(PROFILE_UPSTREAM)
        if upstream is None:
            raise Problem(
                "identity is not configured",
                status=503,
                code="upstream-unavailable",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return await upstream.request("GET", PROFILE_PATH, headers=caller.call_headers())

    async def _part(self, part: HomePart, caller: Caller) -> BaseModel | None:
        upstream = self.upstreams.get(part.upstream)
        if upstream is None:
            return None
        try:
            response = await upstream.request(
                "GET", part.path, headers=caller.call_headers(), max_seconds=self.timeout
            )
            if response.status == 200:
                return PART_MODELS[part.name].model_validate_json(response.body)
            log.info("home part %s: %s answered %s", part.name, part.upstream, response.status)
        except (UpstreamProblem, ValueError) as exc:  # a ValidationError is a ValueError
            log.info("home part %s unavailable: %s", part.name, exc)
        return None


def _profile_of(response: UpstreamResponse) -> HomeProfile:
    try:
        return HomeProfile.model_validate_json(response.body)
    except ValueError as exc:
        raise Problem("identity: the profile is not one", status=502, code="bad-gateway") from exc


router = APIRouter(tags=["home"])


@router.get(
    "/v1/me/home",
    operation_id="me.home",
    response_model=HomeScreen,
    dependencies=[Security(BEARER)],
    responses=problem_responses(401, 429, 502, 503, 504),
    summary="Everything the app's home screen shows, in one call",
)
async def get_home(request: Request) -> HomeScreen | Response:
    """The profile, and each optional part or ``null`` (named in ``unavailable``)."""
    guard: Guard = request.app.state.guard
    await guard.admit(request.scope)
    aggregator: HomeAggregator = request.app.state.home
    result = await aggregator.home(Caller.of(request))
    if isinstance(result, HomeScreen):
        return result
    response = Response(result.body, status_code=result.status)
    response.raw_headers = downstream_headers(result, head=False)
    return response


# Every method but GET, QUERY (the draft safe method with a body) included.
OTHER_METHODS = ["HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"]


@router.api_route("/v1/me/home", methods=OTHER_METHODS, include_in_schema=False)
async def home_other_methods(request: Request) -> Response:
    """405 for every other method, or the proxy's catch-all would send ``/v1/me/home`` on
    to identity, which answers 404."""
    return problem_response(
        405,
        detail="only GET",
        code="method-not-allowed",
        instance=request.url.path,
        headers={"Allow": "GET"},
    )
