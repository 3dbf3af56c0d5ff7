"""Events' OpenAPI says the rules the API enforces: RFC 3339 date-times (never a Unix
number), IANA time zones, a schedule that holds together, optional tokens, ``Allow``, and
the ``Location`` of what a 201 created."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
from fastapi import FastAPI

from services.events.tests.support import User, event_body, now, published_event


async def test_a_number_is_not_a_date_time(client: httpx.AsyncClient, staff: User) -> None:
    number = await client.get("/v1/events", params={"from": "123"})
    iso = await client.get("/v1/events", params={"from": now().isoformat()})
    body = await client.post("/v1/events", json=event_body(starts_at=123), headers=staff.headers)
    assert number.status_code == 422, number.text
    assert number.json()["errors"][0]["loc"] == ["query", "from"]
    assert iso.status_code == 200, iso.text
    assert body.status_code == 422, body.text


async def test_a_backwards_schedule_says_which_rule(client: httpx.AsyncClient, staff: User) -> None:
    backwards = event_body(ends_at=(now() + timedelta(days=1)).isoformat())
    response = await client.post("/v1/events", json=backwards, headers=staff.headers)
    assert response.status_code == 422
    assert "ends_at must be after starts_at" in response.json()["errors"][0]["msg"]


async def test_a_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/v1/signups/{uuid.uuid4()}")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"


def test_the_schema_says_the_rules(app: FastAPI) -> None:
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    assert "Europe/Berlin" in schemas["TimeZone"]["enum"]
    venue_zone = schemas["VenueCreate"]["properties"]["timezone"]
    assert venue_zone["$ref"] == "#/components/schemas/TimeZone"
    assert "ends_at`` after ``starts_at" in schemas["EventCreate"]["description"]
    assert "ends_at`` after ``starts_at" in schemas["EventUpdate"]["description"]
    get_event = doc["paths"]["/v1/events/{event_id}"]["get"]
    assert {} in get_event["security"], "reading an event needs no token"
    create = doc["paths"]["/v1/events"]["post"]["responses"]
    assert {"400", "401", "413", "422", "503"} <= set(create)


async def test_control_characters_are_refused_by_the_schema(
    client: httpx.AsyncClient, staff: User
) -> None:
    venue = {
        "name": "Hub",
        "city": "\x00Oslo",
        "address": "1 Quay",
        "capacity": 5,
        "timezone": "Europe/Oslo",
    }
    response = await client.post("/v1/venues", json=venue, headers=staff.headers)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation-error")
    assert response.json()["errors"][0]["loc"] == ["body", "city"]


async def test_what_is_created_says_where_it_is(
    client: httpx.AsyncClient, staff: User, make_user: Callable[..., User]
) -> None:
    venue = {"name": "Hub", "city": "Oslo", "address": "1 Quay", "capacity": 5}
    created_venue = await client.post(
        "/v1/venues", json={**venue, "timezone": "Europe/Oslo"}, headers=staff.headers
    )
    event = await published_event(client, staff)
    fan = make_user()
    signup = await client.post(f"/v1/events/{event['id']}/signups", headers=fan.headers)
    for created in (created_venue, signup):
        assert created.status_code == 201, created.text
        found = await client.get(created.headers["location"], headers=fan.headers)
        assert found.json() == created.json()
