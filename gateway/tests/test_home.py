"""``GET /v1/me/home``: the profile is required, the other parts are optional."""

import httpx

from kit.testing.tokens import TokenMinter


async def test_home_has_profile_and_marks_missing_parts(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.get("/v1/me/home", headers=minter.headers())
    assert response.status_code == 200, response.text
    home = response.json()
    assert home["profile"]["display_name"] == "Fan"
    assert home["wallet"] == {"points": 42}
    assert home["signups"] is None  # events is configured but down
    assert home["feed"] is None  # content is not configured at all
    assert sorted(home["unavailable"]) == ["feed", "signups"]


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
