"""Building and running the case worker: one task queue, every workflow and activity."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities import CaseActivities
from activities.operations import OperationsActivities
from vangnet.settings import Settings, get_settings
from vangnet.store import Store
from workflows import OPERATIONS_WORKFLOWS, TenantCaseWorkflow

log = structlog.get_logger("vangnet.worker")

GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def worker_tuning(settings: Settings) -> dict[str, Any]:
    """The `Worker` arguments of the VANGNET_WORKER_* settings (issue 16): the cache, the slots,
    the pollers and eager activities; a slot count left empty keeps the SDK's default."""
    kwargs: dict[str, Any] = {
        "max_cached_workflows": settings.worker_max_cached_workflows,
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_workflow_task_pollers),
        "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_activity_task_pollers),
        "disable_eager_activity_execution": not settings.worker_eager_activities,
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.worker_sticky_timeout_seconds),
    }
    for name in ("max_concurrent_workflow_tasks", "max_concurrent_activities",
                 "max_concurrent_local_activities"):
        value = getattr(settings, f"worker_{name}")
        if value is not None:
            kwargs[name] = value
    return kwargs


def build_worker(client: Client, store: Store, task_queue: str, *,
                 activities: CaseActivities | None = None, **worker_kwargs) -> Worker:
    """The worker as tests and `python -m workers` run it: tuned by the store's settings
    (`worker_tuning`); `worker_kwargs` win over them."""
    activities = activities or CaseActivities(store, store.settings.policy_file)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TenantCaseWorkflow, *OPERATIONS_WORKFLOWS],
        activities=[*activities.all(), *OperationsActivities(store).all()],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **{**worker_tuning(store.settings), **worker_kwargs},
    )


async def run_worker(settings: Settings | None = None) -> None:
    from vangnet.temporal_client import connect
    from workers import observability

    settings = settings or get_settings()
    observability.setup_process(settings)  # OTEL_* tracing, SDK metrics (issue 13)
    store = await Store.open(settings)
    activities = CaseActivities(store, store.settings.policy_file)
    try:
        client = await connect()
        worker = build_worker(client, store, settings.task_queue, activities=activities)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if settings.schedules_on_start:
            await _apply_schedules(client, settings)
        await _start_dispatcher(client, settings)
        log.info("worker_started", task_queue=settings.task_queue,
                 temporal=client.service_client.config.target_host,
                 namespace=client.namespace, database=store.engine.url.get_backend_name(),
                 cache=settings.worker_max_cached_workflows,
                 workflow_slots=settings.worker_max_concurrent_workflow_tasks or "sdk",
                 activity_slots=settings.worker_max_concurrent_activities or "sdk",
                 pollers=f"{settings.worker_workflow_task_pollers}/{settings.worker_activity_task_pollers}",
                 eager_activities=settings.worker_eager_activities)
        probe = observability.WorkerProbe(client, store, worker)  # /metrics, /livez, /readyz
        async with observability.serving(settings, probe), worker:
            probe.running = True
            await stop.wait()
            probe.running = False
            log.info("worker_stopping", grace_seconds=GRACEFUL_SHUTDOWN.total_seconds())
        log.info("worker_stopped")
    finally:
        await activities.aclose()
        await store.close()


async def _start_dispatcher(client: Client, settings: Settings) -> None:
    """The webhook outbox dispatcher (workflows/dispatcher.py, issue 10), if it does not run yet."""
    from workflows.dispatcher import start_dispatcher

    try:
        handle = await start_dispatcher(client, settings.task_queue, settings.webhook_poll_seconds)
        log.info("webhook_dispatcher_running", workflow_id=handle.id)
    except Exception as err:  # noqa: BLE001 - logged; the next worker start tries again
        log.error("webhook_dispatcher_not_started", error=type(err).__name__)


async def _apply_schedules(client: Client, settings: Settings) -> None:
    """vangnet's Schedules (archiver, reports, purge: vangnet/schedules.py), created or updated;
    a failure is logged, never stops the cases' worker."""
    from vangnet.schedules import apply_schedules

    try:
        for applied in await apply_schedules(client, settings, settings.task_queue):
            log.info("schedule_applied", schedule=applied.schedule_id, result=applied.result,
                     paused=applied.paused)
    except Exception as err:
        log.error("schedules_not_applied", error=f"{type(err).__name__}: {err}")
