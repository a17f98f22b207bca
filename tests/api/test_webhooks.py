"""Webhooks (issue 10): inbox messages pushed by the outbox dispatcher, outside every case,
signed as Standard Webhooks, retried with backoff for the give-up period, exactly once per
message id at a receiver that keeps the ids it handled.

The receiver is a real HTTP server on 127.0.0.1 (asyncio streams). The dispatcher's clock is a
parameter (`Dispatcher.dispatch_due(now)`): backoff and the give-up period are tested by moving it,
never by sleeping. One test runs the dispatcher workflow itself, as the worker starts it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
import sqlalchemy as sa
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.worker import Replayer

from activities.dispatch import Dispatcher
from tests.api.conftest import arrears, event, new_ref
from tests.conftest import free_port
from vangnet.settings import Settings
from vangnet.store.models import Party
from vangnet.store.outbox import redeliver, status
from vangnet.webhooks import new_secret
from workflows import TenantCaseWorkflow
from workflows.dispatcher import WebhookDispatcherWorkflow, dispatcher_id, start_dispatcher

SECRET = new_secret()
OLD_SECRET = new_secret()  # the previous secret, still valid while rotating


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=list)  # statuses to answer first; then 200
    requests: list[Received] = field(default_factory=list)
    handled: dict[str, int] = field(default_factory=dict)  # webhook-id -> times handled
    port: int = 0
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode().strip()):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.answers.pop(0) if self.answers else 200
            self.requests.append(Received(request_line.split()[1], headers, body, status))
            if status == 200:
                Webhook(SECRET).verify(body, headers)  # the README's receiver, in two lines
                key = headers["webhook-id"]
                self.handled[key] = self.handled.get(key, 0) + 1
            extra = "Location: http://127.0.0.1:1/elsewhere\r\n" if 300 <= status < 400 else ""
            writer.write(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def wait_for(self, n: int, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.requests) < n:
            assert loop.time() < deadline, f"receiver got {len(self.requests)} of {n} requests"
            await asyncio.sleep(0.05)


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    # Receivers on 127.0.0.1 over http: allowed explicitly, as for development (vangnet/webhooks.py).
    return Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/vangnet.db",
                    VANGNET_WEBHOOK_ALLOW_HTTP_LOOPBACK=True,
                    VANGNET_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8")


@pytest_asyncio.fixture
async def receiver(store, monkeypatch) -> AsyncIterator[Receiver]:
    """woonbron's receiver, not started: a test starts (and stops) it."""
    rec = Receiver(port=free_port())
    monkeypatch.setenv("VANGNET_WEBHOOK_SECRET_WOONBRON", f"{SECRET} {OLD_SECRET}")
    async with store.sessions() as session, session.begin():
        await session.execute(sa.update(Party).where(Party.code == "woonbron").values(
            webhook_url=f"http://127.0.0.1:{rec.port}/vangnet"))
    yield rec
    await rec.stop()


async def inbox(api, party="woonbron"):  # noqa: ANN001, ANN201
    return (await api.get("/v1/inbox", party)).json()["messages"]


async def test_the_dispatcher_pushes_each_message_signed_and_the_case_waits_for_none(api, receiver, task_queue):
    await receiver.start()
    await start_dispatcher(api.client, task_queue, poll_seconds=30)
    ref = new_ref()
    case_id = await api.open_case(ref)
    await receiver.wait_for(1)  # nudged by the action activity: no wait for a poll
    [msg] = await inbox(api)
    [req] = receiver.requests
    assert req.path == "/vangnet"
    assert req.headers["webhook-id"] == str(msg["id"])
    assert req.headers["idempotency-key"] == msg["idempotency_key"]
    # Signed with both secrets while rotating: a receiver that knows either one verifies it.
    assert len(req.headers["webhook-signature"].split()) == 2
    for secret in (SECRET, OLD_SECRET):
        assert Webhook(secret).verify(req.body, req.headers)["message_id"] == msg["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(req.body, req.headers)
    # The timestamp is signed: an old push cannot be replayed as new.
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(req.body, {**req.headers, "webhook-timestamp": str(int(req.headers["webhook-timestamp"]) - 600)})
    doc = json.loads(req.body)
    assert (doc["case_id"], doc["action"], doc["party"]) == (case_id, "tenant_notice_sent", "woonbron")
    await _until(lambda: None, api, "delivered")

    # The case ran no push of its own: no deliver_webhook activity, the outbox patch's marker,
    # and its history replays.
    await api.send("operator", event("case_closed", ref, reason="test"))
    await api.client.get_workflow_handle(case_id).result()
    history = await api.client.get_workflow_handle(case_id).fetch_history()
    scheduled = {e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")}
    assert "deliver_webhook" not in scheduled
    patches = {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    }
    assert "webhooks-outbox-v1" in patches and "webhooks-v1" not in patches
    await Replayer(workflows=[TenantCaseWorkflow], data_converter=api.client.data_converter
                   ).replay_workflow(history)
    await receiver.wait_for(2)
    assert [json.loads(r.body)["action"] for r in receiver.requests] == ["tenant_notice_sent", "case_closed"]
    # The dispatcher's own history replays (it is a workflow like any other).
    dispatcher = api.client.get_workflow_handle(dispatcher_id(task_queue))
    await Replayer(workflows=[WebhookDispatcherWorkflow], data_converter=api.client.data_converter
                   ).replay_workflow(await dispatcher.fetch_history())
    await dispatcher.terminate("test over")


async def _until(_unused, api, state: str, timeout: float = 20.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        msgs = await inbox(api)
        if msgs and all(m["delivery"] and m["delivery"]["state"] == state for m in msgs):
            return
        assert loop.time() < deadline, msgs
        await asyncio.sleep(0.05)


async def test_a_receiver_that_is_down_holds_no_case_back(api, receiver, store):
    """Issue 10, done when: a case closes while its receiver is down and a new episode opens at
    once (202); the pushes arrive once the receiver is back, exactly once per message id."""
    dispatcher = Dispatcher(store)
    t0 = datetime.now(UTC)
    ref = new_ref()
    case_id = await api.open_case(ref)
    r = await api.send("operator", event("case_closed", ref, reason="test"))
    assert r.status_code == 202
    await api.client.get_workflow_handle(case_id).result()  # the run ended: it waited for no push
    r = await api.send("woonbron", arrears(ref))  # a new episode, at once
    assert r.status_code == 202, r.text

    first = await dispatcher.dispatch_due(t0 + timedelta(seconds=1))  # nobody listens
    assert first.attempted == 3 and first.delivered == 0
    msgs = await inbox(api)
    assert [m["action"] for m in msgs] == ["tenant_notice_sent", "case_closed", "tenant_notice_sent"]
    for m in msgs:
        assert m["delivery"]["state"] == "pending" and m["delivery"]["attempts"] == 1
        assert m["delivery"]["last_error"] == "unreachable" and m["delivery"]["next_attempt_at"]
    assert (await dispatcher.dispatch_due(t0 + timedelta(seconds=2))).attempted == 0  # backing off

    await receiver.start()
    done = await dispatcher.dispatch_due(t0 + timedelta(hours=1))
    assert (done.attempted, done.delivered) == (3, 3)
    assert (await dispatcher.dispatch_due(t0 + timedelta(days=5))).attempted == 0
    assert receiver.handled == {str(m["id"]): 1 for m in msgs}
    assert all(m["delivery"]["state"] == "delivered" and m["delivery"]["delivered_at"]
               for m in await inbox(api))


async def test_retries_give_up_after_the_period_and_an_operator_redelivers(api, receiver, store, capsys):
    dispatcher = Dispatcher(store)
    t0 = datetime.now(UTC)
    await receiver.start()
    receiver.answers = [503] * 1000
    await api.open_case()
    now, attempts = t0, 0
    while (await inbox(api))[0]["delivery"]["state"] == "pending":
        now += timedelta(hours=1)
        attempts += (await dispatcher.dispatch_due(now)).attempted
        assert now < t0 + timedelta(days=4)
    [msg] = await inbox(api)
    assert msg["delivery"]["state"] == "failed" and msg["delivery"]["last_error"] == "http_503"
    assert now >= t0 + timedelta(days=3) - timedelta(hours=1)  # retried for the period (3 days)
    assert attempts == msg["delivery"]["attempts"] > 60
    [row] = await status(store.sessions, "woonbron")
    assert (row.pending, row.delivered, row.failed, row.last_error) == (0, 0, 1, "http_503")

    receiver.answers = []
    assert await redeliver(store.sessions, party="woonbron") == 1
    assert (await dispatcher.dispatch_due()).delivered == 1
    assert (await inbox(api))[0]["delivery"]["state"] == "delivered"


async def test_a_refusal_or_a_redirect_is_final(api, receiver, store):
    dispatcher = Dispatcher(store)
    await receiver.start()
    receiver.answers = [410, 302]
    await api.open_case()
    await api.open_case()
    result = await dispatcher.dispatch_due(datetime.now(UTC) + timedelta(seconds=1))
    assert (result.attempted, result.failed) == (2, 2)
    assert sorted(m["delivery"]["last_error"] for m in await inbox(api)) == ["http_302", "http_410"]
    assert len(receiver.requests) == 2  # the redirect was not followed


async def test_the_cli_shows_and_redelivers(api, receiver, store, sqlite_settings, monkeypatch):
    from typer.testing import CliRunner

    from starter.cli import app, load_commands

    load_commands()
    monkeypatch.setenv("DATABASE_URL", sqlite_settings.database_url)
    await api.open_case()
    await Dispatcher(store).dispatch_due(datetime.now(UTC) + timedelta(seconds=1))  # nobody listens
    def cli(*args: str):  # noqa: ANN202 - the commands run their own event loop
        return asyncio.to_thread(CliRunner().invoke, app, list(args))

    out = await cli("webhooks", "status", "--party", "woonbron")
    assert out.exit_code == 0, out.output
    assert "woonbron" in out.output and "unreachable" in out.output
    [msg] = await inbox(api)
    out = await cli("webhooks", "redeliver", str(msg["id"]))
    assert out.exit_code == 0 and "1 message(s)" in out.output, out.output
    assert (await cli("webhooks", "redeliver", "--party", "woonbron")).exit_code != 0
    assert (await cli("webhooks", "redeliver", "--party", "woonbron", "--failed")).exit_code == 0
    out = await cli("webhooks", "secret")
    assert out.output.strip().splitlines()[-1].startswith("whsec_")
