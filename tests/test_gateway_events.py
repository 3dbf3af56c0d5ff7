"""schemathesis over events' part of the gateway's merged OpenAPI, through the gateway.

Identity (which signs the tokens), events and the gateway run on real uvicorn servers, each
on its own thread and event loop, with their own PostgreSQL databases and the bus off.
Events' operations are explored through the gateway against the merged document, which adds
the gateway's own answers (401, 413, 429, 502, 503, 504) and their headers to events' own;
identity's are explored the same way in ``tests/test_gateway_identity.py``. Requests carry
the token of an account holding admin, staff and volunteer; a few published events give the
database something to return. The document the gateway serves is the one
``tests/test_client_contract.py`` builds, lints and compiles a client against.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from kit.db.migrate import upgrade
from kit.testing.contract import checks_for
from kit.testing.servers import serving_in_thread
from services.events.app import create_app as create_events
from services.events.config import EventsSettings
from services.events.tests.support import QR_SECRET, event_body
from services.events.tests.test_openapi import SCHEMA_VALID_BUT_REFUSED, UNKNOWN_QUERY_IGNORED
from services.identity.app import create_app as create_identity
from services.identity.tests import support
from services.identity.tests.support import identity_settings
from tests.openapi_documents import events_app, identity_app, merged_openapi

EVENTS_PATHS = (
    r"^/v1/(venues|events|signups|me/signups|tickets|offers|me/offers|penalties|me/penalties"
    r"|checkin-lists)(/|$)"
)


@dataclass(frozen=True)
class Stack:
    gateway: str
    identity_database: str


@pytest.fixture(scope="module")
def stack(postgres_database_factory: Callable[[str], str]) -> Iterator[Stack]:
    identity_url = postgres_database_factory("identity_gateway_events")
    events_url = postgres_database_factory("events_gateway")
    upgrade("identity", identity_url)
    upgrade("events", events_url)
    with serving_in_thread(
        create_identity(identity_settings(identity_url)), "identity"
    ) as identity:
        jwks_url = f"{identity}/.well-known/jwks.json"
        events_config = EventsSettings(
            database_url=events_url, bus_enabled=False, qr_secret=QR_SECRET, jwks_url=jwks_url
        )
        with serving_in_thread(create_events(events_config), "events") as events:
            gateway_config = GatewaySettings(
                environment="test",
                bus_enabled=False,
                upstreams={"identity": identity, "events": events},
                jwks_url=jwks_url,
                rate_limit_per_user="100000/minute",
                rate_limit_per_ip="100000/minute",
            )
            with serving_in_thread(create_gateway(gateway_config), "gateway") as gateway:
                yield Stack(gateway, identity_url)


@pytest.fixture(scope="module")
def superuser(stack: Stack) -> dict[str, str]:
    """Headers of an account holding admin, staff and volunteer, with two published events."""
    with httpx.Client(base_url=stack.gateway) as http:
        _, headers = support.new_superuser(http, stack.identity_database)
        for mode in ("first_come", "draw", "queue"):
            created = http.post("/v1/events", json=event_body(signup_mode=mode), headers=headers)
            assert created.status_code == 201, created.text
            published = http.post(f"/v1/events/{created.json()['id']}/publish", headers=headers)
            assert published.status_code == 200, published.text
    return headers


MERGED_OPENAPI = merged_openapi({"identity": identity_app(), "events": events_app()})
schema = schemathesis.openapi.from_dict(MERGED_OPENAPI).include(path_regex=EVENTS_PATHS)


def test_the_gateway_serves_the_document_the_client_contract_checks(stack: Stack) -> None:
    """tests/test_client_contract.py lints and compiles a client against MERGED_OPENAPI."""
    assert httpx.get(f"{stack.gateway}/openapi.json").json() == MERGED_OPENAPI


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_events_through_the_gateway_conform(
    case: schemathesis.Case, stack: Stack, superuser: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=stack.gateway,
        headers=superuser,
        checks=checks_for(
            case.method,
            case.path,
            schema_valid_but_refused=SCHEMA_VALID_BUT_REFUSED,
            unknown_query_ignored=UNKNOWN_QUERY_IGNORED,
        ),
    )


def test_a_scanners_offline_batch_passes_the_gateways_body_limit(
    stack: Stack, superuser: dict[str, str]
) -> None:
    """A batch of 1,000 offline scans is far above kit's 64 KiB: the gateway lets it through
    to events (which answers for the list: none here, so 404), it never answers 413."""
    scans = [
        {"scan_id": f"scan-{index}", "token": f"{'a' * 32}.{index}.{'b' * 43}",
         "scanned_at": "2026-12-01T10:00:00+00:00"}
        for index in range(1000)
    ]  # fmt: skip
    body = {"device_id": "door-1", "scans": scans}
    response = httpx.post(
        f"{stack.gateway}/v1/checkin-lists/{'0' * 8}-0000-4000-8000-{'0' * 12}/scans",
        json=body,
        headers=superuser,
        timeout=30,
    )
    assert len(response.request.content) > 64 * 1024
    assert response.status_code == 404, response.text
