"""Rewards' OpenAPI says the rules the API enforces: which reads need no token (the mall's
items, the tiers, the leaderboards and the club; everything else is the caller's own or
staff's), balances that are never negative, a ledger that is a cursor page of entries
naming their source, and the problems a bad request gets."""

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from kit.openapi import operations
from services.rewards.tests.support import User

PUBLIC_READS = ("/v1/mall/items", "/v1/rewards/tiers", "/v1/leaderboards", "/v1/club")
"""The prefixes whose GETs need no token (the gateway's public routes say the same)."""


def public_read(method: str, path: str) -> bool:
    return method == "get" and any(
        path == prefix or path.startswith(f"{prefix}/") for prefix in PUBLIC_READS
    )


def test_only_the_agreed_reads_are_public(app: FastAPI) -> None:
    for (method, path), operation in operations(app.openapi()):
        security = operation["security"]
        if public_read(method, path):
            assert security == [] or {} in security, f"{method.upper()} {path} needs no token"
        else:
            assert security, f"{method.upper()} {path} says who may call it"
            assert {} not in security, f"{method.upper()} {path} needs a token"
            assert "401" in operation["responses"], (method, path)


def test_the_wallet_and_the_ledger_say_what_they_hold(app: FastAPI) -> None:
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    wallet = schemas["WalletPublic"]
    assert set(wallet["required"]) == set(wallet["properties"])
    for name in ("points", "pending_points", "debt", "community_value"):
        assert wallet["properties"][name]["type"] == "integer", name
        assert wallet["properties"][name]["minimum"] == 0, name
    ledger = doc["paths"]["/v1/me/ledger"]["get"]
    assert {"200", "401", "422"} <= set(ledger["responses"])
    page = ledger["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page_schema = schemas[page.rsplit("/", 1)[1]]
    assert page_schema["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/EntryPublic"
    }
    entry = schemas["EntryPublic"]
    assert set(entry["required"]) == set(entry["properties"])
    assert {"source_type", "source_id", "reference_type", "reference_id"} <= set(entry["required"])
    assert schemas["Currency"]["enum"] == ["points", "value"]


async def test_a_wallet_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me/wallet")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_new_member_has_an_empty_wallet_and_ledger(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    member = make_user()
    wallet = await client.get("/v1/me/wallet", headers=member.headers)
    ledger = await client.get("/v1/me/ledger", headers=member.headers)
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["points"] == wallet.json()["community_value"] == 0
    assert ledger.json() == {"items": [], "next_cursor": None}


async def test_bad_ledger_queries_are_422_problems(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    member = make_user()
    cases = {
        "cursor": {"cursor": "not-one-of-ours"},
        "currency": {"currency": "gold"},
        "limit": {"limit": "0"},
    }
    for name, params in cases.items():
        response = await client.get("/v1/me/ledger", params=params, headers=member.headers)
        assert response.status_code == 422, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
    bad_cursor = await client.get("/v1/me/ledger", params=cases["cursor"], headers=member.headers)
    assert bad_cursor.json()["type"].endswith("/bad-cursor")


async def test_a_405_names_the_methods_of_the_path(
    client: httpx.AsyncClient, make_user: Callable[..., User]
) -> None:
    response = await client.post("/v1/me/wallet", headers=make_user().headers)
    assert response.status_code == 405
    assert "GET" in response.headers["allow"].split(", ")
