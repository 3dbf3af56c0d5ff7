"""Serve an ASGI app with a real uvicorn server on a free loopback port, inside a test.

``serving`` runs it on the test's own event loop; ``serving_in_thread`` on a thread with
its own loop, for synchronous clients such as schemathesis, which would otherwise block
the loop the app (and its database pool) lives on.
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from starlette.types import ASGIApp

from devstack import LOCALHOST, free_port

STARTUP_TIMEOUT_SECONDS = 20.0


def _server(app: ASGIApp) -> uvicorn.Server:
    config = uvicorn.Config(app, host=LOCALHOST, port=free_port(), log_level="warning")
    return uvicorn.Server(config)


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Yield the base URL of ``app`` served on this event loop until the block ends."""
    server = _server(app)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
    try:
        yield f"http://{LOCALHOST}:{server.config.port}"
    finally:
        server.should_exit = True
        await task


@contextmanager
def serving_in_thread(app: ASGIApp, name: str) -> Iterator[str]:
    """Yield the base URL of ``app`` served on a thread of its own until the block ends."""
    server = _server(app)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        assert thread.is_alive(), f"{name} stopped during startup"
        assert time.monotonic() < deadline, f"{name} did not start in time"
        time.sleep(0.05)
    try:
        yield f"http://{LOCALHOST}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
