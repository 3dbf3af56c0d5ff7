"""Rewards' settings (env prefix ``REWARDS_``): database, bus, gifting limits, the tier
grace period, the club's sizes, how far
ranks are exact and the jobs' batch size."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class RewardsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REWARDS_", extra="ignore")

    service_name: str = "rewards"
    database_url: str = "sqlite+aiosqlite:///.data/rewards.db"

    gift_daily_limit: int = Field(
        default=500, ge=1, description="the most points one member gives away in a day (UTC)"
    )
    tier_grace_days: int = Field(
        default=90, ge=0, description="how long a tier holds after the value fell below it"
    )
    club_yearly_size: int = Field(default=100, ge=1, description="the yearly top N by value")
    club_quarter_size: int = Field(default=10, ge=1, description="each quarter's fastest growers")
    club_referrer_size: int = Field(default=10, ge=1, description="the year's top referrers")
    rank_exact_limit: int = Field(
        default=10_000,
        ge=1,
        description="ranks are counted exactly this far down; deeper ones are estimated",
    )
    job_batch_size: int = Field(default=500, ge=1, description="rows one job step moves")
