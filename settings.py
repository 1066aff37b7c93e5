"""Process settings, read from `JOURNEYS_*` environment variables."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".journeys")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'journeys.db'}"
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "journeys"
    condition_poll_seconds: int = 300
    # Larger than any journey body; sized for `POST /customers/import` of 10 000 customers.
    max_body_bytes: int = 16 * 1024 * 1024


@lru_cache
def get_settings() -> Settings:
    return Settings()
