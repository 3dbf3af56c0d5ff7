"""Forwarding through the gateway to a real upstream server."""

from typing import Any

import httpx

from devstack import LOCALHOST, free_port
from gateway.tests.conftest import CLIENT_IP, SettingsFactory, gateway_client
from gateway.tests.fake_upstream import FORM, PORTAL, PORTAL_COOKIES, PORTAL_SESSION
from kit.testing.tokens import TokenMinter


def _seen(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    echo: dict[str, Any] = response.json()
    echo["headers"] = {name: value for name, value in echo["headers"]}
    return echo


async def test_forwards_method_path_query_and_body(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.patch(
        "/v1/echo/a%20b/c?x=1&x=2&q=%C3%A9",
        content=b'{"name": "Ada"}',
        headers={**minter.headers(), "content-type": "application/json"},
    )
    echo = _seen(response)
    assert echo["method"] == "PATCH"
    assert echo["raw_path"] == "/v1/echo/a%20b/c"
    assert echo["query"] == "x=1&x=2&q=%C3%A9"
    assert echo["body"] == '{"name": "Ada"}'
    assert echo["headers"]["content-type"] == "application/json"


async def test_forwards_the_original_authorization(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    headers = minter.headers()
    echo = _seen(await gateway.get("/v1/echo/x", headers=headers))
    assert echo["headers"]["authorization"] == headers["Authorization"]


async def test_strips_hop_by_hop_headers(gateway: httpx.AsyncClient, minter: TokenMinter) -> None:
    hop = {
        "connection": "keep-alive, x-private-hop",
        "x-private-hop": "1",
        "keep-alive": "timeout=5",
        "te": "trailers",
        "trailer": "x-sum",
        "upgrade": "h2c",
        "proxy-authorization": "Basic abc",
        "x-kept": "yes",
    }
    echo = _seen(await gateway.get("/v1/echo/x", headers={**minter.headers(), **hop}))
    seen = echo["headers"]
    for name in ("x-private-hop", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization"):
        assert name not in seen
    assert seen["x-kept"] == "yes"
    assert seen["host"].startswith(LOCALHOST)
    assert seen["x-forwarded-for"] == CLIENT_IP


async def test_propagates_request_id_and_continues_the_trace(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = await gateway.get(
        "/v1/echo/x",
        headers={**minter.headers(), "x-request-id": "req-123", "traceparent": incoming},
    )
    seen = _seen(response)["headers"]
    assert seen["x-request-id"] == "req-123"
    assert response.headers["x-request-id"] == "req-123"
    version, trace_id, parent_id, flags = seen["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert parent_id != "00f067aa0ba902b7"
    assert len(parent_id) == 16


async def test_mints_request_id_and_trace_when_missing_or_invalid(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.get(
        "/v1/echo/x", headers={**minter.headers(), "traceparent": "01-zz-bad-00"}
    )
    seen = _seen(response)["headers"]
    assert seen["x-request-id"] == response.headers["x-request-id"]
    version, trace_id, parent_id, flags = seen["traceparent"].split("-")
    assert (version, flags) == ("00", "01")
    assert len(trace_id) == 32
    assert int(trace_id, 16)
    assert len(parent_id) == 16


async def test_unknown_path_is_a_404_problem(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_prefixes_match_whole_segments(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/meow")
    assert response.status_code == 404


async def test_dot_segments_are_refused(gateway: httpx.AsyncClient) -> None:
    # httpx removes literal dot segments; encoded ones reach the gateway decoded.
    response = await gateway.post("/v1/auth/%2E%2E/admin/users/1/roles", json={})
    assert response.status_code == 400
    assert response.json()["type"].endswith("path-not-normalised")


async def test_public_route_forwards_without_token(gateway: httpx.AsyncClient) -> None:
    echo = _seen(await gateway.post("/v1/auth/login", json={"email": "a@b.c"}))
    assert echo["method"] == "POST"
    assert "authorization" not in echo["headers"]


async def test_upstream_redirects_pass_through(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.get("/v1/redirect", headers=minter.headers())
    assert response.status_code == 307
    assert response.headers["location"] == "/v1/echo/target"


async def test_a_portal_form_post_comes_back_as_its_303_and_cookies_unchanged(
    gateway: httpx.AsyncClient,
) -> None:
    """The partner portal (webhooks) is HTML with a cookie session of its own, without a
    token: its 303 is the browser's to follow, not the gateway's, and every Set-Cookie
    reaches the browser with its attributes."""
    form = await gateway.get(f"{PORTAL}/login")
    assert form.status_code == 200
    assert form.headers["content-type"].startswith("text/html")
    signed_in = await gateway.post(
        f"{PORTAL}/login",
        content=b"client_id=pa_1&client_secret=s%26cret",
        headers={"content-type": FORM},
    )
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == PORTAL
    assert signed_in.headers.get_list("set-cookie") == list(PORTAL_COOKIES)
    home = await gateway.get(
        PORTAL, headers={"cookie": f"{PORTAL_SESSION}=s3ss10n; portal_csrf=c5rf"}
    )
    assert home.status_code == 200
    assert "session s3ss10n" in home.text
    signed_out = await gateway.get(PORTAL)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == f"{PORTAL}/login"


async def test_a_portal_form_body_and_cookies_are_forwarded_byte_for_byte(
    gateway: httpx.AsyncClient,
) -> None:
    body = (
        "url=https%3A%2F%2Fdealer.example%2Fhooks%3Fa%3D1%26b%3D2"
        "&types=a.b.v1&types=c.d.v1&csrf=c5rf&note=caf%C3%A9+%2B+more"
    )
    cookie = f"{PORTAL_SESSION}=s3ss10n; portal_csrf=c5rf"
    echo = _seen(
        await gateway.post(
            f"{PORTAL}/echo",
            content=body.encode(),
            headers={"content-type": f"{FORM}; charset=utf-8", "cookie": cookie},
        )
    )
    assert echo["body"] == body
    assert echo["headers"]["content-type"] == f"{FORM}; charset=utf-8"
    assert echo["headers"]["cookie"] == cookie
    assert "authorization" not in echo["headers"]


async def test_upstream_problem_passes_through_unchanged(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    response = await gateway.get("/v1/me", headers=minter.headers(roles=["banned"]))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://paddock.dev/problems/forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "banned",
        "instance": "/v1/me",
    }


async def test_upstream_down_is_a_503_naming_it(settings_for: SettingsFactory) -> None:
    """Connection refused is 503 at once; a 504 here would mean it waited for the timeout."""
    settings = settings_for(upstreams={"identity": f"http://{LOCALHOST}:{free_port()}"})
    async with gateway_client(settings) as client:
        response = await client.post("/v1/auth/login", json={})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/upstream-unavailable")
    assert (problem["status"], problem["upstream"]) == (503, "identity")
    assert problem["detail"] == "identity: unavailable"


async def test_slow_upstream_is_a_504_instead_of_its_late_answer(
    gateway: httpx.AsyncClient, minter: TokenMinter
) -> None:
    """The upstream answers 200 after 3 s; the gateway's 0.5 s total timeout answers first."""
    response = await gateway.get("/v1/slow", headers=minter.headers())
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/upstream-timeout")
    assert (problem["status"], problem["upstream"]) == (504, "identity")
    assert problem["detail"] == "identity: timed out"


async def test_a_long_poll_route_waits_past_the_total_timeout(
    settings_for: SettingsFactory, minter: TokenMinter
) -> None:
    """A prefix in ``long_poll_seconds`` (queue tickets long-poll 30 s) gets its own limit:
    the 3 s answer arrives through the 0.5 s total timeout (which, for every other route,
    answers 504 first: the test above)."""
    settings = settings_for(long_poll_seconds={"/v1/slow": 5.0})
    async with gateway_client(settings) as gateway:
        response = await gateway.get("/v1/slow", headers=minter.headers())
        assert response.status_code == 200, response.text


async def test_readyz_shows_each_upstream(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/readyz")
    assert response.status_code == 200  # one upstream down degrades, the rest is served
    assert response.json()["status"] == "degraded"
    checks = response.json()["checks"]
    assert checks["upstream:identity"] == "ok"
    assert checks["jwks"] == "ok"
    assert checks["upstream:events"].startswith("failing")


async def test_cors_preflight_for_configured_origins(settings_for: SettingsFactory) -> None:
    origin = "https://app.paddock.example"
    async with gateway_client(settings_for(cors_origins=[origin])) as client:
        allowed = await client.options(
            "/v1/me",
            headers={
                "origin": origin,
                "access-control-request-method": "PATCH",
                "access-control-request-headers": "authorization",
            },
        )
        refused = await client.options(
            "/v1/me",
            headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in refused.headers
