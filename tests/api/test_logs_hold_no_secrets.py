"""RULES §12 I5: no API key, webhook secret, signature or request body ever reaches a log line.

Every error path of the intake API and of the webhook activity runs here with JSON logs captured
(the process's real logging configuration, everything at DEBUG), and the captured text is
scanned for every key, secret, signature and body marker the test used."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
import structlog
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.webhooks import WebhookActivities
from starter.api import create_app
from starter.service import IntakeService
from tests.api.conftest import arrears, event, new_ref
from tests.api.webhook_probe import DeliverOnce
from tests.conftest import free_port
from vangnet.domain import WebhookRequest
from vangnet.logging import configure_logging
from vangnet.settings import Settings
from vangnet.store import Store, apikeys
from vangnet.store.inbox import deliver
from vangnet.store.models import Party

MARKER = "BODYMARKER-" + uuid.uuid4().hex[:8]  # in every body: must never be logged
SECRET = "whsec_" + base64.b64encode(uuid.uuid4().bytes).decode()  # a party's webhook secret


@pytest.fixture
def json_logs():
    """The process's logging, as `VANGNET_LOG_FORMAT=json VANGNET_LOG_LEVEL=DEBUG` sets it up,
    into a buffer; put back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", stream=buffer, cache_loggers=False)
    try:
        yield buffer
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
        structlog.configure(**saved)


def scan(text: str, forbidden: list[str]) -> list[str]:
    found = [f for f in forbidden if f and f in text]
    found += re.findall(r"sha256=[0-9a-f]{64}", text)
    found += re.findall(r"vn_[A-Za-z0-9_-]{40,}", text)
    found += re.findall(r"(?i)bearer\s+(?!\[redacted\])\S+", text)
    return found


async def test_no_key_secret_signature_or_body_reaches_the_logs(
        json_logs, temporal_env, store, task_queue, worker, monkeypatch):
    service = IntakeService(store, temporal_env.client, task_queue)
    keys = {code: (await service.create_key(code)).key for code in ("woonbron", "poort6", "operator", "dordrecht")}
    expired, _ = await apikeys.create_key(store.sessions, "woonbron", "party",
                                          expires_at=datetime.now(UTC) - timedelta(days=1))
    revoked = await service.create_key("woonbron")
    await service.revoke_key(revoked.row.id)
    bogus = "vn_" + "x" * 43
    used = [*keys.values(), expired, revoked.key, bogus, SECRET, MARKER]

    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    statuses: list[int] = []
    transport = httpx.ASGITransport(app=create_app(service), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as http:
        async def call(method: str, path: str, key: str | None, **kw):
            headers = {**(auth(key) if key else {}), **kw.pop("headers", {})}
            r = await http.request(method, path, headers=headers, **kw)
            statuses.append(r.status_code)
            return r

        ref = new_ref()
        # 202 and the case to close later
        assert (await call("POST", "/v1/events", keys["woonbron"], json=arrears(ref))).status_code == 202
        # 401: none, not Bearer, unknown, expired, revoked
        await call("GET", "/v1/inbox", None, headers={"Authorization": f"Basic {MARKER}"})
        await call("GET", "/v1/inbox", None)
        for key in (bogus, expired, revoked.key):
            assert (await call("POST", "/v1/events", key, json={**arrears(new_ref()), "x": MARKER})).status_code == 401
        # 403: another corporation's tenancy; a corporation closing a case
        await call("POST", "/v1/events", keys["poort6"], json={**event("payment_received", ref,
                   amount_cents=1, arrears_cents=1)})
        await call("POST", "/v1/events", keys["woonbron"], json=event("case_closed", ref, reason=MARKER))
        # 404: an event without a case; a read of no case; a read of a case not yours
        await call("POST", "/v1/events", keys["dordrecht"],
                   json=event("signal_bounced", new_ref(), reason=MARKER))
        await call("GET", "/v1/cases/case-woonbron-NOT-THERE", keys["poort6"])
        await call("GET", f"/v1/cases/case-woonbron-{ref}", keys["poort6"])
        # 422: not JSON, too deep, an unknown field, a bad value, an event the case ignores
        await call("POST", "/v1/events", keys["woonbron"], content=f'{{"{MARKER}": '.encode())
        await call("POST", "/v1/events", keys["woonbron"],
                   content=('{"x": "' + MARKER + '", "y": ' + "[" * 5000 + "]" * 5000 + "}").encode())
        await call("POST", "/v1/events", keys["woonbron"], json={**arrears(new_ref()), "colour": MARKER})
        await call("POST", "/v1/events", keys["woonbron"], json={**arrears(new_ref()), "arrears_since": MARKER})
        await call("POST", "/v1/events", keys["dordrecht"], json=event("signal_bounced", ref, reason=MARKER))
        # 413: a body and a batch too large
        monkeypatch.setattr("starter.api.MAX_BODY_BYTES", 2_000)
        await call("POST", "/v1/events", keys["woonbron"], content=(MARKER * 500).encode())
        monkeypatch.undo()
        await call("POST", "/v1/events/batch", keys["woonbron"], json=[{"x": MARKER}] * 10_001)
        # a batch of refusals, NDJSON with a broken line
        await call("POST", "/v1/events/batch", keys["poort6"], json=[arrears(new_ref(), x=MARKER)] * 30)
        await call("POST", "/v1/events/batch", keys["woonbron"], content=f"{{{MARKER}\n".encode(),
                   headers={**auth(keys["woonbron"]), "Content-Type": "application/x-ndjson"})
        # 409: the case closed
        await call("POST", "/v1/events", keys["operator"], json=event("case_closed", ref, reason=MARKER))
        await temporal_env.client.get_workflow_handle(f"case-woonbron-{ref}").result()
        await call("POST", "/v1/events", keys["operator"], json=event("case_closed", ref, reason=MARKER))
        # 503: Temporal does not answer (with the body in its error text)
        async def down(*_a, **_k):
            raise RPCError(f"connection reset while sending {MARKER} {keys['woonbron']}",
                           RPCStatusCode.UNAVAILABLE, b"")

        monkeypatch.setattr(service.client, "start_update_with_start_workflow", down)
        await call("POST", "/v1/events", keys["woonbron"], json=arrears(new_ref()))
        monkeypatch.undo()
        # 500: an error nobody expected, whose message and locals hold the key and the body
        async def broken(self, p, event, parties, **_kw):
            key, body = keys["woonbron"], MARKER
            raise RuntimeError(f"broken by {key} on {body} (Authorization: Bearer {key})")

        monkeypatch.setattr("starter.service.events.EventIntake.apply", broken)
        r = await call("POST", "/v1/events", keys["woonbron"], json=arrears(new_ref()))
        assert r.status_code == 500 and MARKER not in r.text
        monkeypatch.undo()
        # 503: the database is locked (a write refused)
        quick = await Store.open(Settings(DATABASE_URL=str(store.engine.url)), timeout=0.2)
        locker = sqlite3.connect(store.engine.url.database)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            locked = IntakeService(quick, temporal_env.client, task_queue)
            t = httpx.ASGITransport(app=create_app(locked), raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=t, base_url="http://intake.test") as h2:
                page = (await h2.get("/v1/inbox", headers=auth(keys["woonbron"]))).json()
                r = await h2.post(f"/v1/inbox/{page['messages'][0]['id']}/ack",
                                  headers=auth(keys["woonbron"]))
                statuses.append(r.status_code)
                statuses.append((await h2.get("/healthz")).status_code)
        finally:
            locker.rollback()
            locker.close()
            await quick.close()

    # The webhook activity: every way a delivery can fail, as the worker runs and logs it.
    outcomes = await drive_webhook_errors(temporal_env, store)

    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # JSON, every line
    assert {401, 403, 404, 409, 413, 422, 500, 503} <= set(statuses), statuses
    events = {line.get("event") for line in lines}
    assert {"request_refused", "request_failed", "temporal_call_failed", "batch_refusals",
            "webhook_refused", "webhook_unreachable", "webhook_delivered"} <= events, events
    assert any("Completing activity as failed" in str(line.get("event")) for line in lines)
    assert outcomes == ["failed: ApplicationError"] * 3 + ["delivered: 200"] + \
        ["failed: ApplicationError"] * 3
    leaks = scan(text, used)
    assert leaks == [], [line for line in text.splitlines() if any(x in line for x in leaks)][:3]


async def drive_webhook_errors(temporal_env, store) -> list[str]:
    """deliver_webhook against a real local receiver: 500, 408, 404 (final), no answer at all, a
    party without a secret, a message that does not exist, and one that goes through."""
    answers = [500, 408, 404, 200]
    received: list[bytes] = []

    async def receive(reader, writer):
        headers = {}
        await reader.readline()
        while (line := (await reader.readline()).decode().strip()):
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        received.append(await reader.readexactly(int(headers.get("content-length", 0))))
        status = answers.pop(0)
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    import asyncio

    server = await asyncio.start_server(receive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def set_webhook(url: str | None, secret: str | None) -> None:
        # The secret comes from the environment (issue 10), never from the case store.
        if secret is None:
            os.environ.pop("VANGNET_WEBHOOK_SECRET_POORT6", None)
        else:
            os.environ["VANGNET_WEBHOOK_SECRET_POORT6"] = secret
        async with store.sessions() as s, s.begin():
            await s.execute(sa.update(Party).where(Party.code == "poort6").values(webhook_url=url))

    message_id, _ = await deliver(store.sessions, "poort6", f"probe/{uuid.uuid4().hex}/1",
                                  "case-poort6-P1", "escalation_raised", {"text": MARKER})
    activities = WebhookActivities(store, settings=store.settings.model_copy(
        update={"webhook_allow_http_loopback": True, "webhook_allow_networks": "127.0.0.0/8"}))
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    outcomes = []
    async with server, Worker(temporal_env.client, task_queue=queue, workflows=[DeliverOnce],
                              activities=[activities.deliver_webhook]):
        async def once(mid: int) -> None:
            outcomes.append(await temporal_env.client.execute_workflow(
                DeliverOnce.run, WebhookRequest(message_id=mid, case_id="case-poort6-P1"),
                id=f"probe-{uuid.uuid4().hex}", task_queue=queue))

        await set_webhook(f"http://127.0.0.1:{port}/hook", SECRET)
        for _ in range(4):  # 500, 408, 404, 200
            await once(message_id)
        await set_webhook(f"http://127.0.0.1:{free_port()}/hook", SECRET)  # nobody listens
        await once(message_id)
        await set_webhook(f"http://127.0.0.1:{port}/hook", None)  # a URL and no secret
        await once(message_id)
        await once(987_654_321)  # no such message
    os.environ.pop("VANGNET_WEBHOOK_SECRET_POORT6", None)
    await activities.aclose()
    assert all(MARKER.encode() in body for body in received)  # the body did carry the marker
    return outcomes
