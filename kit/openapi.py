"""What every Paddock OpenAPI document says beyond FastAPI's defaults, so that a client
generated from it needs no hand-written types (ADR 0011).

:func:`install_openapi` wraps ``app.openapi`` once; the document it builds

* has ``ProblemDocument`` and its ``FieldError`` among the components (every problem
  response refers to them), in their serialization form: what is always sent is required;
* declares who may call each operation: ``security: []`` where no token is read,
  ``[{}, {"HTTPBearer": []}]`` where a token is optional (FastAPI renders
  ``HTTPBearer(auto_error=False)`` as required, which would tell clients and schemathesis
  that an anonymous call is refused when it is not);
* documents the headers problem responses carry: ``WWW-Authenticate`` on a 401,
  ``Retry-After`` on a 429 and a 503 (a 201's ``Location`` is the route's to declare, with
  :func:`created_response`);
* writes integer bounds as integers (FastAPI's OpenAPI models hold ``maximum`` as a float,
  which turns ``le=100000`` into ``100000.0``).

:data:`SERVERS` and :data:`LICENSE` are what the app factory passes to FastAPI. Operation
ids are given per route (``operation_id="events.signup"``): short, stable names that
generated clients use as method names; :func:`kit.testing.contract.contract_problems`
fails a document that has FastAPI's default ones.
"""

import copy
from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from kit.problems import ProblemDocument

Document = dict[str, Any]
Operation = tuple[str, str]
"""``(method, path template)``, the method in lower case as in the document."""

SCHEMA_REF_TEMPLATE = "#/components/schemas/{model}"
BEARER_SCHEME = "HTTPBearer"
PUBLIC_SECURITY: list[dict[str, list[str]]] = []
OPTIONAL_BEARER_SECURITY: list[dict[str, list[str]]] = [{}, {BEARER_SCHEME: []}]
SERVERS = [{"url": "/", "description": "the host that serves this document"}]
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
INTEGER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
LOCATION_HEADER = {
    "Location": {
        "description": "the path of what was created",
        "required": True,
        "schema": {"type": "string"},
    }
}
PROBLEM_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "``Bearer``: send an access token from ``POST /v1/auth/login``",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    "429": RETRY_AFTER_HEADER,
    "503": RETRY_AFTER_HEADER,
}


def created_response(description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route answering 201 with ``Location`` (which it sets)."""
    return {201: {"description": description, "headers": copy.deepcopy(LOCATION_HEADER)}}


def install_openapi(app: FastAPI, *, optional_token: Collection[Operation]) -> None:
    """Serve the completed document (module docstring) as ``app.openapi()``;
    ``optional_token`` names the operations that also answer anonymous callers."""
    build = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = complete_document(build(), optional_token=optional_token)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete_document(document: Document, *, optional_token: Collection[Operation]) -> Document:
    """``document`` with what the module docstring lists added (changed in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    for (method, path), operation in operations(document):
        if (method, path) in optional_token:
            operation["security"] = copy.deepcopy(OPTIONAL_BEARER_SECURITY)
        operation.setdefault("security", copy.deepcopy(PUBLIC_SECURITY))
        document_problem_headers(operation)
    integer_bounds_as_integers(document)
    return document


def document_problem_headers(operation: Document) -> None:
    """Add the headers of :data:`PROBLEM_HEADERS` to ``operation``'s problem responses."""
    for status, response in operation.get("responses", {}).items():
        if status in PROBLEM_HEADERS:
            response.setdefault("headers", {}).update(copy.deepcopy(PROBLEM_HEADERS[status]))


def problem_schemas() -> Document:
    """``ProblemDocument`` and ``FieldError`` as components, in serialization mode."""
    _, top = models_json_schema(
        [(ProblemDocument, "serialization")], ref_template=SCHEMA_REF_TEMPLATE
    )
    definitions: Document = top["$defs"]
    return definitions


def operations(document: Document) -> list[tuple[Operation, Document]]:
    """Every ``((method, path), operation)`` of ``document``."""
    return [
        ((method, path), operation)
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in HTTP_METHODS and isinstance(operation, dict)
    ]


def integer_bounds_as_integers(node: Any) -> None:
    """Turn ``maximum: 100000.0`` into ``100000`` in every integer schema under ``node``."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in INTEGER_BOUNDS:
                value = node.get(key)
                if isinstance(value, float) and value.is_integer():
                    node[key] = int(value)
        for value in node.values():
            integer_bounds_as_integers(value)
    elif isinstance(node, list):
        for value in node:
            integer_bounds_as_integers(value)
