"""The merged OpenAPI document."""

from typing import Any

import httpx

from devstack import LOCALHOST, free_port
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.openapi import collision_renames, merge
from gateway.routing import PublicRoutes, RouteTable
from gateway.tests.conftest import SettingsFactory, gateway_client
from kit.testing.contract import contract_problems


async def test_merged_document_has_upstream_and_own_paths(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert "/v1/me/home" in doc["paths"]
    assert "/v1/me" in doc["paths"]
    assert "/v1/echo/{rest}" in doc["paths"]
    assert "/healthz" not in doc["paths"]
    assert "HomeScreen" in doc["components"]["schemas"]
    me = doc["paths"]["/v1/me"]["get"]["responses"]
    assert {"401", "429", "502", "503", "504"} <= set(me)
    login = doc["paths"]["/v1/auth/login"]["post"]["responses"]
    assert "401" not in login


async def test_an_upstream_s_html_routes_outside_its_document_stay_out_of_the_merge(
    gateway: httpx.AsyncClient,
) -> None:
    """webhooks' partner portal is HTML (``include_in_schema=False``): its paths are in no
    document, so the merged one has webhooks' JSON routes only (the public key set among
    them, with no 401), and the portal is served all the same."""
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert not [path for path in doc["paths"] if path.startswith("/v1/partners")]
    keys = doc["paths"]["/v1/webhook-keys"]["get"]["responses"]
    assert "401" not in keys
    assert {"429", "502", "503", "504"} <= set(keys)
    portal = await gateway.get("/v1/partners/portal/login")
    assert portal.status_code == 200


async def test_merged_document_survives_a_down_upstream(settings_for: SettingsFactory) -> None:
    settings = settings_for(upstreams={"identity": f"http://{LOCALHOST}:{free_port()}"})
    async with gateway_client(settings) as client:
        response = await client.get("/openapi.json")
        docs = await client.get("/docs")
    assert response.status_code == 200
    assert list(response.json()["paths"]) == ["/v1/me/home"]
    assert docs.status_code == 200


def _doc(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {}, "paths": paths, "components": {"schemas": schemas}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_colliding_schemas_are_prefixed_and_refs_rewritten() -> None:
    user_a = {"type": "object", "properties": {"id": {"type": "string"}}}
    user_b = {"type": "object", "properties": {"name": {"type": "string"}}}
    page = {"type": "object", "properties": {"items": {"type": "array", "items": _ref("User")}}}
    identity = _doc(
        {
            "/v1/users": {
                "get": {
                    "responses": {
                        "200": {"content": {"application/json": {"schema": _ref("Page")}}}
                    }
                }
            }
        },
        {"User": user_a, "Page": page},
    )
    content = _doc({"/v1/posts": {"get": {"responses": {}}}}, {"User": user_b, "Page": page})
    table = RouteTable({"/v1/users": "identity", "/v1/posts": "content"})
    merged = merge(
        _doc({}, {}), {"identity": identity, "content": content}, table, PublicRoutes([])
    )
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"identity_User", "content_User", "identity_Page", "content_Page"}
    assert schemas["identity_Page"]["properties"]["items"]["items"] == _ref("identity_User")
    response = merged["paths"]["/v1/users"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == _ref("identity_Page")


def test_equal_schemas_are_kept_once() -> None:
    problem = {"type": "object"}
    renames = collision_renames({"gateway": {"Problem": problem}, "identity": {"Problem": problem}})
    assert renames == {"gateway": {}, "identity": {}}


def test_paths_not_routed_to_their_service_are_left_out() -> None:
    identity = _doc({"/v1/me": {}, "/internal/sync": {}, "/v1/posts": {}}, {})
    merged = merge(
        _doc({}, {}), {"identity": identity}, RouteTable({"/v1/me": "identity"}), PublicRoutes([])
    )
    assert list(merged["paths"]) == ["/v1/me"]


def test_the_gateway_s_own_document_needs_no_hand_written_client_types() -> None:
    assert contract_problems(create_app(GatewaySettings(environment="test")).openapi()) == []
