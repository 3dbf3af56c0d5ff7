"""The app factory every service and the gateway start from.

:func:`build_service_app` wires problem documents, request ids, body limits, metrics,
``/healthz``, ``/readyz`` and ``/metrics``, and starts and stops the service's
background :class:`Component` objects (outbox relay, consumers, JWKS cache) in its
lifespan. ``/readyz`` asks the database and every component and shows each answer. Only a failing
*critical* component (the database) makes it 503, taking the pod out of its Service; any
other failure (Kafka, an upstream, the JWKS) answers 200 ``degraded``, because the service
still serves what does not depend on it (the outbox keeps events until Kafka is back).
Every check also sets ``paddock_component_up``, so a degraded pod shows in metrics.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from kit.db import Database
from kit.metrics import COMPONENT_UP, metrics_endpoint
from kit.middleware import BodyLimitMiddleware, MetricsMiddleware, RequestIdMiddleware
from kit.problems import (
    install_problem_handlers,
    install_problem_schema,
    problem_response,
    problem_responses,
)
from kit.settings import ServiceSettings

READINESS_TIMEOUT_SECONDS = 2.0


class Component(Protocol):
    """A background part of a service with its own lifecycle and health.

    A component may set ``critical = True`` when the service cannot serve without it.
    """

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def check(self) -> None:
        """Return when healthy; raise with a short reason otherwise."""


class DatabaseCheck:
    """Readiness of the service's own database."""

    name = "database"
    critical = True

    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.database.dispose()

    async def check(self) -> None:
        await self.database.ping()


def build_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    routers: Sequence[APIRouter] = (),
    database: Database | None = None,
    components: Sequence[Component] = (),
    version: str = "0.1.0",
) -> FastAPI:
    """Build a service app; ``app.state`` holds ``settings``, ``database`` and ``components``."""
    parts: list[Component] = [DatabaseCheck(database)] if database else []
    parts.extend(components)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for component in parts:
            await component.start()
        try:
            yield
        finally:
            for component in reversed(parts):
                await component.stop()

    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.database = database
    app.state.components = parts
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    _document_request_problems(app)
    install_problem_schema(app)
    _add_health_routes(app, settings.service_name, parts)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, service=settings.service_name)
    app.add_middleware(RequestIdMiddleware)
    return app


def app_state(attribute: str) -> Any:
    """A dependency on ``request.app.state.<attribute>``, which the app factory set:
    ``PasswordsDep = Annotated[Passwords, app_state("passwords")]``."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    return Depends(dependency)


def _document_request_problems(app: FastAPI) -> None:
    """Every route that reads input documents its 422 (and, with a body, 400 and 413) as
    the problem documents they really are, replacing FastAPI's default 422 schema."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        statuses = [400, 413, 422] if route.body_field else [422]
        if route.body_field or route.dependant.query_params or route.dependant.path_params:
            for status, response in problem_responses(*statuses).items():
                route.responses.setdefault(status, response)


def _add_health_routes(app: FastAPI, service: str, parts: Sequence[Component]) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = await asyncio.gather(*(_check(service, part) for part in parts))
        checks = dict(zip((part.name for part in parts), results, strict=True))
        failing = [part for part, result in zip(parts, results, strict=True) if result != "ok"]
        if any(getattr(part, "critical", False) for part in failing):
            return problem_response(
                503, detail="a critical dependency is unavailable", code="not-ready", checks=checks
            )
        return JSONResponse({"status": "degraded" if failing else "ready", "checks": checks})

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)


async def _check(service: str, component: Component) -> str:
    try:
        await asyncio.wait_for(component.check(), READINESS_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready", with its reason shown
        COMPONENT_UP.labels(service, component.name).set(0)
        return f"failing: {type(exc).__name__}: {exc}"[:200]
    COMPONENT_UP.labels(service, component.name).set(1)
    return "ok"
