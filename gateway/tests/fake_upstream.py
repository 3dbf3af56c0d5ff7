"""A stand-in upstream: echoes what it receives, serves a JWKS, a profile, a wallet, a
referral summary, a slow endpoint, a problem, a webhook key set and a partner portal
(HTML pages outside the OpenAPI document, a cookie session, a form post answered with a 303),
so the gateway can be tested without the real services."""

import asyncio
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from kit.problems import problem_response

BANNED_ROLE = "banned"
FORM = "application/x-www-form-urlencoded"
PORTAL = "/v1/partners/portal"
PORTAL_SESSION = "portal_session"
PORTAL_COOKIES = (
    f"{PORTAL_SESSION}=s3ss10n; Path={PORTAL}; HttpOnly; Secure; SameSite=Lax; Max-Age=3600",
    f"portal_csrf=c5rf; Path={PORTAL}; Secure; SameSite=Strict",
)
WEBHOOK_KEYS: dict[str, list[dict[str, str]]] = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": "wh-1",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        }
    ]
}
REFERRAL_SUMMARY: dict[str, str | int] = {
    "code": "FAN7Q2",
    "link": "https://paddock.example/r/FAN7Q2",
    "leads": 5,
    "test_drives": 3,
    "orders": 2,
    "deliveries": 1,
    "approved": 1,
    "pending": 0,
}


def fake_upstream(jwks: dict[str, Any]) -> FastAPI:
    app = FastAPI(title="fake upstream")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        app.add_api_route(
            "/v1/echo/{rest:path}", _echo, methods=[method], operation_id=f"echo_{method}"
        )

    @app.post("/v1/auth/login")
    async def login(request: Request) -> dict[str, Any]:
        return await _echo(request)

    @app.get("/v1/me")
    async def me(request: Request) -> Response:
        claims = _claims(request)
        if BANNED_ROLE in claims.get("roles", []):
            return problem_response(403, detail="banned", code="forbidden", instance="/v1/me")
        return JSONResponse(
            {
                "id": claims["sub"],
                "display_name": "Fan",
                "email": "fan@example.com",
                "bio": None,
                "city": None,
                "avatar_url": None,
                "roles": ["fan"],
                "created_at": "2026-01-01T00:00:00Z",
            }
        )

    @app.get("/v1/me/wallet")
    async def wallet() -> dict[str, int]:
        return {"points": 42, "community_value": 7}

    @app.get("/v1/me/referrals/summary")
    async def referral_summary() -> dict[str, str | int]:
        return REFERRAL_SUMMARY

    @app.get("/v1/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"status": "late"}

    @app.get("/v1/redirect")
    async def redirect() -> Response:
        return Response(status_code=307, headers={"location": "/v1/echo/target"})

    @app.get("/v1/webhook-keys")
    async def webhook_keys() -> dict[str, list[dict[str, str]]]:
        return WEBHOOK_KEYS

    _portal(app)
    return app


def _portal(app: FastAPI) -> None:
    """The portal as webhooks serves it: HTML routes left out of the OpenAPI document."""

    @app.get(PORTAL, include_in_schema=False)
    async def portal_home(request: Request) -> Response:
        session = request.cookies.get(PORTAL_SESSION)
        if session is None:
            return Response(status_code=303, headers={"location": f"{PORTAL}/login"})
        return HTMLResponse(f"<h1>Endpoints</h1><p>session {session}</p>")

    @app.get(f"{PORTAL}/login", include_in_schema=False)
    async def portal_login_form() -> HTMLResponse:
        return HTMLResponse(
            f'<form method="post" action="{PORTAL}/login"><input name="client_id"></form>'
        )

    @app.post(f"{PORTAL}/login", include_in_schema=False)
    async def portal_login(request: Request) -> Response:
        """Signed in: the session cookies, then See Other to the portal's home page."""
        form = parse_qs((await request.body()).decode(), strict_parsing=True)
        if request.headers.get("content-type") != FORM or form.get("client_id") != ["pa_1"]:
            return HTMLResponse("<p>wrong client id or secret</p>", status_code=400)
        response = Response(status_code=303, headers={"location": PORTAL})
        for cookie in PORTAL_COOKIES:
            response.headers.append("set-cookie", cookie)
        return response

    app.add_api_route(f"{PORTAL}/echo", _echo, methods=["POST"], include_in_schema=False)


async def _echo(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.url.path,
        "raw_path": request.scope["raw_path"].decode(),
        "query": request.url.query,
        "body": (await request.body()).decode(),
        "headers": [[name, value] for name, value in request.headers.items()],
    }


def _claims(request: Request) -> dict[str, Any]:
    token = request.headers["authorization"].removeprefix("Bearer ")
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
