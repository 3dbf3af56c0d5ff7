"""Referrals behind the gateway: a shared code and its lead form need no token, a referrer's
own code and referrals do, the home screen's referral part, the staff routes refuse a fan,
and schemathesis over referrals' part of the merged OpenAPI, through the gateway (as an
account holding admin, staff and volunteer).

Identity (which signs the tokens), referrals and the gateway run on real uvicorn servers,
each on its own thread and event loop, with their own PostgreSQL databases and the bus off,
as in ``tests/test_gateway_rewards.py``: a member's code is the one referrals gives them at
``GET /v1/me/referral-code``. Each lead comes from a phone number of its own, so the fraud
checks (velocity limits, phone hashes) see every lead as a new prospect.
"""

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.aggregate import HomeReferrals
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from kit.db.migrate import upgrade
from kit.testing.servers import serving_in_thread
from services.identity.app import create_app as create_identity
from services.identity.tests import support
from services.identity.tests.support import identity_settings
from services.referrals.app import create_app as create_referrals
from services.referrals.config import ReferralsSettings
from services.referrals.tests.test_openapi import referrals_checks
from tests.openapi_documents import (
    REFERRALS_PHONE_HASH_KEY,
    identity_app,
    merged_openapi,
    referrals_app,
)
from tests.test_gateway_content import assert_mirrors

PROSPECT_CITY = "Shanghai"
REFERRALS_PATHS = (
    r"^/v1/(me/(referral-code|referrals|referrer)|referrals|referral-codes|referral-blocklist)(/|$)"
)


@dataclass(frozen=True)
class Stack:
    gateway: str
    identity_database: str


@pytest.fixture(scope="module")
def stack(postgres_database_factory: Callable[[str], str]) -> Iterator[Stack]:
    identity_url = postgres_database_factory("identity_gateway_referrals")
    referrals_url = postgres_database_factory("referrals_gateway")
    upgrade("identity", identity_url)
    upgrade("referrals", referrals_url)
    with serving_in_thread(
        create_identity(identity_settings(identity_url)), "identity"
    ) as identity:
        jwks_url = f"{identity}/.well-known/jwks.json"
        referrals_config = ReferralsSettings(
            database_url=referrals_url,
            bus_enabled=False,
            jwks_url=jwks_url,
            phone_hash_key=REFERRALS_PHONE_HASH_KEY,
        )
        with serving_in_thread(create_referrals(referrals_config), "referrals") as referrals:
            gateway_config = GatewaySettings(
                environment="test",
                bus_enabled=False,
                upstreams={"identity": identity, "referrals": referrals},
                jwks_url=jwks_url,
                rate_limit_per_user="100000/minute",
                rate_limit_per_ip="100000/minute",
            )
            with serving_in_thread(create_gateway(gateway_config), "gateway") as gateway:
                yield Stack(gateway, identity_url)


def member(http: httpx.Client) -> dict[str, str]:
    """A fan registered and logged in through the gateway."""
    return support.new_fan(http, "Mei")


def code_of(http: httpx.Client, headers: dict[str, str]) -> str:
    response = http.get("/v1/me/referral-code", headers=headers)
    assert response.status_code == 200, response.text
    code: str = response.json()["code"]
    return code


def new_phone() -> str:
    """A mainland mobile number in E.164 that no other lead of the session has."""
    return f"+86138{secrets.randbelow(10**8):08d}"


def lead_body(code: str) -> dict[str, object]:
    return {
        "code": code,
        "name": "Wang Fang",
        "phone": new_phone(),
        "city": PROSPECT_CITY,
        "consent": True,
        "test_drive_requested": False,
    }


def test_a_shared_code_resolves_without_a_token(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        code = code_of(http, member(http))
        resolved = http.get(f"/v1/referral-codes/{code}")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["code"] == code
    assert "referrer_name" in resolved.json()


def test_the_share_form_takes_a_lead_without_a_token(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        referrer = member(http)
        code = code_of(http, referrer)
        lead = http.post("/v1/referrals/leads", json=lead_body(code))
        summary = http.get("/v1/me/referrals/summary", headers=referrer)
    assert lead.status_code == 201, lead.text
    assert summary.status_code == 200, summary.text
    assert summary.json()["code"] == code
    assert summary.json()["leads"] == 1


def test_a_referrers_own_code_and_referrals_need_a_token(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        anonymous = [
            http.get(path)
            for path in (
                "/v1/me/referral-code",
                "/v1/me/referrals/summary",
                "/v1/me/referrals",
                "/v1/me/referrer",
            )
        ]
        fan = member(http)
        mine = http.get("/v1/me/referral-code", headers=fan)
        profile = http.get("/v1/me", headers=fan)
    for refused in anonymous:
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert mine.status_code == 200, mine.text
    assert mine.json()["link"].endswith(mine.json()["code"])
    assert profile.json()["display_name"] == "Mei", "/v1/me itself stays identity's"


def test_the_home_screen_shows_the_referral_summary(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        fan = member(http)
        code = code_of(http, fan)
        home = http.get("/v1/me/home", headers=fan)
        summary = http.get("/v1/me/referrals/summary", headers=fan)
    assert home.status_code == 200, home.text
    screen = home.json()
    assert sorted(screen["unavailable"]) == ["feed", "offers", "signups", "wallet"]
    assert screen["referrals"]["code"] == code
    assert screen["referrals"] == summary.json()
    assert set(screen["referrals"]) == set(HomeReferrals.model_fields)


def test_the_staff_routes_refuse_a_fan(stack: Stack) -> None:
    someone = uuid.uuid4()
    staff_only = (
        ("GET", "/v1/referrals"),
        ("GET", f"/v1/referrals/{someone}"),
        ("GET", "/v1/referral-blocklist"),
        ("DELETE", f"/v1/referral-blocklist/{someone}"),
        ("DELETE", f"/v1/referrals/leads/{someone}/personal-data"),
    )
    with httpx.Client(base_url=stack.gateway) as http:
        fan = member(http)
        _, staff = support.new_superuser(http, stack.identity_database)
        refused = [(path, http.request(method, path, headers=fan)) for method, path in staff_only]
        listed = http.get("/v1/referrals", headers=staff)
    for path, response in refused:
        assert response.status_code == 403, (path, response.text)
    assert listed.status_code == 200, listed.text


def test_the_home_referrals_part_is_what_referrals_answers() -> None:
    """ADR 0011: the gateway's ``HomeReferrals`` mirrors referrals'
    ``GET /v1/me/referrals/summary``; each of its members is one of referrals', typed and
    bounded alike."""
    referrals = referrals_app().openapi()
    schemas = referrals["components"]["schemas"]
    path = referrals["paths"]["/v1/me/referrals/summary"]
    answer = path["get"]["responses"]["200"]["content"]
    summary = schemas[answer["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    home = HomeReferrals.model_json_schema(mode="serialization", ref_template="{model}")
    assert_mirrors(home, summary, home.get("$defs", {}), schemas)
    for name, field in home["properties"].items():
        assert field.get("minimum") == summary["properties"][name].get("minimum"), name


@pytest.fixture(scope="module")
def superuser(stack: Stack) -> dict[str, str]:
    """Headers of an account holding admin, staff and volunteer."""
    with httpx.Client(base_url=stack.gateway) as http:
        return support.new_superuser(http, stack.identity_database)[1]


MERGED_OPENAPI = merged_openapi({"identity": identity_app(), "referrals": referrals_app()})
schema = schemathesis.openapi.from_dict(MERGED_OPENAPI).include(path_regex=REFERRALS_PATHS)


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_referrals_through_the_gateway_conforms(
    case: schemathesis.Case, stack: Stack, superuser: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=stack.gateway,
        headers=superuser,
        checks=referrals_checks(case.method, case.path),
    )
