"""Worker processes for the benchmarks, with optional tuning knobs.

    python -m bench.workers baseline --stats FILE [knobs]   the bare baseline (bench/baseline.py)
    python -m bench.workers vangnet [knobs]                 vangnet's own build_worker + Store.open,
                                                            exactly as `python -m workers`, plus knobs

Without knobs the benchmarks run vangnet as `python -m workers` itself; `bench.workers vangnet` is
for tuning experiments (`--worker-args` of the benchmark scripts), so a proposed setting can be
measured before it is applied to workers/worker.py. Knobs map to `temporalio.worker.Worker`
arguments; unset knobs keep the SDK defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from typing import Any

KNOBS = {
    "max_cached_workflows": int,
    "max_concurrent_workflow_tasks": int,
    "max_concurrent_activities": int,
    "max_concurrent_workflow_task_polls": int,
    "max_concurrent_activity_task_polls": int,
    "nonsticky_to_sticky_poll_ratio": float,
}


def add_worker_args(parser: argparse.ArgumentParser) -> None:
    for name, typ in KNOBS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=typ, default=None)
    parser.add_argument("--unsandboxed", action="store_true",
                        help="UnsandboxedWorkflowRunner (measures the sandbox's cost)")


def worker_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = {k: getattr(args, k) for k in KNOBS if getattr(args, k) is not None}
    if args.unsandboxed:
        from temporalio.worker import UnsandboxedWorkflowRunner

        kwargs["workflow_runner"] = UnsandboxedWorkflowRunner()
    return kwargs


async def _until_stopped(worker: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


async def _baseline(stats: str | None, kwargs: dict[str, Any]) -> None:
    import json
    import os

    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from bench.baseline import BaselineWorkflow, noop, stats_snapshot
    from vangnet.settings import get_settings
    from vangnet.temporal_client import connect
    from workers.worker import GRACEFUL_SHUTDOWN

    async def write_stats(path: str) -> None:
        seen = None
        while True:
            snap = stats_snapshot()
            if snap != seen:
                with open(f"{path}.tmp", "w") as f:
                    json.dump(snap, f)
                os.replace(f"{path}.tmp", path)
                seen = snap
            await asyncio.sleep(0.1)

    # bare: pydantic JSON, no payload codec (vangnet's worker encrypts, issue 12)
    client = await connect(data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=get_settings().task_queue,
        workflows=[BaselineWorkflow],
        activities=[noop],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **kwargs,
    )
    writer = asyncio.create_task(write_stats(stats)) if stats else None
    try:
        await _until_stopped(worker)
    finally:
        if writer:
            writer.cancel()


async def _vangnet(kwargs: dict[str, Any]) -> None:
    from vangnet.logging import configure_logging
    from vangnet.settings import get_settings
    from vangnet.store import Store
    from vangnet.temporal_client import connect
    from workers import build_worker

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    store = await Store.open(settings)
    try:
        client = await connect()
        await _until_stopped(build_worker(client, store, settings.task_queue, **kwargs))
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    sub = parser.add_subparsers(dest="kind", required=True)
    b = sub.add_parser("baseline", help="the bare baseline worker")
    b.add_argument("--stats", default=None, help="JSON file for the activity counters")
    add_worker_args(b)
    v = sub.add_parser("vangnet", help="vangnet's worker (build_worker) with knobs")
    add_worker_args(v)
    args = parser.parse_args(argv)
    if args.kind == "baseline":
        asyncio.run(_baseline(args.stats, worker_kwargs(args)))
    else:
        asyncio.run(_vangnet(worker_kwargs(args)))


if __name__ == "__main__":
    main()
