"""Settings shared by every service: environment, database, bus and token verification.

Each service subclasses :class:`ServiceSettings` with its own env prefix
(``IDENTITY_``, ``EVENTS_`` ...). Secrets come only from the environment, and
placeholder secrets are refused outside development (:func:`refuse_placeholder`).
"""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.logs import LogFormat

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "secret", "dev-secret"})

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Base for every service's settings; subclasses set their own ``env_prefix``."""

    # validate_by_name: the shared fields have env aliases (KAFKA_BOOTSTRAP_SERVERS, ...);
    # without it, ServiceSettings(jwks_url=...) in code or tests would be silently ignored.
    model_config = SettingsConfigDict(env_prefix="PADDOCK_", extra="ignore", validate_by_name=True)

    service_name: str = "paddock"
    environment: Environment = Field(
        default="development", validation_alias=AliasChoices("PADDOCK_ENV")
    )
    database_url: str = "sqlite+aiosqlite:///.data/paddock.db"
    database_pool_size: int = 10
    bus_enabled: bool = Field(
        default=True,
        description="run the outbox relay and the consumers (tests that do not test the bus "
        "turn it off; events then wait in the outbox)",
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    jwks_url: str = Field(
        default="http://127.0.0.1:8001/.well-known/jwks.json",
        validation_alias=AliasChoices("PADDOCK_JWKS_URL"),
    )
    jwt_issuer: str = Field(
        default="paddock-identity", validation_alias=AliasChoices("PADDOCK_JWT_ISSUER")
    )
    jwt_audience: str = Field(
        default="paddock", validation_alias=AliasChoices("PADDOCK_JWT_AUDIENCE")
    )
    max_body_bytes: int = 64 * 1024
    log_format: LogFormat = Field(
        default="json",
        validation_alias=AliasChoices("PADDOCK_LOG_FORMAT"),
        description="json (one object per line, for collectors) or console (make run)",
    )

    opentelemetry: bool = Field(
        default=False,
        validation_alias=AliasChoices("PADDOCK_OPENTELEMETRY"),
        description="FastAPI's native OpenTelemetry spans, metrics and logs per request, for "
        "a deployment that configures an OpenTelemetry SDK; off, they cost every request a "
        "provider lookup for nothing (kit's own metrics and access log stay either way)",
    )

    @property
    def is_development(self) -> bool:
        return self.environment == "development"


def refuse_placeholder(settings: ServiceSettings, field: str, value: str) -> None:
    """Raise when a secret still holds a placeholder outside development."""
    if not settings.is_development and value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{field} must be set to a real secret outside development")
