"""The gateway in front of the real identity service, both on real uvicorn servers.

Each server runs on its own thread and event loop (schemathesis drives requests
synchronously); identity has its own PostgreSQL database and the session's Kafka.
Covers sign-up, login and ``/v1/me`` through the gateway, the home screen with every
optional part missing, the merged OpenAPI, and schemathesis over that merged document:
generated requests through the gateway never cause a 5xx and every answer matches the
documented schema. Requests carry the token of an account holding every assignable role.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from devstack import run_sync
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from kit.db.migrate import upgrade
from kit.testing.contract import checks_for
from kit.testing.servers import serving_in_thread
from services.identity.app import create_app as create_identity
from services.identity.cli import create_admin
from services.identity.config import IdentitySettings
from services.identity.tests import support
from services.identity.tests.support import PASSWORD, bearer, identity_settings, new_email
from tests.openapi_documents import identity_app, merged_openapi


@dataclass(frozen=True)
class Stack:
    gateway: str
    superuser: dict[str, str]


@pytest.fixture(scope="module")
def stack(postgres_database_factory: Callable[[str], str], kafka_bootstrap: str) -> Iterator[Stack]:
    url = postgres_database_factory("identity_gateway")
    upgrade("identity", url)
    identity_config = identity_settings(url, kafka_bootstrap)
    with serving_in_thread(create_identity(identity_config), "identity") as identity:
        gateway_config = GatewaySettings(
            environment="test",
            upstreams={"identity": identity},
            jwks_url=f"{identity}/.well-known/jwks.json",
            rate_limit_per_user="100000/minute",
            rate_limit_per_ip="100000/minute",
        )
        with serving_in_thread(create_gateway(gateway_config), "gateway") as gateway:
            yield Stack(gateway, _superuser(identity_config, gateway))


def _superuser(identity_config: IdentitySettings, gateway: str) -> dict[str, str]:
    """Headers of an account holding admin, staff and volunteer, signed in via the gateway."""
    email = new_email()
    user_id = run_sync(
        create_admin(identity_config, email=email, password=PASSWORD, display_name="Fuzz")
    )
    with httpx.Client(base_url=gateway) as http:
        return support.superuser_headers(http, user_id, email)


def test_sign_up_log_in_and_read_me_through_the_gateway(stack: Stack) -> None:
    email = new_email()
    with httpx.Client(base_url=stack.gateway) as http:
        registered = http.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": "Ada"},
        )
        assert registered.status_code == 201, registered.text
        headers = bearer(support.access_token(http, email))
        me = http.get("/v1/me", headers={**headers, "x-request-id": "gw-test-1"})
        home = http.get("/v1/me/home", headers=headers)
        anonymous = http.get("/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    assert me.headers["x-request-id"] == "gw-test-1"
    assert home.status_code == 200, home.text
    assert home.json()["profile"]["email"] == email
    assert sorted(home.json()["unavailable"]) == [
        "feed",
        "offers",
        "referrals",
        "signups",
        "wallet",
    ]
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


def test_merged_openapi_has_identity_and_gateway_paths(stack: Stack) -> None:
    doc = httpx.get(f"{stack.gateway}/openapi.json").json()
    for path in ("/v1/auth/login", "/v1/me", "/v1/me/vehicles", "/v1/me/home"):
        assert path in doc["paths"], path
    assert "/.well-known/jwks.json" in doc["paths"]
    assert "ProblemDocument" in doc["components"]["schemas"]
    assert not [name for name in doc["components"]["schemas"] if name.startswith("identity_")]
    assert doc == MERGED_OPENAPI  # what schemathesis explores below is what is served


# Built at import: schemathesis parametrizes at collection (its lazy ``from_fixture``
# loader fails on pytest 9). Identity only: that is what this stack runs.
MERGED_OPENAPI = merged_openapi({"identity": identity_app()})
# Deleting the account would turn the rest of the run into 401s.
schema = schemathesis.openapi.from_dict(MERGED_OPENAPI).exclude(method="DELETE", path="/v1/me")

# As in services/identity/tests/test_openapi.py: identity's operations that rightly refuse
# some schema-valid requests (a cursor it did not return, a wrong password, a taken email or
# weak password, a user that does not exist, a host name email-validator or the URL parser
# refuse), and the lists that rightly ignore unknown query parameters.
SCHEMA_VALID_BUT_REFUSED = {
    ("GET", "/v1/admin/vehicles"),
    ("GET", "/v1/admin/users"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/register"),
    ("PATCH", "/v1/me"),
    ("POST", "/v1/admin/users/{user_id}/roles/{role}"),
    ("DELETE", "/v1/admin/users/{user_id}/roles/{role}"),
}
UNKNOWN_QUERY_IGNORED = {("GET", "/v1/admin/vehicles"), ("GET", "/v1/admin/users")}


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_merged_api_conforms(case: schemathesis.Case, stack: Stack) -> None:
    case.call_and_validate(
        base_url=stack.gateway,
        headers=stack.superuser,
        checks=checks_for(
            case.method,
            case.path,
            schema_valid_but_refused=SCHEMA_VALID_BUT_REFUSED,
            unknown_query_ignored=UNKNOWN_QUERY_IGNORED,
        ),
    )
