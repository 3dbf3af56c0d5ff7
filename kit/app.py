"""The app factory every service and the gateway start from.

:func:`build_service_app` wires problem documents, request ids, body limits, metrics,
``/healthz``, ``/readyz``, ``/metrics`` and the OpenAPI document as :mod:`kit.openapi`
completes it, and starts and stops the service's background :class:`Component` objects
(outbox relay, consumers, JWKS cache) in its lifespan. ``/readyz`` asks the database and
every component and shows each answer. Only a failing *critical* component (the database)
makes it 503, taking the pod out of its Service; any other failure (Kafka, an upstream, the
JWKS) answers 200 ``degraded``, because the service still serves what does not depend on it
(the outbox keeps events until Kafka is back). Every check also sets
``paddock_component_up``, so a degraded pod shows in metrics.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from kit.auth import current_principal, optional_principal, require_roles
from kit.db import Database
from kit.logs import configure_logging
from kit.metrics import COMPONENT_UP, metrics_endpoint
from kit.middleware import BodyLimitMiddleware, ObservingMiddleware
from kit.openapi import LICENSE, SERVERS, Operation, install_openapi
from kit.problems import install_problem_handlers, problem_response, problem_responses
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
    rate_limited: bool = False,
) -> FastAPI:
    """Build a service app; ``app.state`` holds ``settings``, ``database`` and ``components``.

    ``rate_limited``: every route may answer 429 (the gateway's limits), documented so."""
    configure_logging(settings.log_format)
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

    telemetry = settings.opentelemetry
    app = FastAPI(
        title=title,
        version=version,
        lifespan=lifespan,
        servers=SERVERS,
        license_info=LICENSE,
        separate_input_output_schemas=True,  # responses: every field sent is required
        telemetry={"tracing": telemetry, "metrics": telemetry, "logs": telemetry},
    )
    app.state.settings = settings
    app.state.database = database
    app.state.components = parts
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    _document_request_problems(app, database=database is not None, rate_limited=rate_limited)
    install_openapi(app, optional_token=_optional_token_operations(app))
    _add_health_routes(app, settings.service_name, parts)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservingMiddleware, service=settings.service_name)
    return app


def app_state(attribute: str) -> Any:
    """A dependency on ``request.app.state.<attribute>``, which the app factory set:
    ``PasswordsDep = Annotated[Passwords, app_state("passwords")]``."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    return Depends(dependency)


def _document_request_problems(app: FastAPI, *, database: bool, rate_limited: bool) -> None:
    """Every route documents, as the problem documents they really are, what kit can tell
    it may answer: 422 when it reads input (replacing FastAPI's default schema), 400 and
    413 with a body, 401 when it reads the bearer token (required or optional: an invalid
    token is refused either way), 403 when it requires roles, 503 in a service with a
    database (its unit of work fails while the database is away), 429 when the app limits
    rates. Routes add what only they know (404, 409 ...)."""
    for route in api_routes(app):
        dependant = route.dependant
        calls = set(_dependency_calls(dependant))
        statuses: list[int] = []
        if route.body_field:
            statuses += [400, 413]
        if current_principal in calls or optional_principal in calls:
            statuses.append(401)
        if any(_requires_roles(call) for call in calls):
            statuses.append(403)
        reads_input = (
            route.body_field
            or dependant.query_params
            or dependant.path_params
            or dependant.header_params
        )
        if reads_input:
            statuses.append(422)
        if rate_limited:
            statuses.append(429)
        if database:
            statuses.append(503)
        # the route as served: for an included router, FastAPI's copy, which OpenAPI reads
        for status, response in problem_responses(*statuses).items():
            route.responses.setdefault(status, response)


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of ``app`` as served, through included routers (FastAPI keeps
    those as one entry of ``app.routes``)."""
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _dependency_calls(dependency)


def _requires_roles(call: Any) -> bool:
    return getattr(call, "__qualname__", "").startswith(f"{require_roles.__name__}.<locals>.")


def _optional_token_operations(app: FastAPI) -> set[Operation]:
    """The operations whose token is optional: they answer anonymous callers too."""
    found: set[Operation] = set()
    for route in api_routes(app):
        calls = set(_dependency_calls(route.dependant))
        if optional_principal in calls and current_principal not in calls:
            found.update((method.lower(), route.path_format) for method in route.methods)
    return found


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
                503,
                detail="a critical dependency is unavailable",
                code="not-ready",
                instance="/readyz",
                checks=checks,
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
