"""Content behind the gateway: its public reads, the home feed, the home screen's feed part,
and schemathesis over content's part of the merged OpenAPI, through the gateway.

Identity (which signs the tokens), content and the gateway run on real uvicorn servers, each
on its own thread and event loop, with their own PostgreSQL databases and the bus off.
Content's operations are explored through the gateway against the merged document, which
adds the gateway's own answers (401, 413, 429, 502, 503, 504) and their headers to
content's own. Requests carry the token of an account holding admin, staff and volunteer;
a few posts give the feeds something to return.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.aggregate import HomeFeed, HomeFeedPost
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from kit.db.migrate import upgrade
from kit.testing.servers import serving_in_thread
from services.content.app import create_app as create_content
from services.content.config import ContentSettings
from services.content.tests.support import post_body
from services.content.tests.test_openapi import content_checks
from services.identity.app import create_app as create_identity
from services.identity.tests import support
from services.identity.tests.support import identity_settings
from tests.openapi_documents import content_app, identity_app, merged_openapi

CONTENT_PATHS = (
    r"^/v1/(posts|feed|comments|profiles|me/bookmarks|circles|reports|moderation|polls|search)"
    r"(/|$)"
)


@dataclass(frozen=True)
class Stack:
    gateway: str
    identity_database: str


@pytest.fixture(scope="module")
def stack(postgres_database_factory: Callable[[str], str]) -> Iterator[Stack]:
    identity_url = postgres_database_factory("identity_gateway_content")
    content_url = postgres_database_factory("content_gateway")
    upgrade("identity", identity_url)
    upgrade("content", content_url)
    with serving_in_thread(
        create_identity(identity_settings(identity_url)), "identity"
    ) as identity:
        jwks_url = f"{identity}/.well-known/jwks.json"
        content_config = ContentSettings(
            database_url=content_url, bus_enabled=False, jwks_url=jwks_url
        )
        with serving_in_thread(create_content(content_config), "content") as content:
            gateway_config = GatewaySettings(
                environment="test",
                bus_enabled=False,
                upstreams={"identity": identity, "content": content},
                jwks_url=jwks_url,
                rate_limit_per_user="100000/minute",
                rate_limit_per_ip="100000/minute",
            )
            with serving_in_thread(create_gateway(gateway_config), "gateway") as gateway:
                yield Stack(gateway, identity_url)


@pytest.fixture(scope="module")
def superuser(stack: Stack) -> dict[str, str]:
    """Headers of an account holding admin, staff and volunteer, with three posts."""
    with httpx.Client(base_url=stack.gateway) as http:
        _, headers = support.new_superuser(http, stack.identity_database)
        for body in (post_body(), post_body(official=True), post_body(city="Oslo")):
            created = http.post("/v1/posts", json=body, headers=headers)
            assert created.status_code == 201, created.text
    return headers


def member(http: httpx.Client) -> dict[str, str]:
    """A fan registered and logged in through the gateway."""
    return support.new_fan(http, "Noor")


def test_reads_are_public_the_home_feed_and_writes_need_a_token(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        fan = member(http)
        post = http.post("/v1/posts", json=post_body(text="Lake loop at dawn"), headers=fan)
        assert post.status_code == 201, post.text
        anonymous = {
            path: http.get(path)
            for path in (
                post.headers["location"],
                "/v1/feed/trending",
                "/v1/feed/official",
                f"/v1/feed/users/{post.json()['author']['id']}",
            )
        }
        home_anonymous = http.get("/v1/feed")
        write_anonymous = http.post("/v1/posts", json=post_body())
        home = http.get("/v1/feed", headers=fan)
        removed = http.delete(post.headers["location"], headers=fan)
        gone = http.get(post.headers["location"])
    for path, response in anonymous.items():
        assert response.status_code == 200, (path, response.text)
    assert anonymous[post.headers["location"]].json()["text"] == "Lake loop at dawn"
    for refused in (home_anonymous, write_anonymous):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert home.status_code == 200, home.text
    assert [item["id"] for item in home.json()["items"]][:1] == [post.json()["id"]]
    assert removed.status_code == 204, removed.text
    assert gone.status_code == 404


def test_the_home_screen_shows_the_first_feed_page(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway) as http:
        fan = member(http)
        texts = [f"Cars and coffee {n}" for n in range(2)]
        for text in texts:
            assert http.post("/v1/posts", json=post_body(text=text), headers=fan).status_code == 201
        home = http.get("/v1/me/home", headers=fan)
    assert home.status_code == 200, home.text
    screen = home.json()
    assert sorted(screen["unavailable"]) == ["offers", "referrals", "signups", "wallet"]
    mine = [post for post in screen["feed"]["items"] if post["text"] in texts]
    assert [post["text"] for post in mine] == texts[::-1], "newest first"
    assert mine[0]["official"] is False
    assert mine[0]["like_count"] == 0
    assert set(mine[0]) == set(HomeFeedPost.model_fields)


def test_the_home_feed_part_is_what_content_answers() -> None:
    """ADR 0011: the gateway's ``HomeFeed`` mirrors content's ``GET /v1/feed``; each of its
    members is one of content's, typed alike (nested models compared member by member)."""
    content = content_app().openapi()
    schemas = content["components"]["schemas"]
    answer = content["paths"]["/v1/feed"]["get"]["responses"]["200"]["content"]
    page = schemas[answer["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    post = schemas[page["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]]
    home = HomeFeed.model_json_schema(mode="serialization", ref_template="{model}")
    assert set(home["properties"]) <= set(page["properties"])
    assert_mirrors(home["$defs"]["HomeFeedPost"], post, home["$defs"], schemas)


def assert_mirrors(
    ours: dict[str, Any],
    theirs: dict[str, Any],
    our_defs: dict[str, Any],
    their_defs: dict[str, Any],
) -> None:
    assert set(ours["required"]) <= set(theirs["required"])
    for name, field in ours["properties"].items():
        assert name in theirs["properties"], name
        other = theirs["properties"][name]
        if "$ref" in field:
            their_ref = other["$ref"].rsplit("/", 1)[1]
            assert_mirrors(our_defs[field["$ref"]], their_defs[their_ref], our_defs, their_defs)
            continue
        for key in ("type", "format", "anyOf", "items"):
            assert field.get(key) == other.get(key), (name, key)


MERGED_OPENAPI = merged_openapi({"identity": identity_app(), "content": content_app()})
schema = schemathesis.openapi.from_dict(MERGED_OPENAPI).include(path_regex=CONTENT_PATHS)


def test_the_gateway_serves_content_in_its_document(stack: Stack) -> None:
    served = httpx.get(f"{stack.gateway}/openapi.json").json()
    assert served == MERGED_OPENAPI
    assert "/v1/posts" in served["paths"]
    assert "/v1/feed" in served["paths"]


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_content_through_the_gateway_conforms(
    case: schemathesis.Case, stack: Stack, superuser: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=stack.gateway,
        headers=superuser,
        checks=content_checks(case.method, case.path),
    )
