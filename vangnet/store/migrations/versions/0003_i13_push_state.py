"""Webhook push state of each inbox message (issue 13: "pushes pending/failed per party").

`push_state` is null for a message to a party without a webhook; otherwise `pending` (not pushed
yet), `retrying` (the last attempt failed, Temporal retries it), `delivered` or `failed` (refused
for good). `push_attempts` counts the attempts, `pushed_at` is the time of the last state change.

Revision ID: 0003_i13
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i13"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("inbox_message") as batch:
        batch.add_column(sa.Column("push_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("push_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pushed_at", TS, nullable=True))
    op.create_index("ix_inbox_message_push_state", "inbox_message", ["push_state", "party_code"])


def downgrade() -> None:
    op.drop_index("ix_inbox_message_push_state", table_name="inbox_message")
    with op.batch_alter_table("inbox_message") as batch:
        batch.drop_column("pushed_at")
        batch.drop_column("push_attempts")
        batch.drop_column("push_state")
