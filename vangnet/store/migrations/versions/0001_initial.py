"""The case store's first schema: registry, routes, inbox, case projection, API keys.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "party",
        sa.Column("code", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("social_service", sa.String(100), nullable=True),
        sa.Column("social_team", sa.String(100), nullable=True),
        sa.Column("crisis_protocol", sa.String(100), nullable=True),
        sa.Column("municipalities", JSON, nullable=False),
        sa.Column("joint_youth_team", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("webhook_secret", sa.String(200), nullable=True),
    )
    op.create_table(
        "route",
        sa.Column("corporation", sa.String(100), primary_key=True),
        sa.Column("municipality", sa.String(100), primary_key=True),
        sa.Column("ris_connected", sa.Boolean(), nullable=False),
        sa.Column("alternative_channel", sa.String(200), nullable=True),
    )
    op.create_table(
        "inbox_message",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("party_code", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("case_id", sa.String(250), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("acked_at", TS, nullable=True),
        sa.UniqueConstraint("party_code", "idempotency_key", name="uq_inbox_message_party_key"),
    )
    op.create_index("ix_inbox_message_party_code_id", "inbox_message", ["party_code", "id"])
    op.create_index("ix_inbox_message_case_id", "inbox_message", ["case_id"])
    op.create_table(
        "case_record",
        sa.Column("case_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(100), primary_key=True),
        sa.Column("corporation", sa.String(100), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("track", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("party_code", sa.String(100), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.UniqueConstraint("key_hash", name="uq_api_key_key_hash"),
    )
    op.create_index("ix_api_key_party_code", "api_key", ["party_code"])


def downgrade() -> None:
    op.drop_index("ix_api_key_party_code", table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("case_record")
    op.drop_index("ix_inbox_message_case_id", table_name="inbox_message")
    op.drop_index("ix_inbox_message_party_code_id", table_name="inbox_message")
    op.drop_table("inbox_message")
    op.drop_table("route")
    op.drop_table("party")
