"""A stand-in upstream: echoes what it receives, serves a JWKS, a profile, a wallet, a
referral summary, a slow endpoint and a problem, so the gateway can be tested without the
real services."""

import asyncio
from typing import Any

import jwt
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from kit.problems import problem_response

BANNED_ROLE = "banned"
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

    return app


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
