"""Process configuration from the environment, typed, in one place.

The Temporal connection is not here: it comes from Temporal's own environment configuration
(`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, a profile file, ...), see `vangnet.temporal_client`.
"""

from __future__ import annotations

import os
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
    # The codec server (vangnet/codec_server.py) that decrypts payloads for the Web UI.
    codec_host: str = Field(default="127.0.0.1", validation_alias="VANGNET_CODEC_HOST")
    codec_port: int = Field(default=8234, validation_alias="VANGNET_CODEC_PORT")
    # The Web UI origins allowed to call it (comma-separated); default: the dev server's UI.
    codec_ui_origins: str = Field(default="", validation_alias="VANGNET_CODEC_UI_ORIGINS")
    codec_session_hours: float = Field(default=8.0, gt=0, le=24 * 7,
                                       validation_alias="VANGNET_CODEC_SESSION_HOURS")
    # A Web UI behind an identity provider passes its users' OIDC access token ("Pass the user
    # access token"): the codec server accepts it when these are set (all three).
    codec_oidc_jwks_url: str = Field(default="", validation_alias="VANGNET_CODEC_OIDC_JWKS_URL")
    codec_oidc_issuer: str = Field(default="", validation_alias="VANGNET_CODEC_OIDC_ISSUER")
    codec_oidc_audience: str = Field(default="", validation_alias="VANGNET_CODEC_OIDC_AUDIENCE")
    # The token claim listing the user's roles (a list, or a space-separated string), and the
    # roles that make an operator or an auditor.
    codec_oidc_roles_claim: str = Field(default="groups", validation_alias="VANGNET_CODEC_OIDC_ROLES_CLAIM")
    codec_oidc_operator_role: str = Field(default="vangnet-operator",
                                          validation_alias="VANGNET_CODEC_OIDC_OPERATOR_ROLE")
    codec_oidc_auditor_role: str = Field(default="vangnet-auditor",
                                         validation_alias="VANGNET_CODEC_OIDC_AUDITOR_ROLE")

    def ui_origins(self) -> list[str]:
        """Where the Web UI is served from: VANGNET_CODEC_UI_ORIGINS, else the dev server's UI
        (`dev.py run`) on VANGNET_UI_PORT, by both its names."""
        if self.codec_ui_origins.strip():
            return [o.strip().rstrip("/") for o in self.codec_ui_origins.split(",") if o.strip()]
        port = os.environ.get("VANGNET_UI_PORT", "").strip() or "8233"
        return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    # How long the intake waits for the case store (a locked SQLite file, an unreachable
    # PostgreSQL) before it answers 503 (RULES §12 I6); the worker waits longer, and retries.
    intake_db_timeout: float = Field(default=2.0, gt=0, validation_alias="VANGNET_INTAKE_DB_TIMEOUT")
    # How long the intake waits for a case to accept an event (then for its verdict as long
    # again, at most), before it answers 503 temporal_unavailable.
    # Webhook pushes (issue 10; vangnet/webhooks.py, vangnet/store/outbox.py): how long a message
    # is retried before it counts as failed, how often the dispatcher looks for due pushes, and
    # which internal addresses a webhook may point at (development, or a receiver inside the network).
    webhook_give_up_hours: float = Field(default=72.0, gt=0, validation_alias="VANGNET_WEBHOOK_GIVE_UP_HOURS")
    webhook_poll_seconds: float = Field(default=10.0, gt=0, validation_alias="VANGNET_WEBHOOK_POLL_SECONDS")
    webhook_allow_http_loopback: bool = Field(default=False,
                                              validation_alias="VANGNET_WEBHOOK_ALLOW_HTTP_LOOPBACK")
    webhook_allow_networks: str = Field(default="", validation_alias="VANGNET_WEBHOOK_ALLOW_NETWORKS")
    intake_temporal_timeout: float = Field(default=10.0, gt=0,
                                           validation_alias="VANGNET_INTAKE_TEMPORAL_TIMEOUT")


@lru_cache
def get_settings() -> Settings:
    return Settings()
