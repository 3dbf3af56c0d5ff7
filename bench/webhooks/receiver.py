"""The partner's server of the webhooks benchmark: a bare ASGI app (no framework), served by
:func:`bench.harness.serve` in its own process (uvicorn, uvloop, httptools), so that what it
costs to take a webhook stays small beside what the service costs to send one.

* ``POST /hooks/{name}`` answers 200 ``ok`` and records, under ``name``, one line
  ``webhook-id,ce-id,ce-time,arrival``: the ``webhook-id`` header, the CloudEvent's ``id``
  and ``time`` from the JSON body, and the wall-clock arrival (``time.time()``, seconds)
  once the body is read;
* ``GET /records/{name}?since=K`` returns the lines from the K-th on (0 first), one a line:
  the bench reads what is new as it goes;
* ``GET /healthz`` answers 200 (what :func:`bench.harness.serve` waits for).
"""

import json
import time
from collections import defaultdict
from typing import Any

HOOKS = "/hooks/"
RECORDS = "/records/"
OK = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


def create_app() -> Any:
    records: dict[str, list[str]] = defaultdict(list)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if scope["method"] == "POST" and path.startswith(HOOKS):
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            arrival = time.time()
            webhook_id = next((v for k, v in scope["headers"] if k == b"webhook-id"), b"")
            document = json.loads(body)
            records[path[len(HOOKS) :]].append(
                f"{webhook_id.decode()},{document['id']},{document['time']},{arrival:.6f}"
            )
            await _answer(send, 200, b"ok", OK)
        elif scope["method"] == "GET" and path.startswith(RECORDS):
            query = scope["query_string"].decode()
            since = int(query.removeprefix("since=")) if query.startswith("since=") else 0
            lines = records[path[len(RECORDS) :]][since:]
            text = "".join(f"{line}\n" for line in lines).encode()
            length = str(len(text)).encode()
            await _answer(
                send, 200, text, [(b"content-type", b"text/plain"), (b"content-length", length)]
            )
        elif path == "/healthz":
            await _answer(send, 200, b"ok", OK)
        else:
            await _answer(send, 404, b"no", OK)

    return app


async def _answer(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
