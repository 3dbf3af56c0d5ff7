"""Rewards behind the gateway: the wallet and ledger need a token, the home screen's wallet
part, and schemathesis over rewards' part of the merged OpenAPI, through the gateway.

Identity (which signs the tokens), rewards and the gateway run on real uvicorn servers, each
on its own thread and event loop, with their own PostgreSQL databases and the bus off.
Balances are credited through rewards' ledger, as its consumers credit them. Rewards'
operations are explored through the gateway against the merged document, which adds the
gateway's own answers (401, 413, 429, 502, 503, 504) and their headers to rewards' own.
Requests carry the token of an account holding admin, staff and volunteer, with points.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from devstack import run_sync
from gateway.aggregate import HomeWallet
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from kit.db.migrate import upgrade
from kit.testing.servers import serving_in_thread
from services.identity.app import create_app as create_identity
from services.identity.tests import support
from services.identity.tests.support import identity_settings
from services.rewards.app import create_app as create_rewards
from services.rewards.config import RewardsSettings
from services.rewards.tests.test_openapi import (
    SEEDED_POINTS,
    SEEDED_VALUE,
    rewards_checks,
    seed_balances,
)
from tests.openapi_documents import identity_app, merged_openapi, rewards_app
from tests.test_gateway_content import assert_mirrors

REWARDS_PATHS = (
    r"^/v1/(me/(wallet|ledger|expiring|checkins|gifts|orders|tier|rank)|mall|rewards"
    r"|leaderboards|club)(/|$)"
)


@dataclass(frozen=True)
class Stack:
    gateway: str
    identity_database: str
    rewards_database: str


@pytest.fixture(scope="module")
def stack(postgres_database_factory: Callable[[str], str]) -> Iterator[Stack]:
    identity_url = postgres_database_factory("identity_gateway_rewards")
    rewards_url = postgres_database_factory("rewards_gateway")
    upgrade("identity", identity_url)
    upgrade("rewards", rewards_url)
    with serving_in_thread(
        create_identity(identity_settings(identity_url)), "identity"
    ) as identity:
        jwks_url = f"{identity}/.well-known/jwks.json"
        rewards_config = RewardsSettings(
            database_url=rewards_url, bus_enabled=False, jwks_url=jwks_url
        )
        with serving_in_thread(create_rewards(rewards_config), "rewards") as rewards:
            gateway_config = GatewaySettings(
                environment="test",
                bus_enabled=False,
                upstreams={"identity": identity, "rewards": rewards},
                jwks_url=jwks_url,
                rate_limit_per_user="100000/minute",
                rate_limit_per_ip="100000/minute",
            )
            with serving_in_thread(create_gateway(gateway_config), "gateway") as gateway:
                yield Stack(gateway, identity_url, rewards_url)


def user_id_of(http: httpx.Client, headers: dict[str, str]) -> uuid.UUID:
    return uuid.UUID(http.get("/v1/me", headers=headers).json()["id"])


@pytest.fixture(scope="module")
def superuser(stack: Stack) -> dict[str, str]:
    """Headers of an account holding admin, staff and volunteer, with points and value."""
    with httpx.Client(base_url=stack.gateway) as http:
        user_id, headers = support.new_superuser(http, stack.identity_database)
    run_sync(seed_balances(stack.rewards_database, user_id))
    return headers


def member(http: httpx.Client) -> dict[str, str]:
    """A fan registered and logged in through the gateway."""
    return support.new_fan(http, "Noor")


def test_the_wallet_and_the_ledger_need_a_token(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        fan = member(http)
        anonymous = [http.get(path) for path in ("/v1/me/wallet", "/v1/me/ledger")]
        wallet = http.get("/v1/me/wallet", headers=fan)
        ledger = http.get("/v1/me/ledger", headers=fan)
        profile = http.get("/v1/me", headers=fan)
    for refused in anonymous:
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["points"] == 0
    assert ledger.json() == {"items": [], "next_cursor": None}
    assert profile.json()["display_name"] == "Noor", "/v1/me itself stays identity's"


def test_the_home_screen_shows_the_wallet(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        fan = member(http)
        run_sync(seed_balances(stack.rewards_database, user_id_of(http, fan)))
        home = http.get("/v1/me/home", headers=fan)
        wallet = http.get("/v1/me/wallet", headers=fan)
    assert home.status_code == 200, home.text
    screen = home.json()
    assert sorted(screen["unavailable"]) == ["feed", "offers", "referrals", "signups"]
    assert screen["wallet"] == {"points": SEEDED_POINTS, "community_value": SEEDED_VALUE}
    assert set(screen["wallet"]) == set(HomeWallet.model_fields)
    assert wallet.json()["value"]["interaction"] == SEEDED_VALUE


def test_the_home_wallet_part_is_what_rewards_answers() -> None:
    """ADR 0011: the gateway's ``HomeWallet`` mirrors rewards' ``GET /v1/me/wallet``; each
    of its members is one of rewards', typed and bounded alike."""
    rewards = rewards_app().openapi()
    schemas = rewards["components"]["schemas"]
    answer = rewards["paths"]["/v1/me/wallet"]["get"]["responses"]["200"]["content"]
    wallet = schemas[answer["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    home = HomeWallet.model_json_schema(mode="serialization", ref_template="{model}")
    assert_mirrors(home, wallet, home.get("$defs", {}), schemas)
    for name, field in home["properties"].items():
        assert field.get("minimum") == wallet["properties"][name].get("minimum"), name


MERGED_OPENAPI = merged_openapi({"identity": identity_app(), "rewards": rewards_app()})
schema = schemathesis.openapi.from_dict(MERGED_OPENAPI).include(path_regex=REWARDS_PATHS)


def test_the_gateway_serves_rewards_in_its_document(stack: Stack) -> None:
    served = httpx.get(f"{stack.gateway}/openapi.json").json()
    assert served == MERGED_OPENAPI
    assert "/v1/me/wallet" in served["paths"]
    assert "/v1/me/ledger" in served["paths"]


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_rewards_through_the_gateway_conforms(
    case: schemathesis.Case, stack: Stack, superuser: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=stack.gateway,
        headers=superuser,
        checks=rewards_checks(case.method, case.path),
    )
