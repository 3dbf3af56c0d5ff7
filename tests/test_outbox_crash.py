"""A process killed with SIGKILL between the commit and the relay's mark loses nothing.

identity runs as a real uvicorn process on PostgreSQL; the registration commits a user and
its ``identity.user.registered`` outbox row in one transaction. We kill the process at two
points and restart it:

* before the event reached Kafka (the broker is unreachable): after the restart the event
  is delivered exactly once;
* after Kafka acknowledged it but before the row was marked published (a trigger stalls the
  mark): after the restart the event is delivered again with the same CloudEvents id, a
  duplicate that consumers drop, never a loss.
"""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack import free_port
from kit.testing.kafka import events_for
from kit.testing.waiting import eventually
from tests.processes import ServiceProcess

IDENTITY = "services.identity.app:create_app"
REGISTERED = "identity.user.registered.v1"

STALL_MARKING = (
    "CREATE FUNCTION stall_outbox_mark() RETURNS trigger AS $$ "
    "BEGIN PERFORM pg_sleep(600); RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER stall_outbox_mark BEFORE UPDATE ON outbox "
    "FOR EACH ROW EXECUTE FUNCTION stall_outbox_mark()",
)


@pytest.fixture
async def engine(identity_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(identity_database)
    yield engine
    await engine.dispose()


async def register(base_url: str) -> str:
    body = {
        "email": f"crash-{uuid.uuid4().hex[:8]}@example.com",
        "password": "correct horse battery",
        "display_name": "Crash Test",
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def readiness(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def pending_rows(engine: AsyncEngine, user_id: str) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE key = :key AND published_at IS NULL"),
            {"key": user_id},
        )
        return int(result.scalar_one())


async def wait_until_published(engine: AsyncEngine, user_id: str) -> None:
    async def published() -> bool:
        return await pending_rows(engine, user_id) == 0

    await eventually(published, timeout=30, message=f"the event about {user_id} stayed unsent")


async def test_kill_before_publishing_then_restart_delivers_exactly_once(
    identity_env: dict[str, str], kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    unreachable = f"127.0.0.1:{free_port()}"
    first = ServiceProcess(IDENTITY, {**identity_env, "KAFKA_BOOTSTRAP_SERVERS": unreachable},
                           tmp_path / "identity-1.log").start()  # fmt: skip
    try:
        user_id = await register(first.url)
        assert await pending_rows(engine, user_id) == 1
        assert await readiness(first.url) == "degraded", "Kafka is down: degraded, still serving"
    finally:
        first.kill()

    second = ServiceProcess(IDENTITY, {**identity_env, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
                            tmp_path / "identity-2.log").start()  # fmt: skip
    try:
        await wait_until_published(engine, user_id)

        async def ready() -> bool:
            return await readiness(second.url) == "ready"

        # Identity's consumers (rewards' announcements) join their group in a few seconds.
        await eventually(ready, timeout=30, message="identity never became ready")
    finally:
        second.stop()
    events = await events_for(kafka_bootstrap, "identity.users", user_id)
    assert [event.type for event in events] == [REGISTERED]


async def test_kill_after_kafka_ack_before_marking_redelivers_the_same_event(
    identity_env: dict[str, str], kafka_bootstrap: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as connection:
        for statement in STALL_MARKING:
            await connection.execute(text(statement))
    env = {**identity_env, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    first = ServiceProcess(IDENTITY, env, tmp_path / "identity-1.log").start()
    try:
        user_id = await register(first.url)
        delivered = await events_for(kafka_bootstrap, "identity.users", user_id)
        assert [event.type for event in delivered] == [REGISTERED]
        assert await pending_rows(engine, user_id) == 1, "the mark should be stalled"
    finally:
        first.kill()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        await connection.execute(text("DROP TRIGGER stall_outbox_mark ON outbox"))

    second = ServiceProcess(IDENTITY, env, tmp_path / "identity-2.log").start()
    try:
        await wait_until_published(engine, user_id)
    finally:
        second.stop()
    events = await events_for(kafka_bootstrap, "identity.users", user_id, expect=2)
    assert [event.type for event in events] == [REGISTERED, REGISTERED]
    assert events[0].id == events[1].id, "a redelivery must carry the same id to be deduped"
