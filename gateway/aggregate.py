"""``GET /v1/me/home``: one call for the app's home screen.

``profile`` comes from identity's ``GET /v1/me`` and is required: its error passes
through unchanged. The optional parts (:data:`gateway.config.DEFAULT_HOME_PARTS`:
wallet, next signups, first feed page) are fetched concurrently with a short timeout;
a part whose service is not configured, down, slow or answering an error is ``null``
and named in ``unavailable``, so the screen renders what is there.
"""

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from gateway.config import HomePart, HomePartName
from gateway.guard import Guard
from gateway.proxy import downstream_headers
from gateway.tracing import TRACEPARENT_HEADER, child_traceparent, trace_context
from gateway.upstream import Upstream, UpstreamProblem, UpstreamResponse
from kit.problems import Problem, problem_responses

log = logging.getLogger(__name__)

PROFILE_UPSTREAM = "identity"
PROFILE_PATH = "/v1/me"
# Documents the same security scheme as kit.auth, so the merged OpenAPI has one.
BEARER = HTTPBearer(auto_error=False, description="Access token from identity's /v1/auth/login")


class HomeScreen(BaseModel):
    """The home screen; a part is ``null`` when its service could not answer in time."""

    profile: dict[str, Any]
    wallet: Any | None = None
    signups: Any | None = None
    feed: Any | None = None
    unavailable: list[HomePartName] = []


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
        profile, *parts = await asyncio.gather(
            self._profile(caller), *(self._part(part, caller) for part in self.parts)
        )
        if profile.status != 200:
            return profile
        values = {part.name: value for part, value in zip(self.parts, parts, strict=True)}
        return HomeScreen(
            profile=_json_object(profile),
            unavailable=[name for name, value in values.items() if value is None],
            **values,
        )

    async def _profile(self, caller: Caller) -> UpstreamResponse:
        upstream = self.upstreams.get(PROFILE_UPSTREAM)
        if upstream is None:
            raise Problem("identity is not configured", status=503, code="upstream-unavailable")
        return await upstream.request("GET", PROFILE_PATH, headers=caller.call_headers())

    async def _part(self, part: HomePart, caller: Caller) -> Any | None:
        upstream = self.upstreams.get(part.upstream)
        if upstream is None:
            return None
        try:
            response = await upstream.request(
                "GET", part.path, headers=caller.call_headers(), max_seconds=self.timeout
            )
            if response.status == 200:
                return json.loads(response.body)
            log.info("home part %s: %s answered %s", part.name, part.upstream, response.status)
        except (UpstreamProblem, ValueError) as exc:
            log.info("home part %s unavailable: %s", part.name, exc)
        return None


def _json_object(response: UpstreamResponse) -> dict[str, Any]:
    try:
        value = json.loads(response.body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Problem("identity: profile is not a JSON object", status=502, code="bad-gateway")
    return value


router = APIRouter(tags=["home"])


@router.get(
    "/v1/me/home",
    response_model=HomeScreen,
    dependencies=[Security(BEARER)],
    responses=problem_responses(401, 429, 502, 503, 504),
    summary="Everything the app's home screen shows, in one call",
)
async def get_home(request: Request) -> HomeScreen | Response:
    guard: Guard = request.app.state.guard
    await guard.admit(request.scope)
    aggregator: HomeAggregator = request.app.state.home
    result = await aggregator.home(Caller.of(request))
    if isinstance(result, HomeScreen):
        return result
    response = Response(result.body, status_code=result.status)
    response.raw_headers = downstream_headers(result, head=False)
    return response
