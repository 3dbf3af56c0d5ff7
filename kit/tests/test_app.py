"""The app factory: problem documents, request ids, body limits, health and metrics."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from kit.app import build_service_app
from kit.db import Database, SessionDep
from kit.problems import Conflict
from kit.settings import ServiceSettings

router = APIRouter()


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


@router.post("/things", status_code=201)
async def create_thing(thing: Thing) -> Thing:
    if thing.name == "taken":
        raise Conflict("that name is taken", name=thing.name)
    return thing


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


class Flaky:
    healthy = True

    def __init__(self, *, critical: bool) -> None:
        self.critical = critical
        self.name = "flaky" if critical else "optional"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        if not self.healthy:
            raise ConnectionError("broker unreachable")


@pytest.fixture
async def app_and_client() -> AsyncIterator[tuple[Flaky, httpx.AsyncClient]]:
    flaky = Flaky(critical=True)
    settings = ServiceSettings(service_name="kit-test", max_body_bytes=1024)
    app = build_service_app(
        settings=settings, title="t", routers=[router], components=[flaky, Flaky(critical=False)]
    )
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield flaky, client


async def test_validation_errors_are_problem_documents(app_and_client) -> None:
    _, client = app_and_client
    for body in ({"name": "x", "size": "big"}, {"name": "x", "size": 1, "role": "admin"}):
        response = await client.post("/things", json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/validation-error")
    malformed = await client.post(
        "/things", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422


async def test_domain_problems_carry_their_status_and_extensions(app_and_client) -> None:
    _, client = app_and_client
    response = await client.post("/things", json={"name": "taken", "size": 1})
    assert response.status_code == 409
    assert response.json() == {
        "type": "https://paddock.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "that name is taken",
        "instance": "/things",
        "name": "taken",
    }


async def test_unhandled_errors_do_not_leak_internals(app_and_client) -> None:
    _, client = app_and_client
    response = await client.get("/boom")
    assert response.status_code == 500
    assert "secret" not in response.text


async def test_oversized_bodies_are_refused_with_413(app_and_client) -> None:
    _, client = app_and_client
    response = await client.post("/things", json={"name": "x" * 2000, "size": 1})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_request_id_is_kept_or_minted(app_and_client) -> None:
    _, client = app_and_client
    kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    minted = await client.get("/healthz")
    assert len(minted.headers["x-request-id"]) == 32
    for hostile in ("a" * 129, "id with spaces", "<script>"):
        replaced = await client.get("/healthz", headers={"X-Request-ID": hostile})
        assert replaced.headers["x-request-id"] != hostile


async def test_readiness_fails_on_a_critical_dependency_and_heals(app_and_client) -> None:
    flaky, client = app_and_client
    assert (await client.get("/readyz")).status_code == 200
    flaky.healthy = False
    down = await client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["flaky"].startswith("failing: ConnectionError")
    metrics = (await client.get("/metrics")).text
    assert 'paddock_component_up{component="flaky",service="kit-test"} 0.0' in metrics
    flaky.healthy = True
    assert (await client.get("/readyz")).status_code == 200


async def test_a_non_critical_failure_degrades_without_unreadiness() -> None:
    optional = Flaky(critical=False)
    settings = ServiceSettings(service_name="kit-degraded")
    app = build_service_app(settings=settings, title="t", components=[optional])
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        optional.healthy = False
        degraded = await client.get("/readyz")
        assert degraded.status_code == 200
        assert degraded.json()["status"] == "degraded"
        assert degraded.json()["checks"]["optional"].startswith("failing")
        optional.healthy = True
        assert (await client.get("/readyz")).json()["status"] == "ready"


async def test_metrics_count_requests_by_route_template(app_and_client) -> None:
    _, client = app_and_client
    await client.post("/things", json={"name": "a", "size": 1})
    metrics = (await client.get("/metrics")).text
    assert 'route="/things",service="kit-test",status="201"' in metrics


async def test_values_postgresql_refuses_are_a_422_not_a_500(
    postgres_database_factory: Callable[[str], str],
) -> None:
    """A NUL character in a query parameter reaches PostgreSQL, which refuses it."""
    lookup = APIRouter()

    @lookup.get("/cities")
    async def find_city(session: SessionDep, name: str) -> dict[str, bool]:
        found = await session.scalar(text("SELECT :name = 'Shanghai'"), {"name": name})
        return {"found": bool(found)}

    database = Database(postgres_database_factory("kit_nul"), service="test")
    app = build_service_app(
        settings=ServiceSettings(service_name="kit-nul"),
        title="t",
        routers=[lookup],
        database=database,
    )
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        assert (await client.get("/cities", params={"name": "Shanghai"})).json() == {"found": True}
        refused = await client.get("/cities", params={"name": "Shang\x00hai"})
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/invalid-value")
