"""The contract tests' tools: every check schemathesis offers (:func:`checks_for`), and
what a document must say for clients generated from it to need no hand-written types
(:func:`contract_problems`, ADR 0011)."""

import re
from collections.abc import Collection
from typing import Any

from schemathesis.checks import CHECKS, load_all_checks

from kit.openapi import operations
from kit.problems import PROBLEM_MEDIA_TYPE


def all_checks(*, excluding: tuple[str, ...] = ()) -> list[Any]:
    """schemathesis' registered checks (``--checks all``), less those named in ``excluding``."""
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if check.__name__ not in excluding]
    unknown = set(excluding) - {check.__name__ for check in CHECKS.get_all()}
    assert not unknown, f"no such schemathesis checks: {unknown}"
    return checks


Operation = tuple[str, str]
"""``(method, path template)`` of an OpenAPI operation."""


SHADOWED_CHECKS = ("unsupported_method", "allow_header_conformance")
"""The checks that take a template's methods for those of a literal path it also matches."""


def checks_for(
    method: str,
    path: str,
    *,
    schema_valid_but_refused: Collection[Operation] = (),
    unknown_query_ignored: Collection[Operation] = (),
    shadowed: Collection[str] = (),
) -> list[Any]:
    """Every check, less those that would report this operation's correct behaviour as a
    failure: ``positive_data_acceptance`` where a schema-valid request is rightly refused
    (a cursor the API never issued, a wrong password), ``negative_data_rejection`` where a
    list rightly ignores unknown query parameters, and on a ``shadowed`` path (see
    :func:`shadowed_paths`) the checks that expect a 405 and an ``Allow`` of its own methods
    only, where the template's methods are the path's too."""
    excluding = []
    if (method, path) in schema_valid_but_refused:
        excluding.append("positive_data_acceptance")
    if (method, path) in unknown_query_ignored:
        excluding.append("negative_data_rejection")
    if path in shadowed:
        excluding.extend(SHADOWED_CHECKS)
    return all_checks(excluding=tuple(excluding))


def cursor_lists(document: dict[str, Any]) -> set[Operation]:
    """Every operation that takes ``?cursor=``: a list, whichever branch added it."""
    return {
        (method.upper(), path)
        for (method, path), operation in operations(document)
        if any(
            p["in"] == "query" and p["name"] == "cursor" for p in operation.get("parameters", [])
        )
    }


def shadowed_paths(document: dict[str, Any]) -> set[str]:
    """Literal paths a template also matches (``/v1/mall/items/mine`` and
    ``/v1/mall/items/{item_id}``): schemathesis' ``unsupported_method`` and
    ``allow_header_conformance`` checks take the template's methods for the path's own."""

    def matches(template: list[str], path: list[str]) -> bool:
        return len(template) == len(path) and all(
            t == p or t.startswith("{") for t, p in zip(template, path, strict=True)
        )

    paths = [path.split("/") for path in document["paths"]]
    return {
        "/".join(path)
        for path in paths
        for template in paths
        if template != path and matches(template, path)
    }


OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$")
COMPOSITIONS = ("anyOf", "oneOf", "allOf")
TYPED = ("type", "$ref", "enum", "const", *COMPOSITIONS)
SCHEMA_REF_PREFIX = "#/components/schemas/"
EXTENSIBLE = frozenset({"ProblemDocument"})
"""Components that may carry more members than they name: RFC 9457 problem extensions."""
OPTIONAL_IN_RESPONSES = frozenset({("ProblemDocument", "errors")})
"""Response members rightly left out at times: ``errors`` is only on a 422."""


def contract_problems(document: dict[str, Any]) -> list[str]:
    """What keeps a client generated from ``document`` from being exact without
    hand-written types: an operation without a short dotted ``operationId`` (FastAPI's
    defaults look like ``register_v1_auth_register_post``), an explicit ``security`` or a
    status it surely answers; an error response that is not a problem document, a response
    object that is not a named component, an untyped or free-form schema, an enum not named
    as a component or whose values generators would name alike, a response member that is
    not ``required``."""
    problems: list[str] = []
    operation_ids: dict[str, str] = {}
    for (method, path), operation in operations(document):
        where = f"{method.upper()} {path}"
        problems += _operation_id_problems(where, operation.get("operationId", ""), operation_ids)
        if "security" not in operation:
            problems.append(f"{where}: no security declared (public operations say [])")
        problems += _undocumented_statuses(where, operation)
        problems += _operation_schema_problems(where, operation)
    return problems + _component_problems(document)


def _operation_id_problems(where: str, operation_id: str, seen: dict[str, str]) -> list[str]:
    problems = []
    if not OPERATION_ID.match(operation_id):
        problems.append(f"{where}: operationId {operation_id!r} is not like 'auth.login'")
    if operation_id in seen:
        problems.append(f"{where}: operationId {operation_id!r} is {seen[operation_id]}'s too")
    seen[operation_id] = where
    return problems


def _component_problems(document: dict[str, Any]) -> list[str]:
    schemas = document.get("components", {}).get("schemas", {})
    problems = []
    for name, schema in schemas.items():
        problems += _schema_problems(f"schema {name}", schema, top_level=True, name=name)
    for name in sorted(_response_only_components(document)):
        problems += [
            f"schema {name}: response member {member!r} is not required"
            for member in schemas[name].get("properties", {})
            if member not in schemas[name].get("required", [])
            and (name, member) not in OPTIONAL_IN_RESPONSES
        ]
    return problems


def _undocumented_statuses(where: str, operation: dict[str, Any]) -> list[str]:
    """The statuses an operation surely can answer but does not document: a success, a 401
    where it reads a token, a 422 where it reads input. (schemathesis'
    ``status_code_conformance`` catches the rest at run time.)"""
    statuses = set(operation.get("responses", {}))
    missing = [] if any(status.startswith("2") for status in statuses) else ["a 2xx"]
    if any(requirement for requirement in operation.get("security", [])) and "401" not in statuses:
        missing.append("401")
    reads_input = operation.get("parameters") or operation.get("requestBody")
    if reads_input and "422" not in statuses:
        missing.append("422")
    return [f"{where}: does not document {status}" for status in missing]


def _operation_schema_problems(where: str, operation: dict[str, Any]) -> list[str]:
    problems = []
    for parameter in operation.get("parameters", []):
        problems += _schema_problems(f"{where} {parameter['name']}", parameter.get("schema", {}))
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        problems += _schema_problems(f"{where} body {media_type}", content.get("schema", {}))
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        if status.startswith(("4", "5")) and set(content) != {PROBLEM_MEDIA_TYPE}:
            problems.append(f"{where} {status}: not a problem document")
        for media_type, body in content.items():
            schema = body.get("schema", {})
            problems += _schema_problems(f"{where} {status} {media_type}", schema)
            if schema.get("type") == "object":
                problems.append(f"{where} {status}: an anonymous object; name its model")
    return problems


def _schema_problems(
    where: str, schema: Any, *, top_level: bool = False, name: str = ""
) -> list[str]:
    if not isinstance(schema, dict):
        return []
    problems = []
    if not any(key in schema for key in TYPED):
        problems.append(f"{where}: untyped (any JSON value)")
    if "enum" in schema and len(schema["enum"]) > 1 and not top_level:
        problems.append(f"{where}: inline enum; name it (an enum.StrEnum is a component)")
    if "enum" in schema and "x-enum-varnames" not in schema and _names_collide(schema["enum"]):
        problems.append(f"{where}: values collide as member names; kit.api.schemas.spelled_out")
    if (
        schema.get("type") == "object"
        and "properties" not in schema
        and not isinstance(schema.get("additionalProperties"), dict)
    ):
        problems.append(f"{where}: an object without properties")
    if schema.get("additionalProperties") is True and name not in EXTENSIBLE:
        problems.append(f"{where}: free-form (additionalProperties: true)")
    for member, sub in schema.get("properties", {}).items():
        problems += _schema_problems(f"{where}.{member}", sub)
    for key in ("items", "additionalProperties"):
        problems += _schema_problems(f"{where}[{key}]", schema.get(key))
    for key in COMPOSITIONS:
        for sub in schema.get(key, []):
            problems += _schema_problems(f"{where}", sub)
    return problems


def _names_collide(values: list[Any]) -> bool:
    """Whether generators would name two values alike (``GMT+0``, ``GMT-0`` and ``GMT0``)."""
    names = [re.sub(r"[^A-Z0-9]", "", str(value).upper()) for value in values]
    return len(set(names)) != len(names)


def _response_only_components(document: dict[str, Any]) -> set[str]:
    """The schema components a response refers to, directly or not, and no request does."""
    requests, responses = [], []
    for _, operation in operations(document):
        requests += [parameter.get("schema") for parameter in operation.get("parameters", [])]
        requests.append(operation.get("requestBody"))
        responses.append(operation.get("responses"))
    schemas = document.get("components", {}).get("schemas", {})
    return _reachable(responses, schemas) - _reachable(requests, schemas)


def _reachable(roots: list[Any], schemas: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX):
                name = ref.removeprefix(SCHEMA_REF_PREFIX)
                if name not in found:
                    found.add(name)
                    pending.append(schemas.get(name))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found
