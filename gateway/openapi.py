"""One OpenAPI document for the whole public API, served at ``/openapi.json`` (UI: ``/docs``).

Each upstream's ``/openapi.json`` is fetched through its pooled client and cached; an
upstream that cannot be fetched is left out and asked again on the next request, so a
service being down never takes the document down. The merge keeps the paths the
gateway routes to that upstream, the gateway's own paths (which win), every
``components.schemas`` and ``securitySchemes``. Two sources defining *different*
schemas under one name both get their source's name as prefix (``identity_User``),
with their ``$ref`` rewritten. Proxied operations also document the problems the
gateway itself answers with (401, 413, 429, 502, 503, 504) and their headers.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.routing import PublicRoutes, RouteTable
from gateway.upstream import Upstream, UpstreamProblem
from kit.openapi import HTTP_METHODS, document_problem_headers
from kit.problems import PROBLEM_MEDIA_TYPE

log = logging.getLogger(__name__)

GATEWAY = "gateway"
REF_PREFIX = "#/components/schemas/"
PROBLEM_SCHEMA = "ProblemDocument"
GATEWAY_PROBLEMS = {
    "401": "Missing or invalid access token",
    "413": "Request body too large",
    "429": "Rate limit exceeded",
    "502": "Upstream answered badly",
    "503": "Upstream unavailable",
    "504": "Upstream timed out",
}
Document = dict[str, Any]


class MergedOpenAPI:
    """The gateway's own document merged with every reachable upstream's."""

    def __init__(
        self,
        own: Callable[[], Document],
        upstreams: Mapping[str, Upstream],
        table: RouteTable,
        public: PublicRoutes,
        *,
        cache_seconds: float = 60.0,
        fetch_timeout: float = 2.0,
    ) -> None:
        self.own = own
        self.upstreams = upstreams
        self.table = table
        self.public = public
        self.cache_seconds = cache_seconds
        self.fetch_timeout = fetch_timeout
        self._cache: dict[str, tuple[Document, float]] = {}

    async def document(self) -> Document:
        now = time.monotonic()
        stale = [
            name
            for name in self.upstreams
            if name not in self._cache or now - self._cache[name][1] > self.cache_seconds
        ]
        await asyncio.gather(*(self._fetch(name) for name in stale))
        docs = {name: self._cache[name][0] for name in self.upstreams if name in self._cache}
        return merge(self.own(), docs, self.table, self.public)

    async def _fetch(self, name: str) -> None:
        try:
            response = await self.upstreams[name].request(
                "GET",
                "/openapi.json",
                headers={"accept": "application/json"},
                max_seconds=self.fetch_timeout,
            )
            document = json.loads(response.body) if response.status == 200 else None
        except (UpstreamProblem, ValueError) as exc:
            log.info("openapi of %s unavailable: %s", name, exc)
            return
        if isinstance(document, dict) and isinstance(document.get("paths"), dict):
            self._cache[name] = (document, time.monotonic())
        else:
            self._cache.pop(name, None)


def merge(
    own: Document, upstream_docs: Mapping[str, Document], table: RouteTable, public: PublicRoutes
) -> Document:
    """Merge the gateway's document with the upstreams' (see the module docstring)."""
    sources = {GATEWAY: own, **upstream_docs}
    schemas = {source: _components(doc, "schemas") for source, doc in sources.items()}
    renames = collision_renames(schemas)
    problem_ref = REF_PREFIX + renames[GATEWAY].get(PROBLEM_SCHEMA, PROBLEM_SCHEMA)
    paths: Document = {}
    merged_schemas: Document = {}
    security: Document = {}
    for source, doc in sources.items():
        rename = renames[source]
        for path, item in doc.get("paths", {}).items():
            if path in paths or (source != GATEWAY and table.owner(path) != source):
                continue
            paths[path] = rewrite_refs(item, rename)
            if source != GATEWAY:
                _document_gateway_problems(path, paths[path], public, problem_ref)
        for name, schema in schemas[source].items():
            merged_schemas[rename.get(name, name)] = rewrite_refs(schema, rename)
        for name, scheme in _components(doc, "securitySchemes").items():
            security.setdefault(name, scheme)
    components = {"schemas": merged_schemas, "securitySchemes": security}
    return {**own, "paths": paths, "components": components}


def collision_renames(schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Per source, ``{name: source_name}`` for every name two sources define differently.

    Renaming changes the ``$ref`` inside other schemas, which can make two formerly
    equal definitions differ, so this repeats until nothing new collides.
    """
    renames: dict[str, dict[str, str]] = {source: {} for source in schemas}
    while True:
        variants: dict[str, dict[str, list[str]]] = {}
        for source, definitions in schemas.items():
            for name, schema in definitions.items():
                if name not in renames[source]:
                    canonical = json.dumps(rewrite_refs(schema, renames[source]), sort_keys=True)
                    variants.setdefault(name, {}).setdefault(canonical, []).append(source)
        collided = {name: found for name, found in variants.items() if len(found) > 1}
        if not collided:
            return renames
        for name, found in collided.items():
            for source in (source for sources in found.values() for source in sources):
                renames[source][name] = f"{source}_{name}"


def rewrite_refs(node: Any, rename: Mapping[str, str]) -> Any:
    """A copy of ``node`` with every ``#/components/schemas/<old>`` ``$ref`` renamed."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            name = ref.removeprefix(REF_PREFIX)
            node = {**node, "$ref": REF_PREFIX + rename.get(name, name)}
        return {key: rewrite_refs(value, rename) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite_refs(value, rename) for value in node]
    return node


def _components(doc: Document, kind: str) -> Document:
    components = doc.get("components") or {}
    found = components.get(kind) or {}
    return found if isinstance(found, dict) else {}


def _document_gateway_problems(
    path: str, item: Document, public: PublicRoutes, problem_ref: str
) -> None:
    for method, operation in item.items():
        if method not in HTTP_METHODS or not isinstance(operation, dict):
            continue
        responses = operation.setdefault("responses", {})
        for status, description in GATEWAY_PROBLEMS.items():
            if status == "401" and public.allows(method.upper(), path):
                continue
            if status == "413" and "requestBody" not in operation:
                continue
            responses.setdefault(status, _problem_response(description, problem_ref))
        document_problem_headers(operation)


def _problem_response(description: str, problem_ref: str) -> Document:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": problem_ref}}},
    }


def install_merged_openapi(app: FastAPI, merged: MergedOpenAPI) -> None:
    """Serve ``merged`` at the app's ``openapi_url`` in place of FastAPI's own document."""
    url = app.openapi_url or "/openapi.json"
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != url]

    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(await merged.document())

    app.add_route(url, openapi, include_in_schema=False)
