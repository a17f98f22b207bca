"""A report run delivers its message like every other message: into the adviesgroep's inbox and,
when the registry gives the adviesgroep a webhook, as a signed POST to it (a real HTTP server on
127.0.0.1), signed as every webhook is."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.api.test_webhooks import SECRET, Receiver, sqlite_settings  # noqa: F401 - loopback allowed
from vangnet.operations import ReportFiles, ReportInput
from vangnet.store.inbox import list_messages
from vangnet.store.models import Party
from workflows import AdviesgroepReportWorkflow


async def test_a_report_reaches_the_adviesgroep_by_inbox_and_webhook(
        temporal_env, store, worker, task_queue, tmp_path, monkeypatch):
    monkeypatch.setenv("VANGNET_WEBHOOK_SECRET_ADVIESGROEP", SECRET)
    monkeypatch.setattr(store.settings, "reports_dir", tmp_path / "reports")
    rec = Receiver()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with store.sessions() as session, session.begin():
        await session.execute(sa.update(Party).where(Party.code == "adviesgroep").values(
            webhook_url=f"http://127.0.0.1:{rec.port}/rapporten"))
    async with server:
        files = await temporal_env.client.execute_workflow(
            AdviesgroepReportWorkflow.run,
            ReportInput(kind="monitoring", period_from=date(2026, 7, 1), period_until=date(2026, 9, 30),
                        label="2026-Q3", archive_query=f"TaskQueue = '{task_queue}'"),
            id=f"report-{uuid.uuid4().hex[:8]}", task_queue=task_queue, result_type=ReportFiles)
        await rec.wait_for(1)
    assert files.label == "2026-Q3" and (tmp_path / "reports" / files.public[0]).is_file()
    [msg] = await list_messages(store.sessions, "adviesgroep")
    [req] = rec.requests
    assert req.path == "/rapporten" and Webhook(SECRET).verify(req.body, req.headers)
    assert req.headers["webhook-id"] == str(msg.id)
    doc = json.loads(req.body)
    assert (doc["message_id"], doc["action"], doc["payload"]) == (msg.id, "report_published", msg.payload)
    assert msg.payload["period"] == "2026-Q3" and msg.payload["files"] == files.public
