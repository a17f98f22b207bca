"""The intake keeps its word (RULES §12): verdicts, key expiry, archived timelines.

- `intake_event` gets the case's `verdict` (and `reason`) and an index by case and sender, for
  reads by involvement (I3); rows written before hold events the intake accepted: `applied`.
- `api_key.expires_at`: keys expire (NULL: never, as every key made before).
- `case_timeline`: the timeline entries a case archived to keep its state bounded.

Revision ID: 0005_i9
Revises: 0004_i11
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_i9"
down_revision = "0004_i11"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("intake_event") as batch:
        batch.add_column(sa.Column("verdict", sa.String(16), nullable=False, server_default="applied"))
        batch.add_column(sa.Column("reason", sa.String(500), nullable=True))
    op.create_index("ix_intake_event_case_source", "intake_event", ["case_id", "source"])
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("expires_at", TS, nullable=True))
    op.create_table(
        "case_timeline",
        sa.Column("case_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(100), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("entry", JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_timeline")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("expires_at")
    op.drop_index("ix_intake_event_case_source", table_name="intake_event")
    with op.batch_alter_table("intake_event") as batch:
        batch.drop_column("reason")
        batch.drop_column("verdict")
