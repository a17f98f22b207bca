"""Process configuration from the environment, typed, in one place.

The Temporal connection is not here: it comes from Temporal's own environment configuration
(`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, a profile file, ...), see `vangnet.temporal_client`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    # How long the intake waits for the case store (a locked SQLite file, an unreachable
    # PostgreSQL) before it answers 503 (RULES §12 I6); the worker waits longer, and retries.
    intake_db_timeout: float = Field(default=2.0, gt=0, validation_alias="VANGNET_INTAKE_DB_TIMEOUT")
    # How long the intake waits for a case to accept an event (then for its verdict as long
    # again, at most), before it answers 503 temporal_unavailable.
    intake_temporal_timeout: float = Field(default=10.0, gt=0,
                                           validation_alias="VANGNET_INTAKE_TEMPORAL_TIMEOUT")


@lru_cache
def get_settings() -> Settings:
    return Settings()
