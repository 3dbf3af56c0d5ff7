"""Pure-ASGI middleware shared by every app: request ids, HTTP metrics and the access log
in one layer (:class:`ObservingMiddleware`), body limits in another.

Written against ASGI directly (not ``BaseHTTPMiddleware``) because they sit on the
hot path of every request.
"""

import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.logs import ACCESS_LOGGER
from kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from kit.problems import problem_response

REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is kept only when it is short and plain: it is logged and forwarded.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with a 413 problem document."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            detail=f"request body larger than {self.max_bytes} bytes",
            code="payload-too-large",
            instance=scope["path"],
        )
        await response(scope, receive, send)


class BodyTooLarge(Exception):
    """Raised inside the receive channel when a streamed body passes the limit."""


access_log = logging.getLogger(ACCESS_LOGGER)


class ObservingMiddleware:
    """Each request, once, in one layer (the outermost of kit's):

    * its id: the caller's ``X-Request-ID`` when short and plain, else a new one, put in
      ``scope["state"]["request_id"]`` (logged, forwarded by the gateway) and echoed back;
    * counted and timed by route template (never by raw path) for ``/metrics``;
    * one access-log record with request id, method, route, path, status, duration and,
      when a token was verified, the user id (``scope["state"]["user_id"]``, set by
      :func:`kit.auth.current_principal` and the gateway's guard).
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, REQUEST_ID_HEADER)
        request_id = offered if offered and REQUEST_ID_PATTERN.fullmatch(offered) else None
        request_id = request_id or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None)
        method = scope["method"]
        requests, latency = self._series_of(method, route or "unmatched", status)
        requests.inc()
        latency.observe(seconds)
        state = scope.get("state", {})
        access_log.info(
            "%s %s %s",
            method,
            scope["path"],
            status,
            extra={
                "fields": {
                    "event": "request",
                    "service": self.service,
                    "request_id": state.get("request_id"),
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "user_id": state.get("user_id"),
                }
            },
        )

    def _series_of(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The labelled metrics of one (method, route, status), looked up once each."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = (
                HTTP_REQUESTS.labels(self.service, method, route, str(status)),
                HTTP_LATENCY.labels(self.service, method, route),
            )
            self._series[key] = series
        return series


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None
