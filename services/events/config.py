"""Events' settings (env prefix ``EVENTS_``): database, bus, QR check-in secret and window,
the draw's weights for recent losers (1 + the draws lost in the last
``draw_loser_priority_days`` days, at most ``draw_max_weight``), the queue allocator's pace
and batch size, how long a waitlist offer holds its seat, the jobs' batch size and no-show
penalties.

``EVENTS_QR_SECRET`` keys the HMAC of check-in QR codes; a placeholder is refused outside
development. A QR code names its time window (``qr_window_seconds`` long) and stays valid
for ``qr_valid_windows`` windows, so a screenshot stops working within minutes.

A confirmed seat neither checked in nor cancelled earns a no-show penalty when its event is
completed, or ``no_show_grace_hours`` after it ended (the job ``issue_due_penalties``; the
grace lets offline scanners upload). For ``no_show_penalty_days`` after the event ended the
user's first-come signups open ``no_show_delay_seconds`` after an event's ``opens_at``.

Request bodies may reach ``max_body_bytes`` (320 KiB here): a scanner's offline batch of up
to 1,000 scans is the largest body events takes.
"""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings, refuse_placeholder


class EventsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    service_name: str = "events"
    database_url: str = "sqlite+aiosqlite:///.data/events.db"

    max_body_bytes: int = Field(
        default=320 * 1024,
        description="kit's 64 KiB, raised so that a batch of 1,000 offline scans (up to "
        "about 300 bytes each) fits",
    )

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

    no_show_grace_hours: int = Field(
        default=24, ge=0, le=24 * 30, description="how long after its end an event's no-shows wait"
    )
    no_show_delay_seconds: int = Field(
        default=600,
        ge=0,
        le=7 * 24 * 3600,
        description="how much later a penalized user's signups open",
    )
    no_show_penalty_days: int = Field(
        default=60, ge=0, le=3650, description="how long a no-show penalty lasts after the event"
    )
    no_show_draw_divisor: int = Field(
        default=2, ge=1, description="a draw applicant with an active penalty weighs 1/this"
    )

    @model_validator(mode="after")
    def _require_real_secret(self) -> "EventsSettings":
        refuse_placeholder(self, "EVENTS_QR_SECRET", self.qr_secret.get_secret_value())
        return self
