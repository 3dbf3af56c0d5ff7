"""``GET /v1/me/home``: the profile is required, the other parts are optional."""

import httpx

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.tests.fake_upstream import REFERRAL_SUMMARY
from kit.testing.tokens import TokenMinter


async def test_home_has_profile_and_marks_missing_parts(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.get("/v1/me/home", headers=minter.headers())
    assert response.status_code == 200, response.text
    home = response.json()
    assert home["profile"]["display_name"] == "Fan"
    assert home["wallet"] == {"points": 42, "community_value": 7}
    assert home["referrals"] == REFERRAL_SUMMARY
    assert home["signups"] is None  # events is configured but down
    assert home["offers"] is None
    assert home["feed"] is None  # content is not configured at all
    assert sorted(home["unavailable"]) == ["feed", "offers", "signups"]


async def test_home_passes_identity_errors_through(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.get("/v1/me/home", headers=minter.headers(roles=["banned"]))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "banned"


async def test_home_needs_a_token(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/me/home")
    assert response.status_code == 401


def test_home_documents_every_part_with_a_schema() -> None:
    doc = create_app(GatewaySettings(environment="test")).openapi()
    schemas = doc["components"]["schemas"]
    screen = schemas["HomeScreen"]["properties"]
    assert screen["profile"] == {"$ref": "#/components/schemas/HomeProfile"}
    for part, model in (
        ("wallet", "HomeWallet"),
        ("signups", "HomeSignups"),
        ("offers", "HomeOffers"),
        ("feed", "HomeFeed"),
        ("referrals", "HomeReferrals"),
    ):
        refs = [option.get("$ref") for option in screen[part]["anyOf"]]
        assert f"#/components/schemas/{model}" in refs, part
        assert schemas[model]["type"] == "object"
    assert "WalletPublic" in schemas["HomeWallet"]["description"]
    assert set(schemas["HomeWallet"]["required"]) == {"points", "community_value"}
    assert set(schemas["HomeReferrals"]["required"]) == set(REFERRAL_SUMMARY)
    assert set(schemas["HomeScreen"]["required"]) == {*screen}  # null, never left out
    assert {"id", "email", "roles"} <= set(schemas["HomeProfile"]["required"])
    assert schemas["HomeProfile"]["properties"]["roles"]["items"] == {
        "$ref": "#/components/schemas/Role"
    }
    assert schemas["HomeSignups"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/HomeSignup"
    }


async def test_home_refuses_other_methods_with_405(gateway: httpx.AsyncClient) -> None:
    for method in ("POST", "TRACE", "QUERY"):
        response = await gateway.request(method, "/v1/me/home")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET"
    assert (await gateway.get("/v1/me/home")).status_code == 401
