"""Settings shared by every service: environment, database, bus and token verification.

Each service subclasses :class:`ServiceSettings` with its own env prefix
(``IDENTITY_``, ``EVENTS_`` ...). Secrets come only from the environment, and
placeholder secrets are refused outside development (:func:`refuse_placeholder`).
How to reach Kafka comes from the shared ``KAFKA_*`` names and is checked when the settings
load (:attr:`ServiceSettings.kafka`): a pod of one service carries that service's Kafka
identity.
"""

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.bus.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from kit.logs import LogFormat

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "secret", "dev-secret"})

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Base for every service's settings; subclasses set their own ``env_prefix``."""

    # validate_by_name: the shared fields have env aliases (KAFKA_BOOTSTRAP_SERVERS, ...);
    # without it, ServiceSettings(jwks_url=...) in code or tests would be silently ignored.
    # hide_input_in_errors: a refused setting must not print the others, secrets among them.
    model_config = SettingsConfigDict(
        env_prefix="PADDOCK_", extra="ignore", validate_by_name=True, hide_input_in_errors=True
    )

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
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT (make run, the tests), SSL (TLS; with a client certificate, "
        "mutual TLS) or SASL_SSL (TLS and a SCRAM login)",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM")
    )
    kafka_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_USERNAME"),
        description="the SCRAM user of this service (SASL_SSL)",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_PASSWORD"),
        description="its password (SASL_SSL; a secret)",
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE"),
        description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL; "
        "the system's trust store when unset)",
    )
    kafka_ssl_cert_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CERTFILE"),
        description="PEM client certificate, for mutual TLS (with KAFKA_SSL_KEYFILE)",
    )
    kafka_ssl_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_KEYFILE"),
        description="PEM key of that certificate",
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

    @model_validator(mode="after")
    def _refuse_nonsensical_kafka(self) -> Self:
        """Fail when the settings load, not at the first connection: :attr:`kafka` raises
        ``ValueError`` for a combination that makes no sense."""
        _ = self.kafka
        return self

    @property
    def kafka(self) -> KafkaConnection:
        """How this service's Kafka clients reach the cluster."""
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self.kafka_password,
            ca_file=self.kafka_ssl_ca_file,
            cert_file=self.kafka_ssl_cert_file,
            key_file=self.kafka_ssl_key_file,
        )

    @property
    def is_development(self) -> bool:
        return self.environment == "development"


def refuse_placeholder(settings: ServiceSettings, field: str, value: str) -> None:
    """Raise when a secret still holds a placeholder outside development."""
    if not settings.is_development and value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{field} must be set to a real secret outside development")
