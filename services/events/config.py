"""Events' settings (env prefix ``EVENTS_``): database, bus, QR check-in secret and window,
the draw's weights for recent losers (1 + the draws lost in the last
``draw_loser_priority_days`` days, at most ``draw_max_weight``), the queue allocator's pace
and batch size, how long a waitlist offer holds its seat and the jobs' batch size.

``EVENTS_QR_SECRET`` keys the HMAC of check-in QR codes; a placeholder is refused outside
development. A QR code names its time window (``qr_window_seconds`` long) and stays valid
for ``qr_valid_windows`` windows, so a screenshot stops working within minutes.
"""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings, refuse_placeholder


class EventsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    service_name: str = "events"
    database_url: str = "sqlite+aiosqlite:///.data/events.db"

    qr_secret: SecretStr = SecretStr("dev-secret")
    qr_window_seconds: int = Field(default=60, ge=10)
    qr_valid_windows: int = Field(default=5, ge=1)

    draw_loser_priority_days: int = Field(
        default=30,
        ge=0,
        description="each draw an applicant lost this many days back adds 1 to their weight",
    )
    draw_max_weight: int = Field(
        default=4, ge=1, description="the most an applicant of a draw can weigh"
    )

    allocator_interval: float = Field(
        default=0.1, gt=0, le=60, description="seconds between the queue allocator's rounds"
    )
    allocator_batch: int = Field(
        default=500, ge=1, le=10_000, description="queue tickets answered per statement"
    )
    offer_hold_seconds: int = Field(
        default=7200, ge=1, description="how long an offered seat is held for its user"
    )
    offer_min_hold_seconds: int = Field(
        default=300,
        ge=0,
        description="a hold shorter than this (close to the start) is not offered: the seat "
        "is counted free",
    )
    job_batch_size: int = Field(default=100, ge=1, description="offers one job step lapses")

    @model_validator(mode="after")
    def _require_real_secret(self) -> "EventsSettings":
        refuse_placeholder(self, "EVENTS_QR_SECRET", self.qr_secret.get_secret_value())
        return self
