"""Property-based tests of referrals' OpenAPI: generated requests never cause a server
error and every response matches its documented schema.

The app runs in a real uvicorn server on its own thread and event loop (with its own
database), because schemathesis drives requests synchronously; requests carry the token
of a user holding admin, staff and owner, so protected operations are explored past
authentication. The schema is read from an app built at import (schemathesis
parametrizes at collection), so every route the app has is explored.
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings

from kit.db.migrate import upgrade
from kit.openapi import operations
from kit.testing.contract import checks_for, cursor_lists, shadowed_paths
from kit.testing.servers import serving_in_thread
from kit.testing.tokens import TokenMinter
from services.referrals.app import create_app
from services.referrals.config import ReferralsSettings

fuzz_minter = TokenMinter(kid="fuzz")
SUPERUSER = uuid.uuid4()


@pytest.fixture(scope="module")
def referrals_server(postgres_database_factory: Callable[[str], str]) -> Iterator[str]:
    url = postgres_database_factory("referrals_openapi")
    upgrade("referrals", url)
    app = create_app(
        ReferralsSettings(database_url=url, bus_enabled=False),
        token_verifier=fuzz_minter.verifier(),
    )
    with serving_in_thread(app, "referrals-openapi-server") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def superuser_headers() -> dict[str, str]:
    return fuzz_minter.headers(SUPERUSER, roles=("admin", "staff", "owner"))


DOCUMENT = create_app(
    ReferralsSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
    token_verifier=fuzz_minter.verifier(),
).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


SHADOWED = shadowed_paths(DOCUMENT)


# positive_data_acceptance expects a 2xx for every schema-valid request; these refuse some
# rightly, for what a schema cannot say: a cursor must be one the API returned (422 bad-
# cursor); a code must use the code alphabet and name a member (422, 404); a share form
# needs consent and a valid phone number of a prospect not yet a lead (422, 409); a claim
# needs a code that is not the caller's own (422, 409); a blocklisted phone must be a
# phone number (422) not blocked yet (409); a referral must exist (404) and a step or
# decision must be one it still waits for (409); a step is not the lead (422).
SCHEMA_VALID_BUT_REFUSED = cursor_lists(DOCUMENT) | {
    ("GET", "/v1/referral-codes/{code}"),
    ("POST", "/v1/referrals/leads"),
    ("PUT", "/v1/me/referrer"),
    ("GET", "/v1/me/referrer"),
    ("POST", "/v1/referral-blocklist"),
    ("POST", "/v1/referrals/{referral_id}/stages"),
    ("POST", "/v1/referrals/{referral_id}/approve"),
    ("POST", "/v1/referrals/{referral_id}/void"),
}

# negative_data_rejection expects a 4xx for a request that breaks the schema; a list
# ignores unknown query parameters (as HTTP APIs do), and the
# test's own Authorization header undoes the "token missing" mutation, so such a request
# rightly succeeds.
UNKNOWN_QUERY_IGNORED = cursor_lists(DOCUMENT)


def referrals_checks(method: str, path: str) -> list[Any]:
    """Every check for one operation, less those that would report correct behaviour."""
    return checks_for(
        method,
        path,
        schema_valid_but_refused=SCHEMA_VALID_BUT_REFUSED,
        unknown_query_ignored=UNKNOWN_QUERY_IGNORED,
        shadowed=SHADOWED,
    )


def test_every_route_of_the_app_is_explored() -> None:
    """No route is left out of the document (and so out of the exploration)."""
    app = create_app(
        ReferralsSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
        token_verifier=fuzz_minter.verifier(),
    )
    routed = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/v1/")
        for method in route.methods or ()
    }
    explored = {(method.upper(), path) for (method, path), _ in operations(DOCUMENT)}
    assert routed <= explored
    assert {("GET", "/v1/me/referral-code"), ("POST", "/v1/referrals/leads")} <= explored


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(
    case: schemathesis.Case, referrals_server: str, superuser_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=referrals_server,
        headers=superuser_headers,
        checks=referrals_checks(case.method, case.path),
    )
