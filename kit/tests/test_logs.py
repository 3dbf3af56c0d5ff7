"""The access log: one structured record per request, with its request id, route, status,
duration and the user id once a token was verified; JSON or a readable console line."""

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter

from kit.app import build_service_app
from kit.auth import CurrentPrincipal
from kit.logs import ACCESS_LOGGER, ConsoleFormatter, JsonFormatter
from kit.settings import ServiceSettings
from kit.testing.tokens import TokenMinter

router = APIRouter()
minter = TokenMinter(kid="logs")


@router.get("/things/{thing_id}")
async def read_thing(thing_id: int, principal: CurrentPrincipal) -> dict[str, int]:
    return {"id": thing_id}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


async def test_one_record_per_request_with_its_request_id_and_user(
    access_records: list[logging.LogRecord],
) -> None:
    app = build_service_app(
        settings=ServiceSettings(service_name="logs"), title="logs", routers=[router]
    )
    app.state.token_verifier = minter.verifier()
    headers = minter.headers(roles=("fan",))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        ok = await http.get("/things/7", headers={**headers, "x-request-id": "req-1"})
        refused = await http.get("/things/8")
    assert ok.status_code == 200
    assert refused.status_code == 401
    first, second = [record.fields for record in access_records]  # type: ignore[attr-defined]
    assert first["request_id"] == "req-1"
    assert first["route"] == "/things/{thing_id}"
    assert first["path"] == "/things/7"
    assert first["status"] == 200
    assert first["service"] == "logs"
    assert first["duration_ms"] >= 0
    assert first["user_id"] is not None
    assert second["status"] == 401
    assert second["user_id"] is None
    assert second["request_id"] == refused.headers["x-request-id"]


def test_json_and_console_formats() -> None:
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 1, "GET /x 200", (), None)
    record.fields = {
        "service": "s",
        "method": "GET",
        "path": "/x",
        "status": 200,
        "duration_ms": 1.5,
        "request_id": "r1",
        "user_id": None,
    }
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "r1"
    assert entry["status"] == 200
    assert entry["level"] == "info"
    line = ConsoleFormatter().format(record)
    assert "s GET /x 200 1.5ms" in line
    assert "request_id=r1" in line
    assert "user_id" not in line
