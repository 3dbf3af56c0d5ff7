"""The bench's reference apps, each served by its own uvicorn process.

* ``hello``: a plain FastAPI endpoint returning a small JSON (the ceiling, and the fast
  upstream that shows what a proxy itself costs).
* ``httpx_proxy`` / ``aiohttp_proxy``: minimal FastAPI proxies forwarding ``GET`` of each
  path in ``BENCH_ROUTES`` (JSON: path → upstream base URL) with its ``Authorization``
  over one pooled client of each library: the client library's cost without the
  gateway's own work.
"""

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import httpx
from fastapi import FastAPI, Request, Response

POOL = 100
Forward = Callable[[Request], Awaitable[Response]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


# FastAPI's native OpenTelemetry off, as kit's apps run (kit.settings.opentelemetry): a
# baseline must not pay for what the subject does not do.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


def hello() -> FastAPI:
    app = FastAPI(telemetry=NO_TELEMETRY)

    @app.get("/hello")
    async def say_hello() -> dict[str, str]:
        return {"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "display_name": "Hello"}

    return app


def httpx_proxy() -> FastAPI:
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        async with httpx.AsyncClient(limits=limits, timeout=5.0) as client:
            state["client"] = client
            yield

    async def forward(request: Request) -> Response:
        upstream = await state["client"].get(_target(request), headers=_auth(request))
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    return _proxy_app(lifespan, forward)


def aiohttp_proxy() -> FastAPI:
    state: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=POOL, limit_per_host=POOL)
        timeout = aiohttp.ClientTimeout(total=5.0)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            state["session"] = session
            yield

    async def forward(request: Request) -> Response:
        async with state["session"].get(_target(request), headers=_auth(request)) as upstream:
            body = await upstream.read()
            return Response(body, upstream.status, media_type="application/json")

    return _proxy_app(lifespan, forward)


def _routes() -> dict[str, str]:
    routes: dict[str, str] = json.loads(os.environ["BENCH_ROUTES"])
    return routes


def _proxy_app(lifespan: Lifespan, forward: Forward) -> FastAPI:
    app = FastAPI(lifespan=lifespan, telemetry=NO_TELEMETRY)
    app.state.routes = _routes()
    for path in app.state.routes:
        app.add_api_route(path, forward, methods=["GET"])
    return app


def _target(request: Request) -> str:
    return request.app.state.routes[request.url.path] + request.url.path


def _auth(request: Request) -> dict[str, str]:
    return {"authorization": request.headers.get("authorization", "")}
