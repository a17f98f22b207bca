"""Webhooks: inbox messages also POSTed to a party's webhook_url, signed, retried, idempotent.

The receiver is a real HTTP server on 127.0.0.1 (asyncio streams); it keeps the Idempotency-Keys
it has handled, as the README asks receivers to.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest_asyncio
import sqlalchemy as sa
from temporalio.worker import Replayer

from activities.webhooks import verify
from tests.api.conftest import event, new_ref
from vangnet.scenarios import wait_settled
from vangnet.store.models import Party
from workflows import TenantCaseWorkflow

SECRET = "s3cret-for-tests"


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
    handled: dict[str, int] = field(default_factory=dict)  # Idempotency-Key -> times handled
    port: int = 0

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
            key = headers.get("idempotency-key", "")
            if status == 200 and key not in self.handled:  # a key seen before is acknowledged only
                self.handled[key] = 1
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    async def wait_for(self, n: int, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.requests) < n:
            assert loop.time() < deadline, f"receiver got {len(self.requests)} of {n} requests"
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def receiver(store) -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with store.sessions() as session, session.begin():
        await session.execute(
            sa.update(Party).where(Party.code == "woonbron").values(
                webhook_url=f"http://127.0.0.1:{rec.port}/vangnet", webhook_secret=SECRET)
        )
    async with server:
        yield rec


async def test_each_inbox_message_is_posted_signed_to_the_partys_webhook(api, receiver):
    ref = new_ref()
    case_id = await api.open_case(ref)
    await receiver.wait_for(1)
    [inbox_msg] = (await api.get("/v1/inbox", "woonbron")).json()["messages"]
    [req] = receiver.requests
    assert req.path == "/vangnet"
    assert verify(SECRET, req.body, req.headers["x-vangnet-signature"])
    assert req.headers["x-vangnet-signature"].startswith("sha256=")
    assert not verify("another secret", req.body, req.headers["x-vangnet-signature"])
    assert req.headers["idempotency-key"] == inbox_msg["idempotency_key"]
    assert req.headers["x-vangnet-message-id"] == str(inbox_msg["id"])
    doc = json.loads(req.body)
    assert doc["message_id"] == inbox_msg["id"] and doc["party"] == "woonbron"
    assert (doc["case_id"], doc["action"]) == (case_id, "tenant_notice_sent")
    assert doc["payload"] == inbox_msg["payload"]

    # The closing message goes out too, before the case's run ends; parties without a webhook
    # (the municipality, sdd, ...) get nothing posted, only their inbox message.
    await api.send("operator", event("case_closed", ref, reason="test"))
    await api.client.get_workflow_handle(case_id).result()
    assert [json.loads(r.body)["action"] for r in receiver.requests] == ["tenant_notice_sent", "case_closed"]
    assert all(json.loads(r.body)["party"] == "woonbron" for r in receiver.requests)

    # The webhook path is behind the patch "webhooks-v1", and its history replays.
    history = await api.client.get_workflow_handle(case_id).fetch_history()
    patches = {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    }
    assert "webhooks-v1" in patches, f"the webhooks-v1 patch marker is missing (found {patches})"
    replayer = Replayer(workflows=[TenantCaseWorkflow], data_converter=api.client.data_converter)
    await replayer.replay_workflow(history)


async def test_a_failed_delivery_is_retried_and_handled_once(api, receiver):
    receiver.answers = [500, 503]
    case_id = await api.open_case()
    await receiver.wait_for(3)
    first, second, third = receiver.requests
    assert [r.status for r in receiver.requests] == [500, 503, 200]
    assert first.body == second.body == third.body
    assert first.headers["idempotency-key"] == third.headers["idempotency-key"]
    assert all(verify(SECRET, r.body, r.headers["x-vangnet-signature"]) for r in receiver.requests)
    assert receiver.handled == {first.headers["idempotency-key"]: 1}
    # Delivered: the case has no webhook activity left in flight, and no more attempts came.
    await wait_settled(api.client.get_workflow_handle(case_id))
    assert len(receiver.requests) == 3
