"""The `temporal` CLI reads a case through the codec server (`--codec-endpoint`, `--codec-auth
"Bearer <operator key>"`), as the README shows operators; without a key it gets nothing decoded."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import uuid

import pytest_asyncio
import uvicorn

from vangnet import codec
from vangnet.codec_server import create_app
from vangnet.domain import CaseInput, case_id_for
from vangnet.settings import Settings
from vangnet.store.apikeys import create_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture
async def codec_url(store):
    """The codec server on a free port, in this process (the test keys, the test's store)."""
    port = free_port()
    app = create_app(codec.process_keyring(), store=store, settings=Settings())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def show(address: str, case_id: str, *codec_flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("temporal") or "temporal", "workflow", "show", "--address", address,
         "--workflow-id", case_id, "--output", "json", *codec_flags],
        capture_output=True, text=True, timeout=60)


def start_input(output: str) -> dict:
    started = json.loads(output)["events"][0]["workflowExecutionStartedEventAttributes"]
    return started["input"]["payloads"][0]


async def test_the_temporal_cli_decodes_a_case_with_an_operator_key(temporal_env, store, codec_url):
    ref = f"C-{uuid.uuid4().hex[:8]}"
    case_id = case_id_for("woonbron", ref)
    # No worker: the start event alone holds the (encrypted) input.
    handle = await temporal_env.client.start_workflow(
        "TenantCaseWorkflow", CaseInput(tenancy_ref=ref, corporation="woonbron", municipality="dordrecht"),
        id=case_id, task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    address = temporal_env.client.service_client.config.target_host
    try:
        key, _ = await create_key(store.sessions, None, "operator")
        out = await asyncio.to_thread(show, address, case_id)
        assert out.returncode == 0, out.stderr
        raw = start_input(out.stdout)
        assert base64.b64decode(raw["metadata"]["encoding"]) == codec.ENCODING
        assert ref.encode() not in base64.b64decode(raw["data"])

        out = await asyncio.to_thread(show, address, case_id, "--codec-endpoint", codec_url,
                                      "--codec-auth", f"Bearer {key}")
        assert out.returncode == 0, out.stderr
        decoded = start_input(out.stdout)
        assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
        assert json.loads(base64.b64decode(decoded["data"]))["tenancy_ref"] == ref

        # What the CLI sends goes through /encode: stored encrypted with the server's keys.
        sent = await asyncio.to_thread(subprocess.run, [
            shutil.which("temporal") or "temporal", "workflow", "signal", "--address", address,
            "--workflow-id", case_id, "--name", "reminder_sent", "--codec-endpoint", codec_url,
            "--codec-auth", f"Bearer {key}", "--input",
            '{"event_id": "cli-1", "source": "woonbron", "tenant_objects_to_signal": false}'],
            capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        history = await handle.fetch_history()
        [signal] = [e.workflow_execution_signaled_event_attributes for e in history.events
                    if e.HasField("workflow_execution_signaled_event_attributes")]
        assert codec.key_id_of(signal.input.payloads[0]) == codec.process_keyring().current_id
        assert (await temporal_env.client.data_converter.decode(signal.input.payloads, [dict]))[0][
            "event_id"] == "cli-1"

        party, _ = await create_key(store.sessions, "woonbron", "party")
        out = await asyncio.to_thread(show, address, case_id, "--codec-endpoint", codec_url,
                                      "--codec-auth", f"Bearer {party}")
        refused = out.returncode != 0 or ref.encode() not in base64.b64decode(start_input(out.stdout)["data"])
        assert refused, "a party's key decoded a case through the codec server"
    finally:
        await handle.terminate()
