"""The partner portal: server-rendered pages (Jinja2, no JavaScript) on which one partner
signs in with its portal key and does for its own endpoints what admins do in :mod:`.api`:
adds one (its signing secret shown once), reads its delivery log, rotates its secret, sends
a test event, replays, enables it again; and reads the event types it may subscribe to.

This module owns the portal's session and what keeps one partner to its own:

* the cookie ``paddock_portal`` (HttpOnly, SameSite=Strict, ``Path=/v1/partners/portal``,
  Secure unless ``WEBHOOKS_PORTAL_SECURE_COOKIE`` is off, as long as the session) holds a
  random token; its :class:`PortalSession` row holds the token's SHA-256, the partner and
  the CSRF token. The partner is read on every request: a suspended partner's sessions stop
  working, and so does every session begun before an admin last changed the partner (a
  rotated portal key signs out whoever signed in with the old one);
* every POST carries the session's CSRF token in a hidden ``csrf`` field (compared in
  constant time, 403 otherwise) and answers 303 See Other (Post/Redirect/Get);
* every endpoint is looked up among the signed-in partner's own (``endpoints.get`` with
  ``partner_id``), so another partner's endpoint is the not-found page, as one that does not
  exist; a message replayed must be one of that endpoint's deliveries;
* a new signing secret is shown once: the POST that makes it seals it (:class:`SecretBox`)
  into a short-lived cookie bound to the session and the endpoint, scoped to the one page
  it redirects to, and that page shows it and clears the cookie;
* every page goes out with a Content-Security-Policy that allows no script, no frame and
  forms only to the portal's origin, and ``Cache-Control: no-store`` (secrets are shown).

Portal actions are audited with the partner as the actor (``portal.<verb>``). The routes
are not in the OpenAPI document: they are pages, not an API.
"""

import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from cryptography.fernet import InvalidToken
from fastapi import APIRouter, Depends, Form, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import delete
from sqlmodel import col

from kit.api.pagination import PageParams
from kit.app import app_state
from kit.audit import record_action
from kit.db import SessionDep, utcnow
from kit.problems import NotFound, Problem
from services.webhooks.config import WebhooksSettings
from services.webhooks.models import (
    NAME_MAX,
    URL_MAX,
    DeliveryStatus,
    Endpoint,
    EndpointStatus,
    Partner,
    PartnerStatus,
    PortalSession,
    Signing,
)
from services.webhooks.schemas import PATTERN
from services.webhooks.service import deliveries, documentation, endpoints, partners
from services.webhooks.service.endpoints import NewSecret
from services.webhooks.service.event_types import MAX_PATTERNS, PARTNER_EVENTS
from services.webhooks.service.secrets import SecretBox, digest
from services.webhooks.service.targets import Resolver, TargetPolicy

PREFIX = "/v1/partners/portal"
COOKIE = "paddock_portal"
SECRET_COOKIE = "paddock_portal_secret"
SECRET_SHOWN_SECONDS = 300
"""How long a new secret waits to be shown on the page its POST redirects to."""
TOKEN_BYTES = 32
ENDPOINTS_SHOWN = 50
DELIVERIES_SHOWN = 20
ATTEMPTS_SHOWN = 10
CREDENTIAL_MAX = 200
MESSAGE_ID = re.compile(r"msg_[0-9a-f]{32}")
SIGN_IN_REFUSED = "Those credentials do not sign in to the portal."
"""The same for a wrong slug, a wrong key and a suspended partner: it never says which."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOTICES = {
    "test": "A test event is queued.",
    "replay": "Queued again: {queued}.",
    "enable": "The endpoint is enabled.",
}

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["prefix"] = PREFIX


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


templates.env.filters["when"] = _when

Settings = Annotated[WebhooksSettings, app_state("settings")]
Box = Annotated[SecretBox, app_state("secret_box")]
Policy = Annotated[TargetPolicy, app_state("target_policy")]
Names = Annotated[Resolver | None, app_state("resolver")]


class SignInRequired(Exception):
    """No live session: the sign-in page."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


# --- the pages' route: errors as pages, the security headers on every answer -----------


class PortalRoute(APIRoute):
    """Answers what the portal refuses as pages (not problem documents) and adds
    :data:`SECURITY_HEADERS` to every response of the portal."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = _redirect(PREFIX)
            except CsrfRefused:
                response = _error(request, status.HTTP_403_FORBIDDEN, "This form has expired.")
            except NotFound:
                response = _not_found(request)
            except RequestValidationError as invalid:
                if any(error.get("loc", ("",))[0] == "path" for error in invalid.errors()):
                    response = _not_found(request)
                else:
                    response = _error(request, 422, "The form is not filled in right.")
            except Problem as problem:
                response = _error(request, problem.status, problem.detail)
            response.headers.update(SECURITY_HEADERS)
            return response

        return portal_handler


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=PortalRoute)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _error(request: Request, status_code: int, message: str) -> Response:
    return _page(request, "error.html", {"status": status_code, "message": message}, status_code)


def _not_found(request: Request) -> Response:
    return _page(request, "not_found.html", {}, status.HTTP_404_NOT_FOUND)


# --- the session -------------------------------------------------------------------------


@dataclass(frozen=True)
class Portal:
    """The signed-in partner and its session (the CSRF token its forms carry)."""

    partner: Partner
    session: PortalSession

    @property
    def context(self) -> dict[str, Any]:
        return {"partner": self.partner, "csrf": self.session.csrf_token}


async def _live_session(request: Request, session: SessionDep) -> Portal | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > CREDENTIAL_MAX:
        return None
    row = await session.get(PortalSession, digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    partner = await session.get(Partner, row.partner_id)
    if (
        partner is None
        or partner.status != PartnerStatus.ACTIVE
        or row.created_at < partner.updated_at
    ):
        return None
    return Portal(partner, row)


async def _signed_in(request: Request, session: SessionDep) -> Portal:
    portal = await _live_session(request, session)
    if portal is None:
        raise SignInRequired()
    return portal


SignedIn = Annotated[Portal, Depends(_signed_in)]


async def _posted(portal: SignedIn, csrf: Annotated[str, Form()] = "") -> Portal:
    expected = portal.session.csrf_token.encode()
    if not hmac.compare_digest(csrf.encode(), expected):
        raise CsrfRefused()
    return portal


Posted = Annotated[Portal, Depends(_posted)]
"""A signed-in partner's POST, carrying the session's CSRF token."""


def _set_cookie(response: Response, settings: WebhooksSettings, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.portal_session_seconds,
        path=PREFIX,
        secure=settings.portal_secure_cookie,
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(response: Response, settings: WebhooksSettings, name: str, path: str) -> None:
    response.delete_cookie(
        name, path=path, secure=settings.portal_secure_cookie, httponly=True, samesite="strict"
    )


@router.get("")
async def sign_in_page(request: Request, session: SessionDep) -> Response:
    if await _live_session(request, session) is not None:
        return _redirect(f"{PREFIX}/endpoints")
    return _page(request, "sign_in.html", {"slug": "", "error": None})


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: SessionDep,
    settings: Settings,
    partner: Annotated[str, Form()] = "",
    portal_key: Annotated[str, Form()] = "",
) -> Response:
    found = None
    if len(partner) <= CREDENTIAL_MAX and len(portal_key) <= CREDENTIAL_MAX:
        found = await partners.sign_in(session=session, slug=partner, portal_key=portal_key)
    if found is None:
        context = {"slug": partner[:CREDENTIAL_MAX], "error": SIGN_IN_REFUSED}
        return _page(request, "sign_in.html", context, status.HTTP_401_UNAUTHORIZED)
    now = utcnow()
    previous = request.cookies.get(COOKIE)
    stale = col(PortalSession.partner_id) == found.id, col(PortalSession.expires_at) <= now
    await session.execute(delete(PortalSession).where(*stale))
    if previous and len(previous) <= CREDENTIAL_MAX:
        await session.execute(
            delete(PortalSession).where(col(PortalSession.token_hash) == digest(previous))
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        PortalSession(
            token_hash=digest(token),
            partner_id=found.id,
            csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
            expires_at=now + timedelta(seconds=settings.portal_session_seconds),
            created_at=now,
        )
    )
    record_action(session, actor=found.id, action="portal.sign_in", subject=found.id)
    response = _redirect(f"{PREFIX}/endpoints")
    _set_cookie(response, settings, token)
    return response


@router.post("/sign-out")
async def sign_out(portal: Posted, session: SessionDep, settings: Settings) -> Response:
    await session.delete(portal.session)
    record_action(
        session, actor=portal.partner.id, action="portal.sign_out", subject=portal.partner.id
    )
    response = _redirect(PREFIX)
    _clear_cookie(response, settings, COOKIE, PREFIX)
    return response


# --- endpoints ---------------------------------------------------------------------------


@dataclass
class EndpointForm:
    """What the "add endpoint" form was filled in with (shown again when it is refused)."""

    url: str = ""
    description: str = ""
    event_types: tuple[str, ...] = ()
    patterns: str = ""
    signing: str = Signing.HMAC
    ordered: bool = False

    def chosen(self) -> list[str]:
        return [*self.event_types, *re.split(r"[\s,]+", self.patterns.strip())]

    def problem(self) -> str | None:
        """What is wrong before the service is asked (which checks the URL and patterns)."""
        chosen = [pattern for pattern in self.chosen() if pattern]
        if not self.url.strip():
            return "Give the endpoint's URL."
        if len(self.url) > URL_MAX:
            return f"The URL is longer than {URL_MAX} characters."
        if len(self.description) > NAME_MAX:
            return f"The description is longer than {NAME_MAX} characters."
        if self.signing not in tuple(Signing):
            return "Choose HMAC or Ed25519 signing."
        if not chosen:
            return "Choose at least one event type or pattern."
        if len(set(chosen)) > MAX_PATTERNS:
            return f"At most {MAX_PATTERNS} event types and patterns."
        for pattern in chosen:
            if len(pattern) > 200 or not re.fullmatch(PATTERN, pattern):
                return f"{pattern!r} is not an event type or a pattern ending in .*"
        return None


def _endpoints_page(
    request: Request,
    portal: Portal,
    found: list[Endpoint],
    cursor: str | None,
    form: EndpointForm,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        **portal.context,
        "endpoints": found,
        "next_cursor": cursor,
        "form": form,
        "error": error,
        "partner_events": PARTNER_EVENTS,
        "signings": list(Signing),
    }
    return _page(request, "endpoints.html", context, status_code)


async def _listing(
    session: SessionDep, portal: Portal, cursor: str | None
) -> tuple[list[Endpoint], str | None]:
    page = PageParams(cursor=cursor, limit=ENDPOINTS_SHOWN)
    return await endpoints.listing(session=session, partner_id=portal.partner.id, page=page)


@router.get("/endpoints")
async def endpoints_page(
    request: Request,
    portal: SignedIn,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    found, next_cursor = await _listing(session, portal, cursor)
    return _endpoints_page(request, portal, found, next_cursor, EndpointForm())


@router.post("/endpoints")
async def add_endpoint(
    request: Request,
    portal: Posted,
    session: SessionDep,
    settings: Settings,
    box: Box,
    policy: Policy,
    names: Names,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    event_types: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    patterns: Annotated[str, Form()] = "",
    signing: Annotated[str, Form()] = Signing.HMAC,
    ordered: Annotated[str, Form()] = "",
) -> Response:
    form = EndpointForm(
        url=url.strip(),
        description=description.strip(),
        event_types=tuple(event_types),
        patterns=patterns,
        signing=signing,
        ordered=bool(ordered),
    )
    problem = form.problem()
    if problem is None:
        try:
            endpoint, secret = await endpoints.create(
                session=session,
                box=box,
                policy=policy,
                resolver=names,
                partner_id=portal.partner.id,
                url=form.url,
                description=form.description,
                event_types=[pattern for pattern in form.chosen() if pattern],
                signing=Signing(form.signing),
                ordered=form.ordered,
                max_in_flight=10,
                rate_per_second=None,
            )
        except (endpoints.UnsafeTarget, endpoints.UnknownEventTypes) as refused:
            problem = refused.detail
        else:
            record_action(
                session, actor=portal.partner.id, action="portal.create", subject=endpoint.id
            )
            return _show_secret(portal, settings, box, endpoint, secret)
    found, next_cursor = await _listing(session, portal, None)
    return _endpoints_page(
        request, portal, found, next_cursor, form, problem, status.HTTP_422_UNPROCESSABLE_CONTENT
    )


def _secret_path(endpoint_id: uuid.UUID) -> str:
    return f"{PREFIX}/endpoints/{endpoint_id}/secret"


def _show_secret(
    portal: Portal, settings: WebhooksSettings, box: SecretBox, endpoint: Endpoint, new: NewSecret
) -> Response:
    """Redirect to the page that shows ``new`` once, sealed in a cookie only it is sent."""
    sealed = box.seal(
        json.dumps(
            {
                "session": portal.session.token_hash,
                "endpoint": str(endpoint.id),
                "key_id": str(new.key_id),
                "kind": str(new.kind),
                "secret": new.secret,
                "public_key": new.public_key,
                "at": time.time(),
            }
        )
    )
    response = _redirect(_secret_path(endpoint.id))
    response.set_cookie(
        SECRET_COOKIE,
        sealed,
        max_age=SECRET_SHOWN_SECONDS,
        path=_secret_path(endpoint.id),
        secure=settings.portal_secure_cookie,
        httponly=True,
        samesite="strict",
    )
    return response


def _unsealed(box: SecretBox, sealed: str | None, portal: Portal, endpoint: Endpoint) -> Any:
    if not sealed:
        return None
    try:
        shown = json.loads(box.open(sealed))
    except (InvalidToken, ValueError):
        return None
    fresh = time.time() - float(shown.get("at", 0)) < SECRET_SHOWN_SECONDS
    mine = hmac.compare_digest(str(shown.get("session")), portal.session.token_hash)
    return shown if fresh and mine and shown.get("endpoint") == str(endpoint.id) else None


async def _own_endpoint(session: SessionDep, portal: Portal, endpoint_id: uuid.UUID) -> Endpoint:
    """The partner's endpoint ``endpoint_id``; another partner's is not found."""
    return await endpoints.get(
        session=session, endpoint_id=endpoint_id, partner_id=portal.partner.id
    )


@router.get("/endpoints/{endpoint_id}/secret")
async def secret_page(
    request: Request,
    endpoint_id: uuid.UUID,
    portal: SignedIn,
    session: SessionDep,
    settings: Settings,
    box: Box,
) -> Response:
    endpoint = await _own_endpoint(session, portal, endpoint_id)
    shown = _unsealed(box, request.cookies.get(SECRET_COOKIE), portal, endpoint)
    response = _page(
        request, "secret.html", {**portal.context, "endpoint": endpoint, "shown": shown}
    )
    _clear_cookie(response, settings, SECRET_COOKIE, _secret_path(endpoint.id))
    return response


@router.get("/endpoints/{endpoint_id}")
async def endpoint_page(
    request: Request,
    endpoint_id: uuid.UUID,
    portal: SignedIn,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
    queued: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    endpoint = await _own_endpoint(session, portal, endpoint_id)
    keys = await endpoints.key_ids(session=session, endpoint_id=endpoint.id)
    rows, next_cursor = await deliveries.listing(
        session=session,
        endpoint_id=endpoint.id,
        page=PageParams(cursor=cursor, limit=DELIVERIES_SHOWN),
    )
    log = []
    for delivery, event_type in rows:
        attempts, _ = await deliveries.attempts(
            session=session,
            endpoint_id=endpoint.id,
            page=PageParams(cursor=None, limit=ATTEMPTS_SHOWN),
            message_id=delivery.message_id,
        )
        pending = delivery.status == DeliveryStatus.PENDING
        log.append(
            {
                "delivery": delivery,
                "event_type": event_type,
                "next_attempt_at": delivery.next_attempt_at if pending else None,
                "attempts": attempts,
            }
        )
    notice = NOTICES[done].format(queued=queued) if done in NOTICES else None
    context = {
        **portal.context,
        "endpoint": endpoint,
        "disabled": endpoint.status == EndpointStatus.DISABLED,
        "keys": keys,
        "log": log,
        "next_cursor": next_cursor,
        "notice": notice,
    }
    return _page(request, "endpoint.html", context)


def _back_to(endpoint: Endpoint, done: str, **query: int) -> Response:
    extra = "".join(f"&{name}={value}" for name, value in query.items())
    return _redirect(f"{PREFIX}/endpoints/{endpoint.id}?done={done}{extra}")


@router.post("/endpoints/{endpoint_id}/rotate")
async def rotate(
    endpoint_id: uuid.UUID, portal: Posted, session: SessionDep, settings: Settings, box: Box
) -> Response:
    """A new signing key, shown once; the current one keeps signing through the overlap."""
    endpoint = await _own_endpoint(session, portal, endpoint_id)
    secret = await endpoints.rotate_secret(
        session=session,
        box=box,
        endpoint=endpoint,
        overlap_seconds=settings.rotation_overlap_seconds,
    )
    record_action(session, actor=portal.partner.id, action="portal.rotate", subject=endpoint.id)
    return _show_secret(portal, settings, box, endpoint, secret)


@router.post("/endpoints/{endpoint_id}/test")
async def send_test(endpoint_id: uuid.UUID, portal: Posted, session: SessionDep) -> Response:
    endpoint = await _own_endpoint(session, portal, endpoint_id)
    message_id = await deliveries.send_test(session=session, endpoint=endpoint, now=utcnow())
    record_action(
        session,
        actor=portal.partner.id,
        action="portal.test",
        subject=endpoint.id,
        message_id=message_id,
    )
    return _back_to(endpoint, "test")


@router.post("/endpoints/{endpoint_id}/replay")
async def replay(
    endpoint_id: uuid.UUID,
    portal: Posted,
    session: SessionDep,
    message_id: Annotated[str, Form()] = "",
) -> Response:
    """One message again (with its ``webhook-id``), or, without one, every exhausted one."""
    endpoint = await _own_endpoint(session, portal, endpoint_id)
    if message_id:
        if not MESSAGE_ID.fullmatch(message_id):
            raise deliveries.MessageNotFound()
        await deliveries.delivery(session=session, endpoint_id=endpoint.id, message_id=message_id)
    queued = await deliveries.replay(
        session=session,
        endpoint_id=endpoint.id,
        now=utcnow(),
        message_id=message_id or None,
        exhausted_only=not message_id,
    )
    record_action(
        session,
        actor=portal.partner.id,
        action="portal.replay",
        subject=endpoint.id,
        message_id=message_id or None,
        exhausted_only=not message_id,
        queued=queued,
    )
    return _back_to(endpoint, "replay", queued=queued)


@router.post("/endpoints/{endpoint_id}/enable")
async def enable(endpoint_id: uuid.UUID, portal: Posted, session: SessionDep) -> Response:
    endpoint = await _own_endpoint(session, portal, endpoint_id)
    endpoints.enable(session=session, endpoint=endpoint, now=utcnow(), actor=None)
    record_action(session, actor=portal.partner.id, action="portal.enable", subject=endpoint.id)
    return _back_to(endpoint, "enable")


# --- documentation -----------------------------------------------------------------------


@router.get("/event-types")
async def event_types_page(request: Request, portal: SignedIn) -> Response:
    items = [
        {
            **item,
            "example_json": _indented(item["example"]),
            "schema_json": _indented(item["data_schema"]),
        }
        for item in documentation.documented()
    ]
    return _page(request, "event_types.html", {**portal.context, "items": items})


def _indented(document: str) -> str:
    return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
