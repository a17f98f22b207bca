"""`python -m starter simulate`: a synthetic region run through months of events on the dev server.

    python3 dev.py run                      # in one terminal: server (with time skipping), worker, intake
    python -m starter simulate              # in another: 300 tenancies, 12 months, seed 1

Each case runs on its own virtual clock (per-workflow time skipping), so months pass in seconds
and cases in every stage show up in the Web UI within a minute or two. The same --seed gives the
same region; --tag names the cases (`case-{corporation}-{tag}-{n}`), so a second run with the same
seed needs another tag (or a fresh dev server).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from starter.cli import app, fail

CASE_TIMEOUT = 300.0  # seconds one case may take (months of its life, skipped)
POLLER_FRESH = timedelta(minutes=2)  # the server lists pollers for a while after they are gone
STAGES = ("arrears", "early_signal", "debt_help", "arrangement", "care", "crisis", "aftercare",
          "closed")


@app.command()
def simulate(
    tenancies: Annotated[int, typer.Option(min=1, max=5000, help="number of tenancies (cases) in the region")] = 300,
    months: Annotated[int, typer.Option(min=1, max=36, help="how many months of events the oldest cases have seen")] = 12,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same region")] = 1,
    tag: Annotated[str | None, typer.Option(help="tenancy reference prefix (default: sim{seed})")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=400, help="cases driven at once (each holds a long poll; the dev server allows ~1,200)")] = 100,
    task_queue: Annotated[str | None, typer.Option(help="task queue (default: VANGNET_TASK_QUEUE or vangnet-cases)")] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="also run a worker in this process (--no-worker: rely on the worker of `dev.py run`)")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the region's mix and stop")] = False,
) -> None:
    """Run a synthetic region (9 municipalities, 11 corporations) through months of events."""
    from vangnet.scenarios import Region
    from vangnet.settings import get_settings
    from vangnet.simulation import plan_region

    settings = get_settings()
    tag = tag or f"sim{seed}"
    if not tag.replace("-", "").isalnum():
        fail(f"--tag may hold letters, digits and '-', not {tag!r}")
    try:
        region = Region.from_registry(settings.registry_file)
    except Exception as err:  # RegistryError and friends
        fail(str(err))
    plan = plan_region(region, tenancies=tenancies, months=months, seed=seed, tag=tag)
    mix = ", ".join(f"{name} {n}" for name, n in plan.mix().most_common())
    typer.echo(f"region: {tenancies} tenancies over {len(region.municipalities)} municipalities "
               f"and {len(region.corporations)} corporations, up to {months} months; seed {seed}")
    typer.echo(f"branches: {mix}")
    if dry_run:
        return
    asyncio.run(_run(plan, region, task_queue or settings.task_queue, concurrency, worker))


async def _run(plan, region, task_queue: str, concurrency: int,
               want_worker: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from temporalio.service import RPCError
    from temporalio.testing import TimeSkipper, TimeSkippingConfig

    from vangnet.scenarios import RunResult, run_all
    from vangnet.temporal_client import connect, connect_config

    target = connect_config().get("target_host")
    try:
        client = await connect()
        await client.count_workflows("WorkflowType = 'TenantCaseWorkflow'")
    except Exception as err:
        fail(f"cannot reach Temporal at {target} ({err}); start it with `python3 dev.py run`")
    first = plan.scenarios[0]
    try:
        await client.get_workflow_handle(first.case_id).describe()
    except RPCError:
        pass  # not there: good
    else:
        fail(f"{first.case_id} already exists: tag {first.tenancy_ref.rsplit('-', 1)[0]} ran "
             "before on this server; pick another --tag (or start from a fresh dev server)")

    if not want_worker and not await _has_workflow_pollers(client, task_queue):
        fail(f"no worker polls task queue {task_queue}: start one (python -m workers) "
             "or leave out --no-worker")
    worker_cm = _in_process_worker(client, task_queue) if want_worker else _nothing()
    console = Console(stderr=True)
    skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    async with worker_cm:
        if want_worker:
            typer.echo(f"running a worker in this process on task queue {task_queue}")
        with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            bar = progress.add_task("cases", total=len(plan.scenarios))

            def done(_scenario, result) -> None:
                if not isinstance(result, RunResult):
                    errors[_short(result)] += 1
                progress.advance(bar)

            results = await run_all(skipper, plan.scenarios, task_queue=task_queue, region=region,
                                    concurrency=concurrency, case_timeout=CASE_TIMEOUT,
                                    on_done=done)
        elapsed = time.perf_counter() - started
        if errors and all(not isinstance(r, RunResult) for r in results):
            fail("no case could be run: " + "; ".join(f"{e} ({n}x)" for e, n in errors.items()))
        stages = await _stages(client, [s.case_id for s in plan.scenarios], concurrency)
    ok = sum(1 for r in results if isinstance(r, RunResult))
    typer.echo(f"{ok} cases driven in {elapsed:.0f} s ({ok / elapsed:.1f} cases/s)")
    if errors:
        typer.echo("failed: " + "; ".join(f"{e} ({n}x)" for e, n in errors.most_common()))
    typer.echo("stages:   " + ", ".join(f"{s} {stages.get(s, 0)}" for s in STAGES))
    outcomes = Counter(k for k in stages.elements() if k.startswith("outcome:"))
    if outcomes:
        typer.echo("outcomes: " + ", ".join(f"{k[8:]} {n}" for k, n in outcomes.most_common()))
    ui = f"http://localhost:{os.environ.get('VANGNET_UI_PORT', '8233')}"
    query = urllib.parse.quote("CaseStage = \"crisis\"")
    typer.echo(f"Web UI: {ui}/namespaces/default/workflows?query={query}")


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "Time-Skipping feature is not enabled" in text:
        return ("the server does not allow time skipping: start it with `python3 dev.py run` "
                "(frontend.WorkflowTimeSkippingEnabled=true)")
    return text[:200]


async def _has_workflow_pollers(client, task_queue: str) -> bool:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    ))
    now = datetime.now(UTC)
    return any(now - p.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESH
               for p in resp.pollers)


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: Any) -> None:
        return None


class _in_process_worker:
    """The project's worker (every workflow and activity), for as long as the simulation runs."""

    def __init__(self, client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue

    async def __aenter__(self) -> None:
        from vangnet.logging import configure_logging
        from vangnet.settings import get_settings
        from vangnet.store import Store
        from workers import build_worker

        settings = get_settings()
        if "VANGNET_LOG_LEVEL" not in os.environ:  # one progress bar, not a line per message
            configure_logging("WARNING", settings.log_format)
        self.store = await Store.open(settings)
        self.worker = build_worker(self.client, self.store, self.task_queue)
        await self.worker.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.worker.__aexit__(*exc)
        finally:
            await self.store.close()


async def _stages(client, case_ids: list[str], concurrency: int) -> Counter[str]:
    """Cases per stage (and outcome), from their search attributes."""
    from vangnet import search_attributes as sa_keys

    gate = asyncio.Semaphore(concurrency)
    counts: Counter[str] = Counter()

    async def one(case_id: str) -> None:
        async with gate:
            try:
                desc = await client.get_workflow_handle(case_id).describe()
            except Exception:
                return
        stage = desc.typed_search_attributes.get(sa_keys.CASE_STAGE)
        outcome = desc.typed_search_attributes.get(sa_keys.CASE_OUTCOME)
        if stage:
            counts[stage] += 1
        if outcome:
            counts[f"outcome:{outcome}"] += 1

    await asyncio.gather(*(one(c) for c in case_ids))
    return counts
