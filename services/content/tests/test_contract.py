"""Content's OpenAPI says the rules the API enforces: which reads need no token, ``https``
image URLs, one-word tags, text without control characters, strict bodies, ``Allow``, and
the ``Location`` of what a 201 created."""

import uuid
from collections.abc import Callable

import httpx
from fastapi import FastAPI

from services.content.tests.support import User, post_body

PUBLIC_READS = [
    "/v1/posts/{post_id}",
    "/v1/posts/pinned",
    "/v1/feed/official",
    "/v1/feed/featured",
    "/v1/feed/trending",
    "/v1/feed/cities/{city}",
    "/v1/feed/users/{user_id}",
]


def test_the_schema_says_the_rules(app: FastAPI) -> None:
    doc = app.openapi()
    for path in PUBLIC_READS:
        assert {} in doc["paths"][path]["get"]["security"], f"GET {path} needs no token"
    assert {} not in doc["paths"]["/v1/feed"]["get"]["security"], "the home feed is mine"
    create = doc["paths"]["/v1/posts"]["post"]
    assert {} not in create["security"]
    assert {"201", "400", "401", "413", "422", "503"} <= set(create["responses"])
    assert "location" in {name.lower() for name in create["responses"]["201"]["headers"]}
    schemas = doc["components"]["schemas"]
    assert schemas["PostCreate"]["additionalProperties"] is False
    images = schemas["PostCreate"]["properties"]["images"]
    assert images["maxItems"] == 9
    assert images["items"]["format"] == "uri"
    assert set(schemas["PostPublic"]["required"]) == set(schemas["PostPublic"]["properties"])


async def test_bad_posts_say_which_field(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    author = make_user()
    cases = {
        "text": post_body(text="\x00nul"),
        "images": post_body(images=["http://cdn.example/a.jpg"]),
        "tags": post_body(tags=["two words"]),
        "unknown": post_body(unknown="field"),
    }
    for field, body in cases.items():
        response = await client.post("/v1/posts", json=body, headers=author.headers)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["type"].endswith("/validation-error")
        assert response.json()["errors"][0]["loc"][:2] == ["body", field], field
    feed = await client.get("/v1/feed/users/" + str(author.id), headers=author.headers)
    assert feed.json()["items"] == [], "nothing was written"


async def test_a_bad_cursor_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/feed/trending", params={"cursor": "not-one-of-ours"})
    assert response.status_code == 422
    assert response.json()["type"].endswith("/bad-cursor")


async def test_a_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/v1/posts/{uuid.uuid4()}")
    assert response.status_code == 405
    assert {"DELETE", "GET", "PATCH"} <= set(response.headers["allow"].split(", "))


async def test_what_is_created_says_where_it_is(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    author = make_user()
    created = await client.post("/v1/posts", json=post_body(), headers=author.headers)
    assert created.status_code == 201, created.text
    found = await client.get(created.headers["location"], headers=author.headers)
    assert found.json() == created.json()
    anonymous = await client.get(created.headers["location"])
    assert anonymous.json()["viewer"] == {"liked": False, "bookmarked": False}
