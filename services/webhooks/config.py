"""Webhooks' settings (env prefix ``WEBHOOKS_``): database, bus, the key that encrypts
partners' secrets at rest, which targets may be called, the retry schedule and the limits
that keep one partner's trouble away from the others.

``WEBHOOKS_SECRETS_KEY`` encrypts the signing secrets and inbound keys (they must be read
back to sign and verify, so they cannot be hashed): a comma-separated list, the first
encrypts, every one decrypts, so a new key is rolled in by putting it first. A placeholder
is refused outside development.
"""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings, refuse_placeholder

STANDARD_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Seconds before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""


class WebhooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", extra="ignore")

    service_name: str = "webhooks"
    database_url: str = "sqlite+aiosqlite:///.data/webhooks.db"

    secrets_key: SecretStr = SecretStr("dev-secret")
    require_https: bool = Field(
        default=True, description="partner URLs must be https (off only in make run and tests)"
    )
    allowed_targets: list[str] = Field(
        default=[],
        description="the development allow-list: hosts or networks (127.0.0.0/8) that may be "
        "called although they are not public; empty in production",
    )
    delivery_timeout_seconds: float = Field(
        default=15.0, gt=0, description="an attempt succeeds with a 2xx within this time"
    )
    retry_schedule_seconds: list[float] = Field(
        default=list(STANDARD_SCHEDULE),
        min_length=1,
        description="the wait before each attempt; a message is exhausted after the last",
    )
    retry_jitter: float = Field(
        default=0.1, ge=0, le=1, description="each wait is stretched by up to this fraction"
    )
    max_retry_after_seconds: float = Field(
        default=3600.0, gt=0, description="the longest Retry-After an endpoint may ask for"
    )
    circuit_failures: int = Field(
        default=5, ge=1, description="consecutive failures that open an endpoint's circuit"
    )
    circuit_cooldown_seconds: float = Field(
        default=60.0, gt=0, description="how long an open circuit waits before one probe"
    )
    disable_after_seconds: float = Field(
        default=5 * 24 * 3600.0,
        gt=0,
        description="an endpoint failing without a success for this long is disabled",
    )
    dispatch_concurrency: int = Field(
        default=200, ge=1, description="attempts in flight in one replica, all endpoints"
    )
    claim_batch_size: int = Field(default=200, ge=1, description="deliveries claimed at once")
    dispatch_poll_seconds: float = Field(
        default=0.2, gt=0, description="how often an idle dispatcher looks for due deliveries"
    )
    inbound_tolerance_seconds: int = Field(
        default=300, ge=1, description="how far an inbound webhook-timestamp may be off"
    )
    rotation_overlap_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        description="after a rotation, the old secret signs too for this long",
    )
    portal_session_seconds: int = Field(default=3600, ge=60)
    portal_secure_cookie: bool = Field(
        default=True, description="the portal's cookie is Secure (off only on plain-http dev)"
    )

    @model_validator(mode="after")
    def _require_real_secret(self) -> "WebhooksSettings":
        for key in self.secrets_key.get_secret_value().split(","):
            refuse_placeholder(self, "WEBHOOKS_SECRETS_KEY", key)
        return self
