"""Property-based tests of rewards' OpenAPI: generated requests never cause a server error
and every response matches its documented schema.

The app runs in a real uvicorn server on its own thread and event loop (with its own
database), because schemathesis drives requests synchronously; requests carry the token
of a user holding admin, staff and owner, so protected operations (admins' included) are
explored past authentication. The user starts with points and community value (credited
through the ledger), so spending, gifting and ordering have something to move. The schema
is read from an app built at import (schemathesis parametrizes at collection), so every
route the app has is explored.
"""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings

from devstack import run_sync
from kit.db import Database
from kit.db.migrate import upgrade
from kit.openapi import operations
from kit.testing.contract import checks_for, cursor_lists, shadowed_paths
from kit.testing.servers import serving_in_thread
from kit.testing.tokens import TokenMinter
from services.rewards.app import create_app
from services.rewards.config import RewardsSettings
from services.rewards.models import Dimension
from services.rewards.service import ledger

fuzz_minter = TokenMinter(kid="fuzz")
SUPERUSER = uuid.uuid4()
SEEDED_POINTS = 100_000
SEEDED_VALUE = 500


async def seed_balances(url: str, user_id: uuid.UUID) -> None:
    """Points and community value for ``user_id``, credited as any earning is."""
    database = Database(url, service="rewards")
    now = datetime.now(UTC)
    try:
        async with database.transaction() as session:
            source = ledger.Source(type="test.seed", id=str(uuid.uuid4()))
            await ledger.credit_points(
                session=session, user_id=user_id, amount=SEEDED_POINTS, source=source, at=now
            )
            await ledger.credit_value(
                session=session,
                user_id=user_id,
                dimension=Dimension.INTERACTION,
                amount=SEEDED_VALUE,
                source=source,
                at=now,
            )
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def rewards_server(postgres_database_factory: Callable[[str], str]) -> Iterator[str]:
    url = postgres_database_factory("rewards_openapi")
    upgrade("rewards", url)
    run_sync(seed_balances(url, SUPERUSER))
    app = create_app(
        RewardsSettings(database_url=url, bus_enabled=False), token_verifier=fuzz_minter.verifier()
    )
    with serving_in_thread(app, "rewards-openapi-server") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def superuser_headers() -> dict[str, str]:
    return fuzz_minter.headers(SUPERUSER, roles=("admin", "staff", "owner"))


DOCUMENT = create_app(
    RewardsSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
    token_verifier=fuzz_minter.verifier(),
).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


SHADOWED = shadowed_paths(DOCUMENT)


# positive_data_acceptance expects a 2xx for every schema-valid request; these refuse some
# rightly, for what a schema cannot say: a cursor must be one the API returned (422 bad-
# cursor); periods must end after they start, a value rule names a dimension, an edit
# clears nothing every rule or item must have, tiers' thresholds increase from 0, an
# adjustment is not zero, the referrers' board has no quarter (422); an Idempotency-Key
# the test sends again with another body is a 422 (idempotency-key-reused).
SCHEMA_VALID_BUT_REFUSED = cursor_lists(DOCUMENT) | {
    ("POST", "/v1/rewards/rules"),
    ("PATCH", "/v1/rewards/rules/{rule_id}"),
    ("POST", "/v1/rewards/grants"),
    ("POST", "/v1/rewards/adjustments"),
    ("POST", "/v1/me/gifts"),
    ("POST", "/v1/mall/items"),
    ("PATCH", "/v1/mall/items/{item_id}"),
    ("POST", "/v1/mall/orders"),
    ("PUT", "/v1/rewards/tiers"),
    ("GET", "/v1/me/rank"),
}

# negative_data_rejection expects a 4xx for a request that breaks the schema; a list (and
# the boards and my rank) ignores unknown query parameters (as HTTP APIs do), and the
# test's own Authorization header undoes the "token missing" mutation, so such a request
# rightly succeeds.
UNKNOWN_QUERY_IGNORED = cursor_lists(DOCUMENT) | {
    ("GET", "/v1/me/rank"),
    ("GET", "/v1/leaderboards/value"),
    ("GET", "/v1/leaderboards/referrers"),
}


def rewards_checks(method: str, path: str) -> list[Any]:
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
        RewardsSettings(database_url="sqlite+aiosqlite://", bus_enabled=False),
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
    assert {("GET", "/v1/me/wallet"), ("GET", "/v1/me/ledger")} <= explored


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(
    case: schemathesis.Case, rewards_server: str, superuser_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=rewards_server,
        headers=superuser_headers,
        checks=rewards_checks(case.method, case.path),
    )
