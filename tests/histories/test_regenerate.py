"""Regenerates the replay fixtures: drives every scenario of scenarios.py through the real worker
on the test server, then exports each case's runs. Skipped unless VANGNET_REGENERATE_HISTORIES=1."""

from __future__ import annotations

import asyncio
import os

import pytest
import sqlalchemy as sa

from starter.audit import export_paths
from tests.histories import ENCRYPTED, HISTORIES, WEBHOOKS, history_files
from tests.histories.rotation import run_rotated_case
from tests.histories.scenarios import SCENARIOS, WEBHOOK_SCENARIO
from vangnet.audit import fetch_episode, history_json
from vangnet.scenarios import Region, RunResult, run_all, wait_settled
from vangnet.store.models import Party

pytestmark = pytest.mark.skipif(
    os.environ.get("VANGNET_REGENERATE_HISTORIES") != "1",
    reason="set VANGNET_REGENERATE_HISTORIES=1 to rewrite tests/histories/*.json",
)


async def test_regenerate_histories(temporal_env, worker, task_queue):
    results = await run_all(temporal_env, SCENARIOS, task_queue=task_queue,
                            region=Region.from_registry(), concurrency=len(SCENARIOS), settle=True)
    episodes = {}
    for scenario, result in zip(SCENARIOS, results, strict=False):
        assert isinstance(result, RunResult), result
        episodes[scenario.name] = await settled_episode(temporal_env.client, result.handle)
    for old in history_files():
        old.unlink()
    for scenario in SCENARIOS:
        runs = episodes[scenario.name]
        for path, run in zip(export_paths(scenario.name, HISTORIES, len(runs)), runs, strict=False):
            path.write_text(history_json(run.history), encoding="utf-8")
    names = {p.name.split(".")[0] for p in history_files()}
    assert names == {s.name for s in SCENARIOS}
    assert len(history_files("continue_as_new")) >= 2, "the history limit did not continue-as-new"


async def test_regenerate_encrypted_histories(temporal_env, store, task_queue):
    """encrypted/key_rotation.json: a full case across a key rotation (tests/histories/rotation.py)."""
    handle = await run_rotated_case(temporal_env, store, task_queue, "H-key-rotation")
    [run] = await fetch_episode(temporal_env.client, handle.id)
    ENCRYPTED.mkdir(exist_ok=True)
    (ENCRYPTED / "key_rotation.json").write_text(history_json(run.history), encoding="utf-8")


async def test_regenerate_webhook_history(temporal_env, store, worker, task_queue):
    """webhooks/webhook_outbox.json: a case whose corporation has a webhook (issue 10)."""
    async with store.sessions() as session, session.begin():
        await session.execute(sa.update(Party).where(Party.code == WEBHOOK_SCENARIO.corporation)
                              .values(webhook_url="https://receiver.example/vangnet"))
    [result] = await run_all(temporal_env, [WEBHOOK_SCENARIO], task_queue=task_queue,
                             region=Region.from_registry(), concurrency=1, settle=True)
    assert isinstance(result, RunResult), result
    [run] = await settled_episode(temporal_env.client, result.handle)
    WEBHOOKS.mkdir(exist_ok=True)
    (WEBHOOKS / f"{WEBHOOK_SCENARIO.name}.json").write_text(history_json(run.history), encoding="utf-8")


async def settled_episode(client, handle, attempts: int = 100):
    """The case's runs once its last run has completed a workflow task and is idle (a run that
    has just continued as new has only its start event: nothing to replay yet)."""
    for _ in range(attempts):
        await wait_settled(handle)
        runs = await fetch_episode(client, handle.id)
        last = runs[-1].history.events
        if any(e.HasField("workflow_task_completed_event_attributes") for e in last):
            return runs
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id}: the last run never completed a workflow task")
