"""vangnet's Schedules on the dev server: applied twice (the second time an update that keeps an
operator's pause), then each triggered once, and its result found: archive rows, report files
under the reports directory, a message in the Adviesgroep's inbox, a purge that ran."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import sqlalchemy as sa
from temporalio.client import Client

from tests.histories import HISTORIES
from vangnet.audit import history_json
from vangnet.operations import ArchiverResult, PurgeResult, ReportFiles
from vangnet.scenarios import InDays, Region, Scenario, run_scenario, send, wait_settled
from vangnet.schedules import ANNUAL, ARCHIVER, PURGE, QUARTERLY, apply_schedules
from vangnet.settings import Settings
from vangnet.store import Store
from vangnet.store.inbox import list_messages
from workers import build_worker

WAIT = 60.0
# VANGNET_REGENERATE_HISTORIES=1 also rewrites the replay fixtures of these workflows
# (tests/replay/test_operations_replay.py replays them).
OPERATIONS_HISTORIES = HISTORIES / "operations"
REGENERATE = os.environ.get("VANGNET_REGENERATE_HISTORIES") == "1"


async def _eventually(check, timeout: float = WAIT):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := await check()):
        assert loop.time() < deadline, "timed out waiting for Temporal"
        await asyncio.sleep(0.2)
    return value


async def _trigger_once(client: Client, schedule_id: str, result_type: type):
    """Trigger the schedule and return the result of the workflow run it started."""
    handle = client.get_schedule_handle(schedule_id)
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()

    async def started():
        actions = (await handle.describe()).info.recent_actions
        return actions[-1].action if len(actions) > before else None

    action = await _eventually(started)
    run = client.get_workflow_handle(action.workflow_id, run_id=action.first_execution_run_id,
                                     result_type=result_type)
    result = await run.result()
    if REGENERATE:
        name = schedule_id.split("-", 1)[1]  # without the test's prefix
        OPERATIONS_HISTORIES.mkdir(exist_ok=True)
        (OPERATIONS_HISTORIES / f"{name}.json").write_text(
            history_json(await run.fetch_history()), encoding="utf-8")
        # the workflow id is not in a history file, and a child's id is made from it
        index = OPERATIONS_HISTORIES / "workflow_ids.json"
        ids = json.loads(index.read_text()) if index.exists() else {}
        ids[name] = action.workflow_id
        index.write_text(json.dumps(ids, indent=1, sort_keys=True) + "\n")
    return result


async def test_each_schedule_runs_when_triggered(temporal_env, task_queue, tmp_path):
    client = temporal_env.client
    reports = tmp_path / "reports"
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/vangnet.db",
                        VANGNET_REPORTS_DIR=str(reports))
    store = await Store.open(settings)
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    own = f"TaskQueue = '{task_queue}'"
    try:
        async with build_worker(client, store, task_queue):
            # a case that closes at once, for the archiver to find
            scenario = Scenario("scheduled", "poort6", "gorinchem", f"S-{uuid.uuid4().hex[:8]}", [
                send("arrears_reported", arrears_cents=80_000, monthly_rent_cents=80_000,
                     arrears_since=InDays(-10)),
                send("case_closed", "operator", reason="dubbel aangemeld"),
            ])
            result = await run_scenario(temporal_env, scenario, task_queue=task_queue,
                                        region=Region.from_registry(), settle=True)
            await wait_settled(result.handle)

            applied = await apply_schedules(client, settings, task_queue, prefix=prefix,
                                            archive_query=own)
            assert [(a.schedule_id, a.result) for a in applied] == [
                (f"{prefix}{s}", "created") for s in (ARCHIVER, QUARTERLY, ANNUAL, PURGE)]
            quarterly = client.get_schedule_handle(f"{prefix}{QUARTERLY}")
            desc = await quarterly.describe()
            assert desc.schedule.spec.time_zone_name == "Europe/Amsterdam"
            assert desc.info.next_action_times and desc.info.next_action_times[0].hour in (5, 6)
            await quarterly.pause(note="paused by an operator")
            again = await apply_schedules(client, settings, task_queue, prefix=prefix,
                                          archive_query=own)
            assert {a.schedule_id: (a.result, a.paused) for a in again}[f"{prefix}{QUARTERLY}"] \
                == ("updated", True)
            state = (await quarterly.describe()).schedule.state
            assert state.paused and state.note == "paused by an operator"
            await quarterly.unpause()

            async def listed() -> bool:
                return (await client.count_workflows(
                    f"WorkflowId = '{scenario.case_id}' AND ExecutionStatus != 'Running'")).count == 1

            await _eventually(listed)
            archived = await _trigger_once(client, f"{prefix}{ARCHIVER}", ArchiverResult)
            assert archived.totals.get("archived") == 1
            async with store.engine.connect() as conn:
                rows = (await conn.execute(sa.text(
                    "SELECT case_id, status, outcome FROM case_archive"))).all()
            assert [tuple(r) for r in rows] == [(scenario.case_id, "completed", "withdrawn")]

            for schedule, kind in ((QUARTERLY, "monitoring"), (ANNUAL, "naleving")):
                files = await _trigger_once(client, f"{prefix}{schedule}", ReportFiles)
                assert files.kind == kind and files.public and files.internal
                for name in files.public + files.internal:
                    assert (reports / name).is_file()
                assert any(name.endswith(".html") for name in files.public)
                assert all(Path(name).parts[-2] == "intern" for name in files.internal)
            messages = await list_messages(store.sessions, "adviesgroep")
            assert [(m.action, m.payload["kind"]) for m in messages] == [
                ("report_published", "monitoring"), ("report_published", "naleving")]
            assert all(m.payload["files"] and "<5" in m.payload["text"] for m in messages)

            purged = await _trigger_once(client, f"{prefix}{PURGE}", PurgeResult)
            assert purged.cases == 0  # nothing is past its retention yet
    finally:
        for schedule in (ARCHIVER, QUARTERLY, ANNUAL, PURGE):
            try:
                await client.get_schedule_handle(f"{prefix}{schedule}").delete()
            except Exception:
                pass
        await store.close()
