"""Process configuration from the environment, typed, in one place.

The Temporal connection is not here: it comes from Temporal's own environment configuration
(`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, a profile file, ...), see `vangnet.temporal_client`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT / "data" / "vangnet.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DB}", validation_alias="DATABASE_URL"
    )
    task_queue: str = Field(default="vangnet-cases", validation_alias="VANGNET_TASK_QUEUE")
    policy_file: Path = Field(
        default=ROOT / "config" / "policy.toml", validation_alias="VANGNET_POLICY_FILE"
    )
    registry_file: Path = Field(
        default=ROOT / "config" / "registry.toml", validation_alias="VANGNET_REGISTRY_FILE"
    )
    api_host: str = Field(default="127.0.0.1", validation_alias="VANGNET_API_HOST")
    api_port: int = Field(default=8000, validation_alias="VANGNET_API_PORT")
    log_level: str = Field(default="INFO", validation_alias="VANGNET_LOG_LEVEL")
    log_format: str = Field(default="console", validation_alias="VANGNET_LOG_FORMAT")
    # The worker's /metrics, /livez and /readyz (issue 13; docs/operations.md). Off when unset.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535,
                                            validation_alias="VANGNET_WORKER_METRICS_PORT")
    worker_metrics_host: str = Field(default="127.0.0.1", validation_alias="VANGNET_WORKER_METRICS_HOST")

    @field_validator("worker_metrics_port", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
    # Reports for the Adviesgroep and their Schedules (issue 11; vangnet/reports, vangnet/schedules.py)
    reports_dir: Path = Field(default=ROOT / "data" / "reports", validation_alias="VANGNET_REPORTS_DIR")
    schedules_on_start: bool = Field(default=True, validation_alias="VANGNET_SCHEDULES")
    archive_every_minutes: int = Field(default=15, ge=1, le=1440,
                                       validation_alias="VANGNET_ARCHIVE_EVERY_MINUTES")
    # cron (minute hour day month weekday, Dutch time); empty: one week before each quarter's
    # first working day, 07:00
    quarterly_report_cron: str = Field(default="", validation_alias="VANGNET_QUARTERLY_REPORT_CRON")
    annual_report_cron: str = Field(default="0 7 15 1 *", validation_alias="VANGNET_ANNUAL_REPORT_CRON")
    purge_cron: str = Field(default="30 3 * * *", validation_alias="VANGNET_PURGE_CRON")


@lru_cache
def get_settings() -> Settings:
    return Settings()
