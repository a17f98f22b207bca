"""Delivery outside the case, secrets outside the store, and the case list (issue 10).

- `inbox_message`: the outbox dispatcher's state of each push: `push_next_at` (when the next
  attempt is due; null when nothing is due: delivered, failed, no webhook, or a push made by an
  older case run itself), `push_since` (when pushing started, for the give-up period),
  `push_error` (the last attempt's error code) and `delivered_at`.
- `party`: `webhook_secret_ref` (`env:NAME` or `file:PATH`) names where a party's webhook secrets
  are; the secrets themselves are no longer stored (`webhook_secret` is emptied).
- `case_record`: `next_deadline` (the case's next deadline, for `GET /v1/cases?deadline_before=`).

Revision ID: 0006_i10
Revises: 0005_i9
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_i10"
down_revision = "0005_i9"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("inbox_message") as batch:
        batch.add_column(sa.Column("push_next_at", TS, nullable=True))
        batch.add_column(sa.Column("push_since", TS, nullable=True))
        batch.add_column(sa.Column("push_error", sa.String(64), nullable=True))
        batch.add_column(sa.Column("delivered_at", TS, nullable=True))
    op.create_index("ix_inbox_message_push_next_at", "inbox_message", ["push_next_at"])
    with op.batch_alter_table("party") as batch:
        batch.add_column(sa.Column("webhook_secret_ref", sa.String(300), nullable=True))
    op.execute(sa.text("UPDATE party SET webhook_secret = NULL"))
    with op.batch_alter_table("case_record") as batch:
        batch.add_column(sa.Column("next_deadline", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_record") as batch:
        batch.drop_column("next_deadline")
    with op.batch_alter_table("party") as batch:
        batch.drop_column("webhook_secret_ref")
    op.drop_index("ix_inbox_message_push_next_at", table_name="inbox_message")
    with op.batch_alter_table("inbox_message") as batch:
        batch.drop_column("delivered_at")
        batch.drop_column("push_error")
        batch.drop_column("push_since")
        batch.drop_column("push_next_at")
