"""Property-based tests of webhooks' OpenAPI: generated requests never cause a server
error and every response matches its documented schema.

The app runs in a real uvicorn server on its own thread and event loop (with its own
database), because schemathesis drives requests synchronously; requests carry the token
of an admin, so protected operations are explored past
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
from services.webhooks.app import create_app
from services.webhooks.config import WebhooksSettings

fuzz_minter = TokenMinter(kid="fuzz")
SUPERUSER = uuid.uuid4()


async def public_dns(host: str, _: int) -> list[str]:
    """Every name is public (and no lookup leaves the machine)."""
    return ["93.184.216.34"]


@pytest.fixture(scope="module")
def webhooks_server(postgres_database_factory: Callable[[str], str]) -> Iterator[str]:
    url = postgres_database_factory("webhooks_openapi")
    upgrade("webhooks", url)
    app = create_app(
        WebhooksSettings(database_url=url, bus_enabled=False, delivery_timeout_seconds=1),
        token_verifier=fuzz_minter.verifier(),
        resolver=public_dns,
    )
    with serving_in_thread(app, "webhooks-openapi-server") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def superuser_headers() -> dict[str, str]:
    return fuzz_minter.headers(SUPERUSER, roles=("admin",))


DOCUMENT = create_app(
    WebhooksSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
    token_verifier=fuzz_minter.verifier(),
).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


SHADOWED = shadowed_paths(DOCUMENT)


# positive_data_acceptance expects a 2xx for every schema-valid request; these refuse some
# rightly, for what a schema cannot say: a cursor must be one the API returned (422 bad-
# cursor); a partner, endpoint or message must exist (404) and a slug be free (409); an
# endpoint's URL must be one webhooks may call and its patterns match event types (422); an
# inbound message must be signed by its partner (401, 404); a replay must name a message
# that went to the endpoint (404).
SCHEMA_VALID_BUT_REFUSED = cursor_lists(DOCUMENT) | {
    (method.upper(), path)
    for (method, path), _ in operations(DOCUMENT)
    if "{" in path or method == "post"
}

# negative_data_rejection expects a 4xx for a request that breaks the schema; a list
# ignores unknown query parameters (as HTTP APIs do), and the
# test's own Authorization header undoes the "token missing" mutation, so such a request
# rightly succeeds.
UNKNOWN_QUERY_IGNORED = cursor_lists(DOCUMENT)


def webhooks_checks(method: str, path: str) -> list[Any]:
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
        WebhooksSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
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
    assert {("GET", "/v1/webhook-keys"), ("POST", "/v1/partners/inbound/{partner}")} <= explored


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(
    case: schemathesis.Case, webhooks_server: str, superuser_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=webhooks_server,
        headers=superuser_headers,
        checks=webhooks_checks(case.method, case.path),
    )
