"""Content's settings (env prefix ``CONTENT_``): database, bus, the edit window, the feed's
reach, trending's window and the thresholds of automatic pre-moderation."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENT_", extra="ignore")

    service_name: str = "content"
    database_url: str = "sqlite+aiosqlite:///.data/content.db"

    edit_window_hours: float = Field(
        default=24, gt=0, description="how long after posting its author may edit a post"
    )
    trending_window_hours: float = Field(
        default=72, gt=0, description="how far back the trending feed looks"
    )
    held_share_threshold: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="an author whose posts of the last 30 days were upheld-reported in more "
        "than this share has new posts held for review",
    )
    held_share_min_posts: int = Field(
        default=3, ge=1, description="the share counts only once an author has this many posts"
    )
    new_account_days: float = Field(
        default=7, ge=0, description="an account younger than this is a new account"
    )
    new_account_posts_per_hour: int = Field(
        default=5,
        ge=1,
        description="a new account posting more than this in an hour has its posts held",
    )
