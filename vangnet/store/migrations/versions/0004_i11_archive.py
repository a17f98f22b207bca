"""The archive of closed runs (`case_archive`) and the retention purge's log (`deletion_log`).

Revision ID: 0004_i11
Revises: 0003_i13
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_i11"
down_revision = "0003_i13"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_archive",
        sa.Column("case_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(100), primary_key=True),
        sa.Column("first_run_id", sa.String(100), nullable=False),
        sa.Column("previous_run_id", sa.String(100), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("corporation", sa.String(100), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("history_events", sa.Integer(), nullable=False),
        sa.Column("history_gz", sa.LargeBinary(), nullable=False),
        sa.Column("history_sha256", sa.String(64), nullable=False),
        sa.Column("final_status", JSON, nullable=False),
        sa.Column("timeline", JSON, nullable=False),
        sa.Column("context", JSON, nullable=True),
        sa.Column("stages", JSON, nullable=False),
        sa.Column("deterministic", sa.Boolean(), nullable=False),
        sa.Column("archived_at", TS, nullable=False),
    )
    op.create_index("ix_case_archive_first_run_id", "case_archive", ["first_run_id"])
    op.create_index("ix_case_archive_closed_at", "case_archive", ["closed_at"])
    op.create_table(
        "deletion_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id_sha256", sa.String(64), nullable=False),
        sa.Column("what", JSON, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("deleted_at", TS, nullable=False),
    )
    op.create_index("ix_deletion_log_case_id_sha256", "deletion_log", ["case_id_sha256"])


def downgrade() -> None:
    op.drop_index("ix_deletion_log_case_id_sha256", table_name="deletion_log")
    op.drop_table("deletion_log")
    op.drop_index("ix_case_archive_closed_at", table_name="case_archive")
    op.drop_index("ix_case_archive_first_run_id", table_name="case_archive")
    op.drop_table("case_archive")
