"""The floor: what FastAPI and PostgreSQL do for each measured path with nothing in between.

A minimal FastAPI app on an asyncpg pool, served by uvicorn like the services (one worker,
uvloop, httptools). Each route runs the statements its subject runs, with no token check,
no ORM, no middleware, no metrics and no log, and returns the row as FastAPI returns a dict:

* ``POST /v1/events/{id}/signups`` — events' first-come signup statement itself
  (:data:`services.events.service.rush.PLACE`: seat or waitlist place, signup row and
  outbox row in one statement), for a random new user each time;
* ``POST /hot/{id}`` — only the hot-row part of it: one conditional ``UPDATE … RETURNING``
  of the event's seat counter (what pgbench's hot-row script does, through FastAPI);
* ``GET /v1/events/{id}`` — the event page's read: the event joined with the viewer's signup;
* ``GET /v1/me`` — ``GET /v1/me``'s read: the user with their roles, of ``FLOOR_USER_ID``.

Environment: ``FLOOR_EVENTS_DSN`` and/or ``FLOOR_IDENTITY_DSN`` (``postgresql://`` DSNs; a
route whose database is not given answers 404), ``FLOOR_USER_ID``, ``FLOOR_POOL_SIZE``.
"""

import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException

from contracts.events import SignupConfirmed, SignupWaitlisted
from services.events.service.rush import PLACE

SIGNUP = re.sub(r"(?<!:):(\w+)", lambda name: f"{{{name[1]}}}", PLACE.text)
"""PLACE with ``{name}`` placeholders, numbered below in the order asyncpg takes them."""
SIGNUP_PARAMS = list(dict.fromkeys(re.findall(r"\{(\w+)\}", SIGNUP)))
SIGNUP_SQL = SIGNUP.format(**{name: f"${i}" for i, name in enumerate(SIGNUP_PARAMS, 1)})

EVENT_PAGE_SQL = """
SELECT events.*, signups.id AS signup_id, signups.status AS signup_status,
       signups.waitlist_position
FROM events LEFT OUTER JOIN signups
  ON signups.event_id = events.id AND signups.user_id = $2
WHERE events.id = $1
"""
HOT_ROW_SQL = """
UPDATE events SET confirmed_count = confirmed_count + 1
WHERE id = $1 AND confirmed_count < capacity
RETURNING confirmed_count
"""
ME_SQL = """
SELECT users.*,
       ARRAY(SELECT role FROM user_roles WHERE user_id = users.id ORDER BY role) AS roles
FROM users WHERE users.id = $1
"""


def create_app() -> FastAPI:
    pool_size = int(os.environ.get("FLOOR_POOL_SIZE", "50"))
    pools: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for name in ("events", "identity"):
                if dsn := os.environ.get(f"FLOOR_{name.upper()}_DSN"):
                    pool = asyncpg.create_pool(
                        dsn, min_size=pool_size, max_size=pool_size, reset=_nothing_to_reset
                    )
                    pools[name] = await stack.enter_async_context(pool)
            yield

    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})

    def pool(name: str) -> asyncpg.Pool:
        if name not in pools:
            raise HTTPException(404, f"no {name} database given")
        return pools[name]

    @app.post("/v1/events/{event_id}/signups", status_code=201)
    async def sign_up(event_id: uuid.UUID) -> dict[str, Any]:
        params = _signup_params(event_id)
        row = await pool("events").fetchrow(SIGNUP_SQL, *(params[n] for n in SIGNUP_PARAMS))
        if row is None:
            raise HTTPException(409, "closed")
        return {"id": params["signup_id"], "event_id": event_id, **dict(row)}

    @app.post("/hot/{event_id}")
    async def hot_row(event_id: uuid.UUID) -> dict[str, Any]:
        confirmed = await pool("events").fetchval(HOT_ROW_SQL, event_id)
        if confirmed is None:
            raise HTTPException(409, "full")
        return {"confirmed_count": confirmed}

    @app.get("/v1/events/{event_id}")
    async def event_page(event_id: uuid.UUID) -> dict[str, Any]:
        viewer = uuid.uuid4()  # the viewer has no signup, as on a sold-out page
        row = await pool("events").fetchrow(EVENT_PAGE_SQL, event_id, viewer)
        if row is None:
            raise HTTPException(404, "no such event")
        return dict(row)

    @app.get("/v1/me")
    async def me() -> dict[str, Any]:
        row = await pool("identity").fetchrow(ME_SQL, uuid.UUID(os.environ["FLOOR_USER_ID"]))
        if row is None:
            raise HTTPException(404, "no such user")
        return dict(row)

    return app


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    """Single statements change no session state: no reset round trip (as kit.db.reads)."""


def _signup_params(event_id: uuid.UUID) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "now": datetime.now(UTC),
        "signup_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "key": None,
        "eligible_for": ["everyone"],
        "message_id": uuid.uuid4(),
        "topic": SignupConfirmed.topic.name,
        "confirmed_type": SignupConfirmed.event_type,
        "waitlisted_type": SignupWaitlisted.event_type,
        "source": "events",
    }
