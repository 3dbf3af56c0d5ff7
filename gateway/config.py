"""Gateway settings (env prefix ``GATEWAY_``): upstreams, the route table, limits, CORS.

Adding a service is one line in :data:`DEFAULT_ROUTES` (path prefix → service name) plus
its base URL in ``GATEWAY_UPSTREAMS`` (``make run`` passes it). Both can be replaced
wholesale from the environment as JSON (``GATEWAY_ROUTES``, ``GATEWAY_UPSTREAMS``).
"""

import enum
import logging
from typing import Self

import limits
from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings

log = logging.getLogger(__name__)

DEFAULT_ROUTES: dict[str, str] = {
    "/v1/auth": "identity",
    "/v1/me": "identity",
    "/v1/users": "identity",
    "/v1/admin/users": "identity",
    "/v1/admin/vehicles": "identity",
    "/.well-known/jwks.json": "identity",
    "/v1/venues": "events",
    "/v1/events": "events",
    "/v1/signups": "events",
    "/v1/me/signups": "events",
    "/v1/tickets": "events",
    "/v1/offers": "events",
    "/v1/me/offers": "events",
    "/v1/penalties": "events",
    "/v1/me/penalties": "events",
    "/v1/checkin-lists": "events",
    "/v1/posts": "content",
    "/v1/feed": "content",
    "/v1/comments": "content",
    "/v1/profiles": "content",
    "/v1/me/bookmarks": "content",
    "/v1/circles": "content",
    "/v1/reports": "content",
    "/v1/moderation": "content",
    "/v1/polls": "content",
    "/v1/search": "content",
    "/v1/me/wallet": "rewards",
    "/v1/me/ledger": "rewards",
    "/v1/me/expiring": "rewards",
    "/v1/me/checkins": "rewards",
    "/v1/me/gifts": "rewards",
    "/v1/me/orders": "rewards",
    "/v1/me/tier": "rewards",
    "/v1/me/timezone": "rewards",
    "/v1/me/rank": "rewards",
    "/v1/mall": "rewards",
    "/v1/rewards": "rewards",
    "/v1/leaderboards": "rewards",
    "/v1/club": "rewards",
    "/v1/me/referral-code": "referrals",
    "/v1/me/referrals": "referrals",
    "/v1/me/referrer": "referrals",
    "/v1/referrals": "referrals",
    "/v1/referral-codes": "referrals",
    "/v1/referral-blocklist": "referrals",
    "/v1/partner-apps": "webhooks",
    "/v1/webhook-endpoints": "webhooks",
    "/v1/webhook-messages": "webhooks",
    "/v1/webhook-event-types": "webhooks",
    "/v1/webhook-keys": "webhooks",
    "/v1/partners": "webhooks",
}

DEFAULT_PUBLIC_ROUTES: list[str] = [
    "/v1/auth",
    "GET /v1/users",
    "GET /.well-known/jwks.json",
    "GET /v1/venues",
    "GET /v1/events",
    "GET /v1/posts",
    # the public feeds; the home feed (/v1/feed itself) is the caller's own: it needs a token
    "GET /v1/feed/official",
    "GET /v1/feed/featured",
    "GET /v1/feed/trending",
    "GET /v1/feed/cities",
    "GET /v1/feed/users",
    "GET /v1/profiles",
    "GET /v1/circles",
    "GET /v1/polls",
    "GET /v1/search",
    "GET /v1/comments",
    # the mall's items, the tiers, the leaderboards and the club; a wallet, an order and
    # the mall's orders are the caller's own
    "GET /v1/mall/items",
    "GET /v1/rewards/tiers",
    "GET /v1/leaderboards",
    "GET /v1/club",
    # a share link's code and the share form behind it: the prospect has no account yet;
    # a referrer's own code, summary and referrals, and the staff routes, need a token
    "GET /v1/referral-codes",
    "POST /v1/referrals/leads",
    # what a partner reads before it has credentials (the event types and their examples,
    # the public keys that verify our signatures); its inbound webhooks, which carry their
    # own Standard Webhooks signature; and the partner portal, HTML with its own cookie
    # session (every method: its forms post). Partner apps, endpoints and messages are
    # admins': they need a token.
    "GET /v1/webhook-event-types",
    "GET /v1/webhook-keys",
    "POST /v1/partners/inbound",
    "/v1/partners/portal",
]


STORE_SCHEMES = ("redis://", "rediss://")
"""Valkey speaks Redis' protocol: its URL starts the same."""


class HomePartName(enum.StrEnum):
    """An optional part of the home screen."""

    WALLET = "wallet"
    SIGNUPS = "signups"
    OFFERS = "offers"
    FEED = "feed"
    REFERRALS = "referrals"


class HomePart(BaseModel):
    """One optional part of ``GET /v1/me/home``: which upstream serves it, at which path."""

    name: HomePartName
    upstream: str
    path: str


DEFAULT_HOME_PARTS: list[HomePart] = [
    HomePart(name=HomePartName.WALLET, upstream="rewards", path="/v1/me/wallet"),
    HomePart(
        name=HomePartName.SIGNUPS, upstream="events", path="/v1/me/signups?when=upcoming&limit=3"
    ),
    HomePart(name=HomePartName.OFFERS, upstream="events", path="/v1/me/offers?limit=3"),
    HomePart(name=HomePartName.FEED, upstream="content", path="/v1/feed?limit=10"),
    HomePart(name=HomePartName.REFERRALS, upstream="referrals", path="/v1/me/referrals/summary"),
]


class GatewaySettings(ServiceSettings):
    """Everything the gateway reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    upstreams: dict[str, AnyHttpUrl] = {"identity": AnyHttpUrl("http://127.0.0.1:8001")}
    routes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    public_routes: list[str] = Field(default_factory=lambda: list(DEFAULT_PUBLIC_ROUTES))
    home_parts: list[HomePart] = Field(default_factory=lambda: list(DEFAULT_HOME_PARTS))
    max_body_bytes: int = Field(
        default=320 * 1024,
        description="the largest body any upstream accepts (events': a scanner's batch of "
        "1,000 offline scans); each upstream still enforces its own, most kit's 64 KiB",
    )
    connect_timeout: float = 1.0
    total_timeout: float = 5.0
    home_part_timeout: float = 1.0
    long_poll_seconds: dict[str, float] = Field(
        default_factory=lambda: {"/v1/tickets": 35.0},
        description="route prefixes (of the route table) whose requests may wait longer than "
        "total_timeout for their answer, and how long: a queue ticket long-polls up to 30 s",
    )
    pool_size: int = 100
    keepalive_seconds: float = 30.0
    rate_limit_per_user: str = "120/minute"
    # Generous: mobile carriers put many users behind one address (CGNAT), and a rush
    # sends a city through them at once. The per-user limit is the tight one.
    rate_limit_per_ip: str = "3000/minute"
    rate_limit_storage_url: str | None = Field(
        default=None,
        description="redis:// or rediss:// (TLS) URL of a Redis or Valkey server that every "
        "gateway replica shares, so that the limits hold cluster-wide: host, port, database "
        "and an ACL user name, never the password (GATEWAY_RATE_LIMIT_STORAGE_PASSWORD); "
        "unset, as under make run, each replica counts in its own memory",
    )
    rate_limit_storage_password: SecretStr | None = Field(
        default=None,
        description="the store's password (from a Secret; none for a store without auth)",
    )
    rate_limit_storage_timeout: float = Field(
        default=0.1,
        gt=0,
        description="seconds one limit check may wait for the store; slower or failing, "
        "the replica counts on its own (its local limit) until the store is back",
    )
    rate_limit_storage_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="seconds a replica counts on its own after the store failed before one "
        "request tries the store again",
    )
    cors_origins: list[str] = []

    @field_validator("routes")
    @classmethod
    def _prefixes_are_paths(cls, routes: dict[str, str]) -> dict[str, str]:
        for prefix in routes:
            if not prefix.startswith("/") or (prefix.endswith("/") and prefix != "/"):
                raise ValueError(f"route prefix {prefix!r} must start and not end with '/'")
        return routes

    @field_validator("rate_limit_per_user", "rate_limit_per_ip")
    @classmethod
    def _limit_parses(cls, value: str) -> str:
        limits.parse(value)
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _store_is_redis(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(STORE_SCHEMES):
            raise ValueError(f"the rate-limit store URL must start with one of {STORE_SCHEMES}")
        return url

    @model_validator(mode="after")
    def _route_only_to_known_upstreams(self) -> Self:
        """A deployment may run a subset of the services: routes to a service without a
        URL are left out (their paths answer 404) and said once in the log."""
        unknown = sorted(set(self.routes.values()) - set(self.upstreams))
        if unknown:
            log.warning("no upstream URL for %s: their routes are off", ", ".join(unknown))
            self.routes = {p: u for p, u in self.routes.items() if u in self.upstreams}
        return self

    def upstream_url(self, name: str) -> str:
        """The base URL of upstream ``name``, without a trailing slash."""
        return str(self.upstreams[name]).rstrip("/")
