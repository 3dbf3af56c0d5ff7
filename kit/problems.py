"""RFC 9457 problem documents: the one shape every error takes on the wire.

Domain code raises :class:`Problem` (or a subclass); the handlers installed by
:func:`install_problem_handlers` turn it, FastAPI's validation errors and Starlette's
HTTP errors into ``application/problem+json`` responses.
"""

import errno
import socket
from http import HTTPStatus
from typing import Any

from asyncpg.exceptions import CannotConnectNowError, PostgresConnectionError, PostgresError
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://paddock.dev/problems/"


class FieldError(BaseModel):
    """One input that broke the request's schema: where it is and what is wrong with it."""

    loc: list[str | int] = Field(
        description='where the input is: ``["body", "password"]``, ``["query", "limit"]``'
    )
    msg: str = Field(description="what is wrong with it, in English")
    type: str = Field(description="a stable code for the rule broken: ``string_too_short``")


class ProblemDocument(BaseModel):
    """The RFC 9457 body, as documented in OpenAPI for every error response. Extension
    members may follow (``checks`` on a readiness 503); a 422 for a body, query, path or
    header that breaks its schema names each input at fault in ``errors``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description=f"``{PROBLEM_TYPE_BASE}<code>``, or ``about:blank``")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = Field(description="what went wrong, for a person to read")
    instance: str = Field(description="the path of the request that failed")
    errors: list[FieldError] = Field(
        default_factory=list,
        description="on a 422 for input at fault (``validation-error``, or a rule the schema "
        "cannot say, such as ``weak-password``): each input and why; absent otherwise",
    )


class Problem(Exception):
    """An error the client can act on, rendered as a problem document.

    ``commit=True`` marks a refusal whose cause must stay recorded (a failed login counted,
    a reused refresh token's family revoked): the unit of work commits before it answers.
    """

    status: int = 400
    code: str = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        commit: bool = False,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.code = code or self.code
        self.headers = headers or {}
        self.commit = commit
        self.extensions = extensions


class NotFound(Problem):
    status, code = 404, "not-found"


class Conflict(Problem):
    status, code = 409, "conflict"


class Forbidden(Problem):
    status, code = 403, "forbidden"


class Unauthorized(Problem):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str = "missing or invalid credentials", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class TooManyRequests(Problem):
    status, code = 429, "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **kwargs)


def problem_response(
    status: int,
    *,
    instance: str,
    detail: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Build an ``application/problem+json`` response (``detail`` defaults to the title)."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_BASE}{code}" if code else "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": instance,
    }
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def answer_problem(problem: "Problem", *, instance: str) -> JSONResponse:
    """The problem document answering ``problem`` raised while serving ``instance``; what the
    app's exception handler sends, for pure-ASGI code that runs past it (the gateway's proxy)."""
    return problem_response(
        problem.status,
        detail=problem.detail,
        code=problem.code,
        instance=instance,
        headers=problem.headers,
        **problem.extensions,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return answer_problem(exc, instance=request.url.path)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
    return problem_response(
        422,
        detail="the request does not match the expected schema",
        code="validation-error",
        instance=request.url.path,
        errors=errors,
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem_response(
        exc.status_code,
        detail=str(exc.detail) if exc.detail else None,
        code=HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-"),
        instance=request.url.path,
        headers=headers,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path. (Starlette's 405 names only
    the methods of the first route whose path matched, while a path like
    ``/v1/signups/{id}`` has a GET route and a DELETE route.)"""
    methods: set[str] = set()
    for route in routing.iter_route_contexts(request.app.router.routes):
        route_methods = route.methods
        path_regex = getattr(route, "path_regex", None)
        if route_methods and path_regex is not None and path_regex.match(request.url.path):
            methods.update(route_methods)
    return sorted(methods)


DATA_EXCEPTION_CLASS = "22"  # SQLSTATE class "data exception": the input, not the server
# SQLSTATEs of a database that is away: class 08 (connection exception), and 57P01..57P03
# (terminated by an administrator, crash shutdown, cannot connect now: a restart).
UNAVAILABLE_CLASS = "08"
UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03"})
DATABASE_RETRY_AFTER_SECONDS = 2
NETWORK_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
)


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, connection
    lost), as opposed to refusing a statement. SQLAlchemy wraps driver errors in
    ``DBAPIError`` (``.orig``, with asyncpg's ``sqlstate``) and flags lost connections with
    ``connection_invalidated``; when the pool cannot connect at all, asyncpg's socket error
    (``ConnectionRefusedError``, an ``OSError``) reaches the caller unwrapped."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return is_database_unavailable(exc.orig) if exc.orig is not None else False
    if isinstance(exc, OSError):  # refused, reset, unreachable, timed out while connecting
        return isinstance(exc, ConnectionError | TimeoutError | socket.gaierror) or (
            exc.errno in NETWORK_ERRNOS
        )
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    return sqlstate.startswith(UNAVAILABLE_CLASS) or sqlstate in UNAVAILABLE_STATES


def _unavailable(request: Request) -> JSONResponse:
    return problem_response(
        503,
        detail="the database is unavailable; try again shortly",
        code="database-unavailable",
        instance=request.url.path,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL refuses to store or compare (a NUL character, a number out of
    range) is the client's input: 422, and the unit of work has rolled back. A database
    that is away (connection-class errors) answers 503 with ``Retry-After``: it heals.
    ``exc`` is SQLAlchemy's wrapper, or asyncpg's own error (:mod:`kit.db.direct`)."""
    assert isinstance(exc, DBAPIError | PostgresError)
    if is_database_unavailable(exc):
        return _unavailable(request)
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = str(getattr(driver_error, "sqlstate", "") or "")
    if sqlstate.startswith(DATA_EXCEPTION_CLASS):
        return problem_response(
            422,
            detail="a value in the request cannot be stored or compared",
            code="invalid-value",
            instance=request.url.path,
        )
    raise exc  # a server fault: to the unhandled-error path, which logs it


async def _on_connection_error(request: Request, exc: Exception) -> JSONResponse:
    """A connection the pool could not open (asyncpg's ``OSError`` or ``CannotConnectNowError``,
    not wrapped by SQLAlchemy), or a pool that timed out waiting: 503 with ``Retry-After``."""
    if isinstance(exc, PoolTimeout) or is_database_unavailable(exc):
        return _unavailable(request)
    raise exc


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        500, detail="internal error", code="internal-error", instance=request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PostgresError, _on_database_error)
    for unwrapped in (OSError, PostgresConnectionError, CannotConnectNowError, PoolTimeout):
        app.add_exception_handler(unwrapped, _on_connection_error)
    app.add_exception_handler(Exception, _on_unhandled)


PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/ProblemDocument"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries: a problem document (and only that) for ``statuses``."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA_REF}},
        }
        for status in statuses
    }
