"""The case store's tables (SQLModel over SQLAlchemy).

The schema is owned by the Alembic migrations in `vangnet/store/migrations/versions/`; these classes
describe the same tables for queries (a test checks that the two agree). No personal data is stored:
case ids hold only the corporation code and its contract reference.

- `party`: the registry of RULES §1 (corporations, municipalities, social services, social teams,
  the MPZO), seeded from `config/registry.toml`.
- `route`: per (corporation, municipality) pair, whether the corporation is connected to RIS.
  A missing row means "connected to RIS".
- `inbox_message`: one row per delivered action and receiving party; exactly once per
  (party_code, idempotency_key); with its webhook push state (migration 0003_i13).
- `case_record`: the reporting projection of each case episode.
- `api_key`: hashed keys of the intake (RULES §10), with an optional expiry (migration 0005).
- `intake_event`: the verdicts the intake got from the cases for its events (migrations 0002,
  0005): repeats, `event_id` reuse, and which parties sent a case an applied event (RULES §12 I3).
- `case_timeline`: timeline entries a case archived to keep its state bounded (migration 0005).
- `case_archive`: every closed run of a case (its compressed history, final status and timeline),
  kept after Temporal's retention; `deletion_log`: what the retention purge removed (migration 0004).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

CODE_LEN = 100
# JSON in SQLite, JSONB in PostgreSQL.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Party(SQLModel, table=True):
    __tablename__ = "party"

    code: str = Field(primary_key=True, max_length=CODE_LEN)
    kind: str = Field(max_length=32)
    name: str = Field(max_length=200)
    # Municipalities: the social service and social team that serve them.
    social_service: str | None = Field(default=None, max_length=CODE_LEN)
    social_team: str | None = Field(default=None, max_length=CODE_LEN)
    # Social services: "Crisisprotocol" or "Traject Crisis" (RULES §1, R8).
    crisis_protocol: str | None = Field(default=None, max_length=100)
    # Social teams: the municipalities they serve.
    municipalities: list[str] = Field(
        default_factory=list, sa_column=sa.Column(JSONType, nullable=False)
    )
    # Social teams run jointly with Stichting Jeugdteams ZHZ (RULES §1 footnote 2).
    joint_youth_team: bool = Field(default=False)
    webhook_url: str | None = Field(default=None, max_length=500)
    # No longer filled (issue 10, migration 0006_i10): secrets are not kept in the case store.
    webhook_secret: str | None = Field(default=None, max_length=200)
    # Where the party's webhook secrets are: `env:NAME` or `file:PATH` (vangnet/webhooks.py).
    webhook_secret_ref: str | None = Field(default=None, max_length=300)


class Route(SQLModel, table=True):
    __tablename__ = "route"

    corporation: str = Field(primary_key=True, max_length=CODE_LEN)
    municipality: str = Field(primary_key=True, max_length=CODE_LEN)
    ris_connected: bool = Field(default=True)
    alternative_channel: str | None = Field(default=None, max_length=200)


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_message"
    __table_args__ = (
        sa.UniqueConstraint("party_code", "idempotency_key", name="uq_inbox_message_party_key"),
        # Serves "this party's messages after id N, oldest first".
        sa.Index("ix_inbox_message_party_code_id", "party_code", "id"),
        sa.Index("ix_inbox_message_case_id", "case_id"),
        sa.Index("ix_inbox_message_push_state", "push_state", "party_code"),
        sa.Index("ix_inbox_message_push_next_at", "push_next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    party_code: str = Field(max_length=CODE_LEN)
    idempotency_key: str = Field(max_length=300)
    case_id: str = Field(max_length=250)
    action: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime())
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # Webhook push (migration 0003_i13): null (no webhook), pending, retrying, delivered, failed.
    push_state: str | None = Field(default=None, max_length=16)
    push_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pushed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # The outbox dispatcher (issue 10, migration 0006_i10; vangnet/store/outbox.py).
    push_next_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    push_since: datetime | None = Field(default=None, sa_type=UTCDateTime())
    push_error: str | None = Field(default=None, max_length=64)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class CaseRecord(SQLModel, table=True):
    __tablename__ = "case_record"

    case_id: str = Field(primary_key=True, max_length=250)
    run_id: str = Field(primary_key=True, max_length=100)
    corporation: str = Field(max_length=CODE_LEN)
    municipality: str = Field(max_length=CODE_LEN)
    stage: str = Field(max_length=32)
    track: str = Field(max_length=32)
    outcome: str | None = Field(default=None, max_length=32)
    opened_at: datetime = Field(sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    updated_at: datetime = Field(sa_type=UTCDateTime())
    # The case's next deadline when last projected (issue 10, migration 0006_i10).
    next_deadline: datetime | None = Field(default=None, sa_type=UTCDateTime())


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (sa.UniqueConstraint("key_hash", name="uq_api_key_key_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=128)
    # The party the key belongs to; None for the roles `operator` and `auditor`.
    party_code: str | None = Field(default=None, max_length=CODE_LEN, index=True)
    role: str = Field(max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class IntakeEvent(SQLModel, table=True):
    """An event that came in through the intake, written once its case gave a verdict on it
    (so a row means: the event is in the case's history). `verdict` is `applied`, `ignored` (with
    the case's `reason`) or `accepted` (in history, verdict not yet known)."""

    __tablename__ = "intake_event"
    __table_args__ = (sa.Index("ix_intake_event_case_source", "case_id", "source"),)

    source: str = Field(primary_key=True, max_length=CODE_LEN)
    event_id: str = Field(primary_key=True, max_length=200)
    case_id: str = Field(max_length=250)
    type: str = Field(max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime())
    verdict: str = Field(default="applied", max_length=16)
    reason: str | None = Field(default=None, max_length=500)


class CaseArchive(SQLModel, table=True):
    """One run of a case copied out of Temporal (vangnet/archive.py, migration 0003): a closed run
    for good, or a snapshot of a running one (status `running`) that reports read."""

    __tablename__ = "case_archive"
    __table_args__ = (
        sa.Index("ix_case_archive_first_run_id", "first_run_id"),
        sa.Index("ix_case_archive_closed_at", "closed_at"),
    )

    case_id: str = Field(primary_key=True, max_length=250)
    run_id: str = Field(primary_key=True, max_length=100)
    first_run_id: str = Field(max_length=100)
    previous_run_id: str | None = Field(default=None, max_length=100)
    # Temporal's execution status when copied: completed, continued_as_new, failed, terminated,
    # timed_out, canceled; `running` for a snapshot of an open run.
    status: str = Field(max_length=32)
    corporation: str = Field(max_length=CODE_LEN)
    municipality: str = Field(max_length=CODE_LEN)
    outcome: str | None = Field(default=None, max_length=32)
    started_at: datetime = Field(sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    history_events: int
    # gzip of the history's JSON (the Replayer's and the UI's format); SHA-256 of that JSON.
    history_gz: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    history_sha256: str = Field(max_length=64)
    final_status: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    timeline: list[Any] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    context: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONType, nullable=True))
    # [[at, stage], ...]: every CaseStage the run published (from its search-attribute upserts)
    stages: list[Any] = Field(default_factory=list, sa_column=sa.Column(JSONType, nullable=False))
    deterministic: bool = Field(default=True)
    archived_at: datetime = Field(sa_type=UTCDateTime())


class DeletionLog(SQLModel, table=True):
    """What the retention purge removed: the case only as a SHA-256 of its id (migration 0003)."""

    __tablename__ = "deletion_log"

    id: int | None = Field(default=None, primary_key=True)
    case_id_sha256: str = Field(max_length=64, index=True)
    what: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))
    reason: str = Field(max_length=200)
    deleted_at: datetime = Field(sa_type=UTCDateTime())


class CaseTimelineEntry(SQLModel, table=True):
    """One archived timeline entry: position `seq` in the timeline of the episode `run_id` (its
    first run) of `case_id`."""

    __tablename__ = "case_timeline"

    case_id: str = Field(primary_key=True, max_length=250)
    run_id: str = Field(primary_key=True, max_length=100)
    seq: int = Field(primary_key=True)
    entry: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONType, nullable=False))


TABLES = (Party, Route, InboxMessage, CaseRecord, ApiKey, IntakeEvent, CaseArchive, DeletionLog,
          CaseTimelineEntry)
