"""Forwarding: the pure-ASGI catch-all that sends a request to the upstream owning its path.

It runs after the gateway's own routes (``/v1/me/home``, docs, health) did not match:
finds the upstream by longest prefix (404 problem if none), admits the caller
(:class:`~gateway.guard.Guard`), and forwards method, raw path and query, body and
headers minus hop-by-hop ones, adding ``X-Request-ID``, a child ``traceparent`` and
``X-Forwarded-*``. The upstream's status, headers and body come back unchanged (its
problem documents included), minus hop-by-hop headers. Written against ASGI directly,
without Starlette's ``Request``, because every proxied request passes through here.
"""

from collections.abc import Mapping

from multidict import CIMultiDict
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.guard import Guard
from gateway.routing import RouteTable
from gateway.tracing import TRACEPARENT_HEADER, child_traceparent, trace_context
from gateway.upstream import Upstream, UpstreamResponse
from kit.problems import NotFound, Problem, answer_problem

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"host"}
)
# Recomputed or replaced by the gateway on the way up.
REPLACED_UPSTREAM = frozenset(
    {b"content-length", b"expect", b"x-request-id", b"traceparent", b"x-forwarded-for"}
)
# The gateway's own server and middleware add these.
REPLACED_DOWNSTREAM = frozenset({b"content-length", b"date", b"server", b"x-request-id"})


class Proxy:
    """The ASGI app behind the gateway's catch-all route."""

    def __init__(
        self,
        table: RouteTable,
        upstreams: Mapping[str, Upstream],
        guard: Guard,
        *,
        long_polls: Mapping[str, float] | None = None,
    ) -> None:
        self.table = table
        self.upstreams = upstreams
        self.guard = guard
        self.long_polls = dict(long_polls or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        route = self.table.match(path)
        if route is None:
            raise NotFound("no service serves this path")
        if has_dot_segment(path):
            raise Problem("path has '.' or '..' segments", code="path-not-normalised")
        scope["route"] = route  # HTTP metrics label proxied requests by route prefix
        await self.guard.admit(scope)
        body = await read_body(receive)
        response = await self.upstreams[route.upstream].request(
            scope["method"],
            upstream_target(scope),
            headers=upstream_headers(scope),
            body=body or None,
            max_seconds=self.long_polls.get(route.path),
        )
        await send_upstream_response(response, scope["method"] == "HEAD", send)


CATCH_ALL = "/{path:path}"


class ProxiedFirst:
    """Pure-ASGI middleware, the innermost: a request for any path the gateway does not
    serve itself goes straight to the :class:`Proxy`, past FastAPI's exception layers and
    router (which would only find the catch-all route after trying every other one); it
    still passes CORS and kit's middleware (id, metrics, access log, body limit) outside.
    A :class:`Problem` raised while forwarding is answered as the app's handler would.
    The gateway's own paths (health, metrics, docs, ``/v1/me/home``) take the app's way,
    which ends in the same proxy as its catch-all route (a method those routes do not
    allow is forwarded, as before).
    """

    def __init__(self, app: ASGIApp, *, proxy: Proxy, routes: list[BaseRoute]) -> None:
        self.app = app
        self.proxy = proxy
        self.own_paths = frozenset(
            route.path for route in routes if isinstance(route, Route) and route.path != CATCH_ALL
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.own_paths:
            await self.app(scope, receive, send)
            return
        try:
            await self.proxy(scope, receive, send)
        except Problem as problem:
            await answer_problem(problem, instance=scope["path"])(scope, receive, send)


def has_dot_segment(path: str) -> bool:
    return "/." in path and any(segment in {".", ".."} for segment in path.split("/"))


def upstream_target(scope: Scope) -> str:
    """The raw path and query exactly as the client sent them."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    target = bytes(raw_path).partition(b"?")[0].decode("latin-1")
    query: bytes = scope["query_string"]
    return f"{target}?{query.decode('latin-1')}" if query else target


def upstream_headers(scope: Scope) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop ones, plus ids, trace context and forwarding."""
    headers: CIMultiDict[str] = CIMultiDict()
    dropped = set(HOP_BY_HOP | REPLACED_UPSTREAM)
    incoming_trace = forwarded_for = None
    for name, value in scope["headers"]:
        if name == b"connection":
            dropped.update(token.strip().lower() for token in bytes(value).split(b","))
        elif name == b"traceparent":
            incoming_trace = bytes(value).decode("latin-1")
        elif name == b"x-forwarded-for":
            forwarded_for = bytes(value).decode("latin-1")
    for name, value in scope["headers"]:
        if name not in dropped and not name.startswith(b"proxy-"):
            headers.add(name.decode("latin-1"), bytes(value).decode("latin-1"))
    headers.update(context_headers(scope, incoming_trace))
    client = scope.get("client")
    if client:
        headers["x-forwarded-for"] = f"{forwarded_for}, {client[0]}" if forwarded_for else client[0]
    headers["x-forwarded-proto"] = scope.get("scheme", "http")
    return headers


def context_headers(scope: Scope, incoming_trace: str | None) -> dict[str, str]:
    """``X-Request-ID`` (set by kit's RequestIdMiddleware) and a child ``traceparent``."""
    headers = {TRACEPARENT_HEADER: child_traceparent(*trace_context(incoming_trace))}
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        headers["x-request-id"] = request_id
    return headers


def downstream_headers(response: UpstreamResponse, *, head: bool) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers for the client, with a correct ``Content-Length``."""
    dropped = set(HOP_BY_HOP | REPLACED_DOWNSTREAM)
    length: bytes | None = None
    headers: list[tuple[bytes, bytes]] = []
    for raw_name, value in response.headers:
        name = raw_name.lower()
        if name == b"connection":
            dropped.update(token.strip().lower() for token in value.split(b","))
        elif name == b"content-length":
            length = value
        headers.append((name, value))
    kept = [(n, v) for n, v in headers if n not in dropped and not n.startswith(b"proxy-")]
    if head and length is not None:
        kept.append((b"content-length", length))
    elif not head:
        kept.append((b"content-length", str(len(response.body)).encode()))
    return kept


async def send_upstream_response(response: UpstreamResponse, head: bool, send: Send) -> None:
    headers = downstream_headers(response, head=head)
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def read_body(receive: Receive) -> bytes:
    """The whole request body (kit's BodyLimitMiddleware bounds its size)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
