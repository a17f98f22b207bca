"""Free text out of reach (issue 12): a marker that looks like personal data goes through every
free-text field, and the test asserts where it may and may not appear.

The free-text fields: `signal_bounced.reason` and `case_closed.reason` (RULES §4), and what an
`ignored` entry's reason echoes of its input (an unknown event name, a field name, a source,
sent straight to Temporal as the CLI allows). `event_id` is restricted to a safe character set by
issue 8, and the intake's own table and logs are issue 9's: the tests that need those branches
are marked as such.

May appear: in the case's encrypted payloads, that is in the signal input and the case state
read through the codec (an operator's or auditor's view), and in the ciphertext decrypted with
the key. May not appear: anywhere plain in `temporal workflow show --output json` (the raw
history), the search attributes, the summaries and details, the current details, the logs
(ours, the SDK's, the server's output in this process), the inbox rows and webhook bodies, and
any raw row of the case store (SQLite file bytes included; PostgreSQL in the `postgres` run).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlmodel import SQLModel
from standardwebhooks import Webhook
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import WorkflowMetadata

from activities.dispatch import Dispatcher
from tests.api.conftest import arrears, event, new_event_id, new_ref
from tests.api.test_webhooks import SECRET, Receiver, sqlite_settings  # noqa: F401 - loopback allowed
from vangnet import codec
from vangnet.scenarios import wait_settled
from vangnet.store.models import Party

# What a tester typed into a reason (issue 12): a name, a BSN, an address, and a unique token.
MARKER = "Mevr. J. de Vries (BSN 123456782), Kerkstraat 1 vangnet-marker-7Q4Z"
FRAGMENTS = ("vangnet-marker-7Q4Z", "Kerkstraat", "123456782", "de Vries")

# Plain payloads Temporal writes itself (vangnet/codec.py): search attributes, the SDK core's
# patch marker and its local-activity marker bookkeeping. Everything else is encrypted.
PLAIN_ALLOWED = (".searchAttributes.indexedFields.", ".markerRecordedEventAttributes.details.patch-data",
                 ".markerRecordedEventAttributes.details.data")


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return [f for f in FRAGMENTS if f in text]


def leaking_fields(doc: Any, path: str = "") -> list[str]:
    """The paths of the string fields of a JSON document that hold a fragment of the marker."""
    if isinstance(doc, dict):
        return [p for key, value in doc.items() for p in leaking_fields(value, f"{path}.{key}")]
    if isinstance(doc, list):
        return [p for value in doc for p in leaking_fields(value, path)]
    return [path] if isinstance(doc, str) and leaks(doc) else []


def payloads_in_json(doc: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(path, payload) of every payload in a history as JSON (`temporal workflow show`)."""
    found = []
    if isinstance(doc, dict):
        if isinstance(doc.get("metadata"), dict) and "encoding" in doc["metadata"]:
            found.append((path, doc))
        for key, value in doc.items():
            found += payloads_in_json(value, f"{path}.{key}")
    elif isinstance(doc, list):
        for value in doc:
            found += payloads_in_json(value, path)
    return found


@pytest_asyncio.fixture
async def receiver(store, monkeypatch):
    """Every party has a webhook: a real local HTTP server that keeps each request."""
    monkeypatch.setenv("MARKER_TEST_WEBHOOK_SECRETS", SECRET)
    rec = Receiver()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with store.sessions() as session, session.begin():
        await session.execute(sa.update(Party).values(
            webhook_url=f"http://127.0.0.1:{rec.port}/hook",
            webhook_secret_ref="env:MARKER_TEST_WEBHOOK_SECRETS"))
    async with server:
        yield rec


async def current_details(handle) -> str:
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


async def raw_signal(api, handle, name: str, body: dict[str, Any], *, wait_source: str) -> None:
    """A signal straight to Temporal (as `temporal workflow signal` sends it), then wait until
    the case recorded it."""
    await handle.signal(name, body)
    await api.settled(handle.id, body["event_id"], source=wait_source)


async def store_dump(store) -> str:
    """Every row of every table of the case store, as text."""
    lines = []
    async with store.engine.connect() as conn:
        for table in [*SQLModel.metadata.sorted_tables, sa.table("alembic_version")]:
            rows = (await conn.execute(sa.text(f"SELECT * FROM {table.name}"))).all()
            lines += [f"{table.name}: {tuple(row)!r}" for row in rows]
    return "\n".join(lines)


def raw_db_bytes(store) -> bytes:
    """A SQLite store's files as bytes (pages of deleted rows too); nothing for PostgreSQL."""
    if store.engine.url.get_backend_name() != "sqlite":
        return b""
    path = Path(store.engine.url.database)
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_free_text_stays_encrypted_and_out_of_every_plain_place(
        api, receiver, store, temporal_env, capfd, caplog):
    client = api.client
    ref = new_ref()
    case_id = await api.open_case(ref)
    handle = client.get_workflow_handle(case_id)
    details: list[str] = []

    # signal_bounced.reason, twice: ignored (no early signal yet: kept as event_reason), then
    # applied after the tenant referred themselves (R5(b): the MPZO is told, by code).
    r = await api.send("dordrecht", event("signal_bounced", ref, municipality="dordrecht", reason=MARKER))
    # (recorded as ignored, and the sender told so: RULES §12 I2; its message holds no free text)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "event_ignored"), r.text
    assert MARKER not in r.text
    details.append(await current_details(handle))
    r = await api.send("woonbron", event("self_referral", ref))
    assert r.status_code == 202, r.text
    r = await api.send("dordrecht", event("signal_bounced", ref, reason=MARKER))
    assert r.status_code == 202, r.text
    details.append(await current_details(handle))

    # Ignored reasons that echo their input: an unknown event name, a field name, a source.
    await raw_signal(api, handle, MARKER, {"event_id": new_event_id(), "source": "woonbron"},
                     wait_source="woonbron")
    await raw_signal(api, handle, "reminder_sent",
                     {"event_id": new_event_id(), "source": "woonbron",
                      "tenant_objects_to_signal": False, MARKER: 1}, wait_source="woonbron")
    await raw_signal(api, handle, "help_accepted", {"event_id": new_event_id(), "source": MARKER},
                     wait_source=MARKER)
    details.append(await current_details(handle))

    # case_closed.reason: the operator closes the case; every party involved gets the message.
    r = await api.send("operator", event("case_closed", ref, reason=MARKER))
    assert r.status_code == 202, r.text
    await handle.result()
    await Dispatcher(store).dispatch_due()  # the webhook outbox (issue 10): every message pushed
    details.append(await current_details(handle))
    await wait_settled(handle)

    # ---- where it may appear: the encrypted case, read through the codec ---------------------
    state = await handle.query("state")
    kept = [e["detail"] for e in state["timeline"]
            if MARKER in (e["detail"].get("reason"), e["detail"].get("event_reason"))]
    assert len(kept) == 3, "both signal_bounced reasons and the case_closed reason are kept"
    assert sum(1 for e in state["timeline"] if e["category"] == "ignored") >= 4
    history = await handle.fetch_history()
    signal_inputs = [
        (await client.data_converter.decode(
            e.workflow_execution_signaled_event_attributes.input.payloads, [dict]))[0]
        for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]
    # (the intake sends events as the update submit_event, RULES §12 I1)
    update_inputs = [
        (await client.data_converter.decode(
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads,
            [dict]))[0]["event"]
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert sum(1 for body in signal_inputs + update_inputs if body.get("reason") == MARKER) == 3

    # ---- the raw history: encrypted, and the marker is only in the ciphertext ----------------
    target = temporal_env.client.service_client.config.target_host
    shown = subprocess.run(
        [shutil.which("temporal") or "temporal", "workflow", "show", "--address", target,
         "--workflow-id", case_id, "--output", "json"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    # Plain only where the sender put it: the name of the raw signal sent straight to Temporal
    # (signal names are plain by Temporal's design; the intake sends known event names only).
    assert leaking_fields(json.loads(shown)) == [
        ".events.workflowExecutionSignaledEventAttributes.signalName"]
    payloads = payloads_in_json(json.loads(shown))
    plain = [path for path, p in payloads
             if base64.b64decode(p["metadata"]["encoding"]) != codec.ENCODING]
    assert [p for p in plain if not any(allowed in p for allowed in PLAIN_ALLOWED)] == []
    assert len(payloads) - len(plain) > 20
    decrypted = b"".join(
        codec.decrypt_payload(Payload(
            metadata={k: base64.b64decode(v) for k, v in p["metadata"].items()},
            data=base64.b64decode(p.get("data", "")))).data
        for _, p in payloads)
    assert leaks(decrypted), "the ciphertext holds the marker (decrypted with the key)"

    # ---- search attributes, summaries, details, current details ------------------------------
    desc = await handle.describe()
    assert leaks(repr(desc.typed_search_attributes)) == []
    assert leaks(f"{desc.static_summary}\n{desc.static_details}") == []
    summaries = []
    for e in history.events:
        if e.HasField("user_metadata"):
            for field in ("summary", "details"):
                if e.user_metadata.HasField(field):
                    [text] = await client.data_converter.decode([getattr(e.user_metadata, field)], [str])
                    summaries.append(text)
    assert summaries and leaks("\n".join(summaries)) == []
    assert all(details) and leaks("\n".join(details)) == []
    assert "onbekende melding" in details[2], "the unknown event is shown, not its name"

    # ---- inbox messages, webhook bodies, every row of the case store --------------------------
    messages = (await api.get("/v1/inbox?after=0&limit=100", "mpzo")).json()["messages"]
    assert {m["action"] for m in messages} >= {"mpzo_notified", "case_closed"}
    assert receiver.requests and all(Webhook(SECRET).verify(r.body, r.headers)
                                     for r in receiver.requests)
    assert {json.loads(r.body)["action"] for r in receiver.requests} >= {"mpzo_notified", "case_closed"}
    assert leaks(b"\n".join(r.body for r in receiver.requests)) == []
    dump = await store_dump(store)
    assert "inbox_message" in dump and case_id in dump
    assert leaks(dump) == []
    assert leaks(raw_db_bytes(store)) == []

    # ---- logs: structlog, the SDK, anything written to this process's stdout/stderr ----------
    out, err = capfd.readouterr()
    assert "inbox_message_delivered" in out + err + caplog.text
    assert leaks(out + err) == [] and leaks(caplog.text) == []


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_intake_refusal_does_not_log_the_text_it_refuses(api, capfd, caplog):
    ref = new_ref()
    await api.open_case(ref)
    r = await api.send("woonbron", {**event("reminder_sent", ref, tenant_objects_to_signal=False),
                                    MARKER: 1})
    assert r.status_code in (400, 422), r.text
    out, err = capfd.readouterr()
    assert leaks(out + err + caplog.text) == []


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_the_mpzo_does_not_read_a_free_text_reason_on_the_timeline(api):
    ref = new_ref()
    await api.open_case(ref)
    await api.send("woonbron", event("self_referral", ref))
    r = await api.send("dordrecht", event("signal_bounced", ref, reason=MARKER))
    assert r.status_code == 202, r.text
    timeline = await api.get(f"/v1/cases/case-woonbron-{ref}/timeline", "mpzo")
    assert timeline.status_code == 200, timeline.text
    assert leaks(timeline.text) == []


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_event_id_cannot_carry_free_text(api, store):
    ref = new_ref()
    r = await api.send("woonbron", arrears(ref, event_id=MARKER))
    assert r.status_code in (400, 422), r.text
    assert leaks(await store_dump(store)) == []
