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
    # The worker's tuning (issue 16; docs/benchmarks.md "Production shape", docs/capacity.md).
    # Each maps to one argument of `temporalio.worker.Worker` (workers/worker.py, `worker_tuning`).
    # Cases kept in memory between their workflow tasks. A cached case acts on a deadline with
    # half the worker CPU of one that must be fetched and replayed first (12.5 against 27.2 ms),
    # and costs ~0.25 MB of RSS: 1,000 keeps the worker near 390 MB (< 500 MB, issue 5). Set it
    # to the open cases one worker process serves when memory allows (docs/capacity.md).
    worker_max_cached_workflows: int = Field(default=1000, ge=0,
                                             validation_alias="VANGNET_WORKER_MAX_CACHED_WORKFLOWS")
    # Workflow tasks and activities run at once (empty: the SDK's default, 100 each). Measured:
    # the storm and month-end ingest keep both cores busy with the SDK's slots and pollers (ours
    # plus the other load ≈ 1.9–2.0 cores), so more cannot help on one host; scale out instead.
    worker_max_concurrent_workflow_tasks: int | None = Field(
        default=None, ge=2, validation_alias="VANGNET_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS")
    worker_max_concurrent_activities: int | None = Field(
        default=None, ge=1, validation_alias="VANGNET_WORKER_MAX_CONCURRENT_ACTIVITIES")
    worker_max_concurrent_local_activities: int | None = Field(
        default=None, ge=1, validation_alias="VANGNET_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES")
    # Long polls held open against the server, per task type.
    worker_workflow_task_pollers: int = Field(default=5, ge=2,
                                              validation_alias="VANGNET_WORKER_WORKFLOW_TASK_POLLERS")
    worker_activity_task_pollers: int = Field(default=5, ge=1,
                                              validation_alias="VANGNET_WORKER_ACTIVITY_TASK_POLLERS")
    # How long a case's next step waits on this worker's own (sticky) queue before the server
    # hands it to any worker with its whole history: a step that waits longer is replayed from
    # scratch, so a backlog (the deadline storm) turns cached cases cold. Seconds; the SDK's 10 is
    # kept (a longer one also delays a crashed worker's cases that long); 120 brought the storm of
    # 1,000 deadlines to 9.9 s p99 (docs/benchmarks.md, "The deadline storm").
    worker_sticky_timeout_seconds: float = Field(default=10.0, gt=0,
                                                 validation_alias="VANGNET_WORKER_STICKY_TIMEOUT_SECONDS")
    # Eager activity execution: an activity a case schedules is handed straight back to this
    # worker with the workflow task's completion, when the server allows it
    # (`system.enableActivityEagerExecution`) and a slot is free.
    worker_eager_activities: bool = Field(default=True, validation_alias="VANGNET_WORKER_EAGER_ACTIVITIES")

    @field_validator("worker_max_concurrent_workflow_tasks", "worker_max_concurrent_activities",
                     "worker_max_concurrent_local_activities", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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
