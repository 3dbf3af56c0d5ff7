"""One consumer replica as a process of its own, for the rebalance tests to kill::

    python -m kit.bus.tests.replica <database url> <bootstrap> <topic> <group name>

It runs an :class:`~kit.bus.consumer.EventConsumer` whose handler records each ping in
``effects`` (slowly, so that a kill lands mid-stream) until it is stopped or killed.
"""

import asyncio
import signal
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.bus.consumer import EventConsumer
from kit.bus.envelope import Envelope
from kit.bus.kafka import KafkaConnection
from kit.bus.tests.conftest import Pinged, make_payload_type
from kit.db import Database

HANDLER_SECONDS = 0.005


async def record_effect(session: AsyncSession, payload: Pinged, _: Envelope) -> None:
    await session.execute(
        text("INSERT INTO effects (ping_id, note) VALUES (:id, :note)"),
        {"id": payload.ping_id, "note": payload.note},
    )
    await asyncio.sleep(HANDLER_SECONDS)


async def main(database_url: str, bootstrap: str, topic: str, group: str) -> None:
    database = Database(database_url, service="test")
    consumer = EventConsumer(
        name=group,
        service="test",
        database=database,
        kafka=KafkaConnection(bootstrap),
        handlers={make_payload_type(topic): record_effect},
    )
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await consumer.start()
    print("consuming", flush=True)
    await stopping.wait()
    await consumer.stop()
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
