"""The gateway's app factory: ``uvicorn --factory gateway.app:create_app``.

Built on :func:`kit.app.build_service_app` (problems, request ids, body limit, metrics,
health). Its components are identity's JWKS cache, one pooled client per upstream (so
``/readyz`` shows each upstream's health), with ``GATEWAY_RATE_LIMIT_STORAGE_URL`` the
shared rate-limit store (ADR 0012) and, with ``GATEWAY_BUS_ENABLED`` (the default), the
revocation view of identity's events that the token check consults (ADR 0009).
Routes, in matching order: health and metrics, ``/v1/me/home``, the merged
``/openapi.json`` and ``/docs``, then the proxy's catch-all; any other path goes to the
proxy directly (:class:`gateway.proxy.ProxiedFirst`). CORS sits outermost so that
preflights and error answers carry its headers.
"""

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from gateway import aggregate
from gateway.config import GatewaySettings
from gateway.guard import Guard
from gateway.openapi import MergedOpenAPI, install_merged_openapi
from gateway.proxy import CATCH_ALL, ProxiedFirst, Proxy
from gateway.ratelimit import RateLimits, SharedRateLimits
from gateway.routing import PublicRoutes, RouteTable
from gateway.upstream import Upstream
from kit.app import Component, build_service_app
from kit.auth import JwksCache, TokenVerifier
from kit.clock import SYSTEM_CLOCK, Clock
from kit.revocation import attach_revocation_view

DESCRIPTION = (
    "Paddock's public API. Every path is served through the gateway; "
    "errors are RFC 9457 problem documents."
)


def create_app(settings: GatewaySettings | None = None, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """The gateway; ``clock`` (tests pass a fake one) times token expiry and rate limits."""
    settings = settings or GatewaySettings()
    upstreams = {name: _upstream(settings, name) for name in settings.upstreams}
    jwks = JwksCache(settings.jwks_url, clock=clock)
    verifier = TokenVerifier(
        jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience, clock=clock
    )
    table = RouteTable(settings.routes)
    public = PublicRoutes(settings.public_routes)
    limits = _rate_limits(settings, clock)
    guard = Guard(verifier, limits, public)
    components: list[Component] = [jwks, *upstreams.values()]
    if isinstance(limits, SharedRateLimits):  # the store shows in /readyz (ADR 0012)
        components.append(limits)
    if settings.bus_enabled:  # identity's revocations, read from Kafka (ADR 0009)
        components.append(
            attach_revocation_view(
                verifier,
                kafka=settings.kafka,
                service=settings.service_name,
            )
        )

    app = build_service_app(
        settings=settings,
        title="Paddock API",
        routers=[aggregate.router],
        components=components,
        rate_limited=True,
    )
    app.description = DESCRIPTION
    app.state.token_verifier = verifier
    app.state.guard = guard
    app.state.home = aggregate.HomeAggregator(
        upstreams, settings.home_parts, timeout=settings.home_part_timeout
    )
    install_merged_openapi(app, MergedOpenAPI(app.openapi, upstreams, table, public))
    proxy = Proxy(table, upstreams, guard, long_polls=settings.long_poll_seconds)
    app.router.routes.append(Route(CATCH_ALL, proxy))
    # Appended, not added: innermost, inside CORS and kit's middleware (see ProxiedFirst).
    own_routes = [*app.router.routes, *aggregate.router.routes]  # included routers: by hand
    app.user_middleware.append(Middleware(ProxiedFirst, proxy=proxy, routes=own_routes))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=[
            "authorization",
            "content-type",
            "idempotency-key",
            "x-request-id",
            "traceparent",
        ],
        expose_headers=["x-request-id", "retry-after", "location", "www-authenticate"],
        max_age=600,
    )
    return app


def _rate_limits(settings: GatewaySettings, clock: Clock) -> RateLimits:
    """In memory, or in the shared store when ``GATEWAY_RATE_LIMIT_STORAGE_URL`` is set."""
    per_user, per_ip = settings.rate_limit_per_user, settings.rate_limit_per_ip
    if settings.rate_limit_storage_url is None:
        return RateLimits(per_user=per_user, per_ip=per_ip, clock=clock)
    password = settings.rate_limit_storage_password
    return SharedRateLimits(
        per_user=per_user,
        per_ip=per_ip,
        store_url=settings.rate_limit_storage_url,
        password=password.get_secret_value() if password else None,
        timeout=settings.rate_limit_storage_timeout,
        retry_seconds=settings.rate_limit_storage_retry_seconds,
        service=settings.service_name,
        clock=clock,
    )


def _upstream(settings: GatewaySettings, name: str) -> Upstream:
    return Upstream(
        name,
        settings.upstream_url(name),
        connect_timeout=settings.connect_timeout,
        total_timeout=settings.total_timeout,
        pool_size=settings.pool_size,
        keepalive_seconds=settings.keepalive_seconds,
    )
