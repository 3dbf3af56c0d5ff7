"""Property-based tests of content's OpenAPI: generated requests never cause a server error
and every response matches its documented schema.

The app runs in a real uvicorn server on its own thread and event loop (with its own
database), because schemathesis drives requests synchronously; requests carry the token
of a user holding staff, volunteer and owner, so protected operations (staff's included)
are explored past authentication. A few seeded posts, one of them official, give the
feeds something to return. The schema is read from an app built at import (schemathesis
parametrizes at collection), so every route the app has is explored.
"""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from kit.db.migrate import upgrade
from kit.testing.contract import checks_for, cursor_lists, shadowed_paths
from kit.testing.servers import serving_in_thread
from kit.testing.tokens import TokenMinter
from services.content.app import create_app
from services.content.config import ContentSettings
from services.content.tests.support import post_body

fuzz_minter = TokenMinter(kid="fuzz")


@pytest.fixture(scope="module")
def content_server(postgres_database_factory: Callable[[str], str]) -> Iterator[str]:
    url = postgres_database_factory("content_openapi")
    upgrade("content", url)
    app = create_app(
        ContentSettings(database_url=url, bus_enabled=False), token_verifier=fuzz_minter.verifier()
    )
    with serving_in_thread(app, "content-openapi-server") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def superuser_headers(content_server: str) -> dict[str, str]:
    headers = fuzz_minter.headers(roles=("staff", "volunteer", "owner"))
    with httpx.Client(base_url=content_server, headers=headers) as http:
        for body in (post_body(), post_body(official=True), post_body(city="Oslo")):
            created = http.post("/v1/posts", json=body)
            assert created.status_code == 201, created.text
    return headers


DOCUMENT = create_app(
    ContentSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
    token_verifier=fuzz_minter.verifier(),
).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


# PATCH /v1/posts/pinned is PATCH /v1/posts/{post_id} with an id that is no UUID: a 422,
# and its Allow lists PATCH (kit.testing.contract.checks_for's ``shadowed``).
SHADOWED = shadowed_paths(DOCUMENT)


# positive_data_acceptance expects a 2xx for every schema-valid request; these refuse some
# rightly, for what a schema cannot say: a cursor must be one the API returned (422
# bad-cursor), an edit names at least one field and none of them null (422), a poll's
# schedule must hold together and lie ahead and its options differ (422).
SCHEMA_VALID_BUT_REFUSED = cursor_lists(DOCUMENT) | {
    ("PATCH", "/v1/posts/{post_id}"),
    ("POST", "/v1/polls"),
    ("POST", "/v1/polls/{poll_id}/final-round"),
}

# negative_data_rejection expects a 4xx for a request that breaks the schema; a list
# ignores unknown query parameters (as HTTP APIs do), and the test's own Authorization
# header undoes the "token missing" mutation, so such a request rightly succeeds.
UNKNOWN_QUERY_IGNORED = cursor_lists(DOCUMENT)


def content_checks(method: str, path: str) -> list[Any]:
    """Every check for one operation, less those that would report correct behaviour."""
    return checks_for(
        method,
        path,
        schema_valid_but_refused=SCHEMA_VALID_BUT_REFUSED,
        unknown_query_ignored=UNKNOWN_QUERY_IGNORED,
        shadowed=SHADOWED,
    )


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(
    case: schemathesis.Case, content_server: str, superuser_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=content_server,
        headers=superuser_headers,
        checks=content_checks(case.method, case.path),
    )
