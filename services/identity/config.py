"""Identity's settings (env prefix ``IDENTITY_``): database, signing key, token lifetimes,
login throttling and password-hashing cost.

The RS256 private key comes from ``IDENTITY_JWT_PRIVATE_KEY`` and is required outside
development; in development an unset key is generated once and kept in
``jwt_private_key_file`` (see :func:`services.identity.tokens.load_private_key`).
"""

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings, refuse_placeholder


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    database_url: str = "sqlite+aiosqlite:///.data/identity.db"

    jwt_private_key: SecretStr = SecretStr("")
    jwt_private_key_file: Path = Path(".data/identity-jwt.pem")
    jwt_previous_public_keys: list[str] = Field(
        default_factory=list,
        description="PEM public keys still published in the JWKS after a key rotation",
    )
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=30)

    # Login throttling (services.identity.service.throttle, ADR 0006).
    login_free_failures: int = Field(
        default=5, ge=1, description="failures of one client against one email before delays"
    )
    login_base_delay: timedelta = timedelta(seconds=30)
    login_max_delay: timedelta = timedelta(minutes=15)
    login_client_window: timedelta = Field(
        default=timedelta(hours=1), description="a client's failures are forgotten after this"
    )
    login_account_max_failures: int = Field(
        default=100, ge=1, description="failures from all clients that lock unknown devices out"
    )
    login_account_window: timedelta = timedelta(hours=1)
    forwarded_hops: int = Field(
        default=1,
        ge=0,
        description="proxies in front of identity that append to X-Forwarded-For (the "
        "gateway: 1); the caller's address is that many entries from the right, 0 ignores it",
    )

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=64 * 1024, ge=1024)
    argon2_parallelism: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _require_real_key(self) -> "IdentitySettings":
        refuse_placeholder(
            self, "IDENTITY_JWT_PRIVATE_KEY", self.jwt_private_key.get_secret_value()
        )
        return self
