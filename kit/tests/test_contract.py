"""What kit documents in OpenAPI agrees with what the app answers: the problems a route
can give, optional tokens shown as optional, ``Allow`` on a 405, RFC 3339 date-times; and
what :func:`kit.testing.contract.contract_problems` finds in a careless document."""

from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel

from kit.api.schemas import PublicModel
from kit.api.times import IsoDateTime
from kit.app import build_service_app
from kit.auth import CurrentPrincipal, OptionalPrincipal, Principal, require_roles
from kit.db import Database
from kit.settings import ServiceSettings
from kit.testing.contract import contract_problems
from kit.testing.tokens import TokenMinter

router = APIRouter()
minter = TokenMinter(kid="contract")


class Body(BaseModel):
    name: str


@router.get("/items")
async def list_items(since: Annotated[IsoDateTime | None, Query(alias="from")] = None) -> dict:
    return {"since": since.isoformat() if since else None}


@router.get("/items/{item_id}")
async def get_item(item_id: int, viewer: OptionalPrincipal) -> dict:
    return {"id": item_id, "viewer": str(viewer.user_id) if viewer else None}


@router.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int, principal: CurrentPrincipal) -> None:
    return None


@router.post("/items/{item_id}/move")
async def move_item(
    item_id: int, body: Body, principal: Principal = require_roles("staff")
) -> dict:
    return {"id": item_id}


def app(*, database: bool = False) -> FastAPI:
    settings = ServiceSettings(service_name="contract")
    built = build_service_app(
        settings=settings,
        title="contract",
        routers=[router],
        database=Database("sqlite+aiosqlite://", service="contract") if database else None,
    )
    built.state.token_verifier = minter.verifier()
    return built


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def client(built: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(built), base_url="http://t")


def test_routes_document_the_problems_kit_knows_they_can_answer() -> None:
    document = app(database=True).openapi()
    statuses = {
        (path, method): set(operation(document, path, method)["responses"])
        for path, method in [
            ("/items", "get"),
            ("/items/{item_id}", "get"),
            ("/items/{item_id}", "delete"),
            ("/items/{item_id}/move", "post"),
        ]
    }
    assert statuses[("/items", "get")] >= {"422", "503"}
    assert "401" not in statuses[("/items", "get")]
    assert statuses[("/items/{item_id}", "delete")] >= {"401", "422", "503"}
    assert "403" not in statuses[("/items/{item_id}", "delete")]
    assert statuses[("/items/{item_id}/move", "post")] >= {"400", "401", "403", "413", "422"}
    problem = operation(document, "/items/{item_id}", "delete")["responses"]["401"]
    assert "application/problem+json" in problem["content"]


def test_without_a_database_no_503_and_a_rate_limited_app_documents_429() -> None:
    assert "503" not in operation(app().openapi(), "/items", "get")["responses"]
    limited = build_service_app(
        settings=ServiceSettings(service_name="limited"),
        title="limited",
        routers=[router],
        rate_limited=True,
    )
    assert "429" in operation(limited.openapi(), "/items", "get")["responses"]


def test_an_optional_token_is_documented_as_optional() -> None:
    document = app().openapi()
    optional = operation(document, "/items/{item_id}", "get")
    required = operation(document, "/items/{item_id}", "delete")
    assert {} in optional["security"]
    assert {"HTTPBearer": []} in optional["security"]
    assert required["security"] == [{"HTTPBearer": []}]


async def test_an_optional_token_route_answers_anonymous_callers() -> None:
    async with client(app()) as http:
        anonymous = await http.get("/items/1")
        signed_in = await http.get("/items/1", headers=minter.headers(roles=("fan",)))
    assert anonymous.status_code == 200
    assert anonymous.json()["viewer"] is None
    assert signed_in.json()["viewer"] is not None


async def test_a_405_allows_every_method_of_the_path() -> None:
    async with client(app()) as http:
        refused = await http.put("/items/1")
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["allow"] == "DELETE, GET"


async def test_a_number_is_not_a_date_time() -> None:
    async with client(app()) as http:
        number = await http.get("/items", params={"from": "123"})
        naive = await http.get("/items", params={"from": "2026-05-01T09:00:00"})
        rfc3339 = await http.get("/items", params={"from": "2026-05-01T09:00:00+02:00"})
    assert number.status_code == 422, number.text
    assert naive.status_code == 422
    assert rfc3339.status_code == 200
    assert rfc3339.json()["since"] == "2026-05-01T09:00:00+02:00"


def test_a_date_time_is_documented_as_one() -> None:
    parameters = operation(app().openapi(), "/items", "get")["parameters"]
    (since,) = [parameter for parameter in parameters if parameter["name"] == "from"]
    assert {"type": "string", "format": "date-time"} in since["schema"]["anyOf"]


class Shown(PublicModel):
    name: str
    note: str | None = None


loose = APIRouter()


@loose.get("/loose/{kind}")
async def loose_route(kind: Literal["a", "b"]) -> dict:
    return {"kind": kind}


@loose.get("/shown", operation_id="shown.read")
async def shown_route() -> Shown:
    return Shown(name="x")


def test_contract_problems_name_what_a_generated_client_could_not_type() -> None:
    built = build_service_app(
        settings=ServiceSettings(service_name="loose"), title="l", routers=[loose]
    )
    problems = contract_problems(built.openapi())
    assert any("operationId 'loose_route_loose__kind__get'" in problem for problem in problems)
    assert any("GET /loose/{kind} kind: inline enum" in problem for problem in problems)
    assert any("GET /loose/{kind} 200 application/json: free-form" in p for p in problems)
    assert any("GET /loose/{kind} 200: an anonymous object" in p for p in problems)
    assert not any("GET /shown" in problem for problem in problems), problems
    item_id = {"name": "id", "in": "path", "schema": {"type": "integer"}}
    delete = {"operationId": "items.delete", "security": [{"HTTPBearer": []}]}
    no_answers = {"paths": {"/items/{id}": {"delete": {**delete, "parameters": [item_id]}}}}
    assert contract_problems(no_answers) == [
        f"DELETE /items/{{id}}: does not document {status}" for status in ("a 2xx", "401", "422")
    ]
    assert not any("Shown" in problem for problem in problems), "defaults are required"
