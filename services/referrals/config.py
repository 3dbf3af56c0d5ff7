"""Referrals' settings (env prefix ``REFERRALS_``): database, bus, the share link, the
attribution and refund windows and the fraud checks' limits.

``REFERRALS_PHONE_HASH_KEY`` keys the HMAC under which phone numbers are compared (a
placeholder is refused outside development): duplicate and blocked phones are found by
their hash, and a leaked table does not give the numbers of the blocklist away.
"""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings, refuse_placeholder


class ReferralsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", extra="ignore")

    service_name: str = "referrals"
    database_url: str = "sqlite+aiosqlite:///.data/referrals.db"

    phone_hash_key: SecretStr = SecretStr("dev-secret")
    default_region: str = Field(
        default="CN",
        min_length=2,
        max_length=2,
        description="the country of phone numbers written without +country code",
    )
    link_base: str = Field(
        default="https://paddock.example/r/", description="a code's share link is this + code"
    )
    attribution_days: int = Field(
        default=90,
        ge=1,
        description="how long after registering an account may name its referrer, and how "
        "long a lead's phone stays attributed without an order",
    )
    refund_window_days: int = Field(
        default=30, ge=0, description="a delivered referral is approved this long after delivery"
    )
    leads_per_hour: int = Field(default=10, ge=1, description="one referrer's leads in an hour")
    leads_per_day: int = Field(default=30, ge=1, description="one referrer's leads in a day")
    yearly_cap: int = Field(
        default=12, ge=1, description="rewarded referrals per referrer in a calendar year"
    )
    job_batch_size: int = Field(default=500, ge=1, description="rewards one job step approves")

    @model_validator(mode="after")
    def _require_real_secret(self) -> "ReferralsSettings":
        refuse_placeholder(self, "REFERRALS_PHONE_HASH_KEY", self.phone_hash_key.get_secret_value())
        return self
