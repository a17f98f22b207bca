"""The worker's tuning settings (issue 16): VANGNET_WORKER_* reach the Temporal `Worker` that
`build_worker` (and so `python -m workers`) builds, and a tuned worker runs a case."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from pydantic import ValidationError
from temporalio.worker import PollerBehaviorSimpleMaximum

from vangnet.settings import Settings
from vangnet.store import Store
from workers.worker import build_worker, worker_tuning

TUNED_ENV = {
    "VANGNET_WORKER_MAX_CACHED_WORKFLOWS": "3000",
    "VANGNET_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20",
    "VANGNET_WORKER_MAX_CONCURRENT_ACTIVITIES": "30",
    "VANGNET_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES": "40",
    "VANGNET_WORKER_WORKFLOW_TASK_POLLERS": "8",
    "VANGNET_WORKER_ACTIVITY_TASK_POLLERS": "3",
    "VANGNET_WORKER_EAGER_ACTIVITIES": "false",
    "VANGNET_WORKER_STICKY_TIMEOUT_SECONDS": "90",
}


def test_defaults_map_to_the_worker_arguments() -> None:
    kwargs = worker_tuning(Settings())
    assert kwargs["max_cached_workflows"] == Settings().worker_max_cached_workflows
    assert kwargs["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(
        Settings().worker_workflow_task_pollers)
    assert kwargs["disable_eager_activity_execution"] is False
    # slot counts left empty keep the SDK's defaults: not passed at all
    assert "max_concurrent_activities" not in kwargs


def test_settings_from_the_environment(monkeypatch) -> None:
    for key, value in TUNED_ENV.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert (s.worker_max_cached_workflows, s.worker_max_concurrent_workflow_tasks,
            s.worker_max_concurrent_activities, s.worker_max_concurrent_local_activities,
            s.worker_workflow_task_pollers, s.worker_activity_task_pollers,
            s.worker_eager_activities, s.worker_sticky_timeout_seconds) == (3000, 20, 30, 40, 8, 3, False, 90)
    monkeypatch.setenv("VANGNET_WORKER_MAX_CONCURRENT_ACTIVITIES", " ")
    assert Settings().worker_max_concurrent_activities is None  # empty: the SDK's default


@pytest.mark.parametrize("key, value", [
    ("VANGNET_WORKER_WORKFLOW_TASK_POLLERS", "1"),  # the SDK needs 2 (sticky and normal queue)
    ("VANGNET_WORKER_MAX_CACHED_WORKFLOWS", "-1"),
    ("VANGNET_WORKER_MAX_CONCURRENT_ACTIVITIES", "0"),
    ("VANGNET_WORKER_EAGER_ACTIVITIES", "perhaps"),
    ("VANGNET_WORKER_STICKY_TIMEOUT_SECONDS", "0"),
])
def test_nonsense_is_refused_at_start(monkeypatch, key: str, value: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        Settings()


async def test_the_settings_reach_the_worker_and_it_runs_a_case(monkeypatch, tmp_path, temporal_env,
                                                                   task_queue) -> None:
    for key, value in TUNED_ENV.items():
        monkeypatch.setenv(key, value)
    store = await Store.open(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/tuned.db"))
    try:
        worker = build_worker(temporal_env.client, store, task_queue)
        config = worker.config()
        assert config["max_cached_workflows"] == 3000
        assert config["max_concurrent_workflow_tasks"] == 20
        assert config["max_concurrent_activities"] == 30
        assert config["max_concurrent_local_activities"] == 40
        assert config["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(8)
        assert config["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(3)
        assert config["disable_eager_activity_execution"] is True
        assert config["sticky_queue_schedule_to_start_timeout"] == timedelta(seconds=90)
        # an explicit argument still wins (tests and bench/workers.py pass their own)
        assert build_worker(temporal_env.client, store, f"{task_queue}-b",
                            max_cached_workflows=7).config()["max_cached_workflows"] == 7

        from bench import cases

        async with worker:
            since = date.today() - timedelta(days=1)
            handle = await cases.open_vangnet(temporal_env.client, task_queue, "TUNE-1", since)
            for _ in range(300):  # until the case has acted (polled, nothing timed)
                timeline = await handle.query("timeline")
                if any("tenant_notice_sent" in str(entry) for entry in timeline):
                    break
                await asyncio.sleep(0.1)
        assert any("tenant_notice_sent" in str(entry) for entry in timeline)
    finally:
        await store.close()
