"""The archive against a live server: a case that continued as new and closed is archived by the
archiver workflow, deleted from Temporal (`temporal workflow delete`), and still audited, replayed,
exported and read (archived_case) from the case store, each saying it came from the archive."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

import starter.archive
import starter.audit  # noqa: F401
from starter.cli import app
from starter.service import IntakeError, IntakeService, Principal
from tests.conftest import temporal_binary
from vangnet.archive import archived_case
from vangnet.domain import PartyKind
from vangnet.operations import ArchiverInput, ArchiverResult
from vangnet.scenarios import InDays, Region, Scenario, run_scenario, send, wait, wait_settled
from vangnet.settings import get_settings
from workflows import CaseArchiverWorkflow

VISIBILITY_WAIT = 30.0
# The dev server carries out a deletion with its next pass over the history's tasks: measured
# here, 30-50 s after `temporal workflow delete` returns.
DELETION_WAIT = 180.0


async def _query_when_ready(handle, name: str):  # noqa: ANN001, ANN202
    """A run that has just continued as new answers queries once its first workflow task ran
    (with time skipping, a signal can wait a moment for it: "Workflow task is not scheduled yet")."""
    for _ in range(100):
        try:
            return await handle.query(name)
        except RPCError as err:
            if "not scheduled yet" not in err.message:
                raise
            await asyncio.sleep(0.1)
    return await handle.query(name)


@pytest.fixture
def cli(temporal_env, sqlite_settings, monkeypatch):
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", temporal_env.client.namespace)
    monkeypatch.setenv("DATABASE_URL", sqlite_settings.database_url)
    get_settings.cache_clear()

    async def invoke(*args: str):
        return await asyncio.to_thread(CliRunner().invoke, app, list(args))

    yield invoke
    get_settings.cache_clear()


async def _eventually(check, timeout: float = VISIBILITY_WAIT):
    """Visibility and deletion are asynchronous in Temporal: poll until `check()` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert loop.time() < deadline, "timed out waiting for Temporal"
        await asyncio.sleep(0.2)


async def test_an_archived_case_outlives_its_deletion_from_temporal(
        temporal_env, store, worker, task_queue, cli, tmp_path):
    client = temporal_env.client
    scenario = Scenario("archived", "rhiant", "alblasserdam", f"AR-{uuid.uuid4().hex[:8]}", [
        send("arrears_reported", arrears_cents=70_000, monthly_rent_cents=70_000,
             arrears_since=InDays(-20)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=12), send("help_accepted", "social_team"),
        *[step for n in range(4) for step in (
            wait(days=7), send("payment_received", amount_cents=10_000,
                               arrears_cents=60_000 - n * 10_000))],
        wait(days=3), send("tenancy_ended", reason="moved_out"),
    ], history_limit=40)
    result = await run_scenario(temporal_env, scenario, task_queue=task_queue,
                                region=Region.from_registry(), settle=True)
    await wait_settled(result.handle)
    case_id = scenario.case_id
    live_status = await _query_when_ready(result.handle, "status")
    live_timeline = await result.handle.query("timeline")
    assert live_status["outcome"] == "tenancy_ended"

    out = await cli("audit", case_id, "--format", "json")
    assert out.exit_code == 0, out.output
    live = json.loads(out.stdout)
    assert live["replay"]["source"] == "temporal" and len(live["replay"]["runs"]) >= 2

    # The archiver finds the closed runs through visibility (once it lists them all) and copies them.
    query = f"WorkflowId = '{case_id}'"
    runs = len(live["replay"]["runs"])

    await _eventually(lambda: _count_ok(client, query, runs))
    done = await client.execute_workflow(
        CaseArchiverWorkflow.run, ArchiverInput(query=query), id=f"archiver-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue, result_type=ArchiverResult)
    assert done.totals == {"seen": runs, "archived": runs}
    again = await client.execute_workflow(
        CaseArchiverWorkflow.run, ArchiverInput(query=query), id=f"archiver-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue, result_type=ArchiverResult)
    assert again.totals == {"seen": runs}  # idempotent: nothing copied twice
    out = await cli("archive", "--query", query)  # the catch-up command agrees
    assert out.exit_code == 0 and f"{runs} already in the archive" in out.stdout, out.output

    # Delete every run from Temporal, as its retention would.
    address = client.service_client.config.target_host
    for run in live["replay"]["runs"]:
        subprocess.run([temporal_binary(), "workflow", "delete", "--address", address,
                        "--namespace", client.namespace, "--workflow-id", case_id,
                        "--run-id", run["run_id"], "--yes"], check=True, capture_output=True)

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(case_id).describe()
        except RPCError as err:
            return err.status == RPCStatusCode.NOT_FOUND
        return False

    await _eventually(gone, DELETION_WAIT)

    # audit: the same timeline and verdicts, replayed from the archive
    out = await cli("audit", case_id, "--format", "json")
    assert out.exit_code == 0, out.output
    archived = json.loads(out.stdout)
    assert archived["replay"]["source"] == "archive" and archived["replay"]["deterministic"]
    assert [r["run_id"] for r in archived["replay"]["runs"]] == \
        [r["run_id"] for r in live["replay"]["runs"]]
    assert archived["timeline"] == live["timeline"]
    assert archived["compliance"] == live["compliance"]
    out = await cli("audit", case_id)
    assert "history from: the case store's archive" in out.stdout

    # export, then replay the exported files offline: the same again
    out = await cli("export", case_id, "-o", f"{tmp_path}/")
    assert out.exit_code == 0 and "from the case store's archive" in out.stdout, out.output
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == runs
    out = await cli("audit", *[a for f in files for a in ("--history", str(f))], "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["timeline"] == live["timeline"]

    # audit --all includes it, from the archive
    out = await cli("audit", "--all", "--municipality", "alblasserdam", "--format", "json")
    assert out.exit_code in (0, 3), out.output
    region = json.loads(out.stdout)
    [ours] = [c for c in region["cases"] if c["case_id"] == case_id]
    assert ours["deterministic"] and ours["outcome"] == "tenancy_ended"
    assert region["replay"]["sources"].get("archive", 0) >= 1

    # the API's read, through archived_case: the status and timeline the case answered
    case = await archived_case(store, case_id)
    assert case is not None and case.source == "archive"
    assert case.timeline == live_timeline
    assert {k: case.status[k] for k in ("case_id", "stage", "track", "closed", "outcome")} == \
        {k: live_status[k] for k in ("case_id", "stage", "track", "closed", "outcome")}
    assert case.status == live_status

    # ... and the intake's reads themselves (RULES §10 GET /v1/cases/{id}, /timeline) answer from
    # the archive, saying so, for whoever may read the case, and 404 for whoever may not (I3).
    service = IntakeService(store, client, task_queue)
    for reader in (Principal("operator", None, PartyKind.operator),
                   Principal("party", "rhiant", PartyKind.corporation)):
        status = await service.case_status(reader, case_id, route="test")
        assert status == {**live_status, "source": "archive"}
        assert await service.case_timeline(reader, case_id, route="test") == live_timeline
    for outsider in (Principal("party", "woonbron", PartyKind.corporation),
                     Principal("party", "avres", PartyKind.social_service)):
        with pytest.raises(IntakeError) as refused:
            await service.case_status(outsider, case_id, route="test")
        assert (refused.value.status, refused.value.code) == (404, "case_not_found")
    with pytest.raises(IntakeError) as missing:
        await service.case_status(Principal("operator", None, PartyKind.operator),
                                  f"case-rhiant-NO-{uuid.uuid4().hex[:6]}", route="test")
    assert (missing.value.status, missing.value.code) == (404, "case_not_found")


async def _count_ok(client, query: str, runs: int) -> bool:
    closed = 0
    async for e in client.list_workflows(query):
        if e.status != WorkflowExecutionStatus.RUNNING:
            closed += 1
    return closed == runs
