"""Property-based tests of identity's OpenAPI: generated requests never cause a server
error and every response matches its documented schema.

The schema is read from an app built for the purpose; the requests go to a real uvicorn
server on its own thread and event loop (with its own database), because schemathesis
drives requests synchronously and its ASGI transport would run the app on other event
loops than the one its database pool belongs to; the bus is off (events stay in the
outbox). The requests carry the token of an account holding every assignable role, so the
protected operations are explored past authentication.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from devstack import run_sync
from kit.db.migrate import upgrade
from kit.testing.contract import checks_for
from kit.testing.servers import serving_in_thread
from services.identity.app import create_app
from services.identity.cli import create_admin
from services.identity.tests import support
from services.identity.tests.support import PASSWORD, identity_settings, new_email


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str


@pytest.fixture(scope="module")
def identity_server(postgres_database_factory: Callable[[str], str]) -> Iterator[Server]:
    url = postgres_database_factory("identity_openapi")
    upgrade("identity", url)
    app = create_app(identity_settings(url))
    with serving_in_thread(app, "identity-openapi-server") as base_url:
        yield Server(base_url, url)


@pytest.fixture(scope="module")
def superuser_headers(identity_server: Server) -> dict[str, str]:
    """Headers of an account holding admin, staff and volunteer."""
    email = new_email()
    settings = identity_settings(identity_server.database_url)
    user_id = run_sync(create_admin(settings, email=email, password=PASSWORD, display_name="Fuzz"))
    with httpx.Client(base_url=identity_server.base_url) as http:
        return support.superuser_headers(http, user_id, email)


schema = schemathesis.openapi.from_dict(
    create_app(identity_settings("sqlite+aiosqlite://")).openapi()
).exclude(method="DELETE", path="/v1/me")

# positive_data_acceptance expects a 2xx for every schema-valid request; these refuse some
# rightly, for what a schema cannot say: a cursor must be one the API returned (422
# bad-cursor), a login needs the right password (401), a registration a strong password and
# a new email (422, 409), a role change an existing user (404) and owner follows a verified
# vehicle (422), an avatar URL a resolvable host name (labels of at most 63 characters),
# a lookup by email an existing account (404) and an address email-validator accepts
# (it refuses special-use domains such as .test, which JSON Schema's format allows).
SCHEMA_VALID_BUT_REFUSED = {
    ("GET", "/v1/admin/users"),
    ("GET", "/v1/admin/vehicles"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/register"),
    ("PATCH", "/v1/me"),
    ("POST", "/v1/admin/users/{user_id}/roles/{role}"),
    ("DELETE", "/v1/admin/users/{user_id}/roles/{role}"),
}

# negative_data_rejection expects a 4xx for a request that breaks the schema; a list
# ignores unknown query parameters (as HTTP APIs do), and the test's own Authorization
# header undoes the "token missing" mutation, so such a request rightly succeeds.
UNKNOWN_QUERY_IGNORED = {
    ("GET", "/v1/admin/vehicles"),
    ("GET", "/v1/admin/users"),
    ("GET", "/v1/me/vehicles"),
}


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(
    case: schemathesis.Case, identity_server: Server, superuser_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=identity_server.base_url,
        headers=superuser_headers,
        checks=checks_for(
            case.method,
            case.path,
            schema_valid_but_refused=SCHEMA_VALID_BUT_REFUSED,
            unknown_query_ignored=UNKNOWN_QUERY_IGNORED,
        ),
    )
