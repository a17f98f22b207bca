"""The bare baseline: a minimal workflow with the same signals, activities and timers as a case,
whose activities do nothing. Every benchmark runs it next to TenantCaseWorkflow on the same server.

- `BaselineWorkflow` (service mode): runs the activity batches of `on_start` (vangnet: the case
  context), then serves signals: each signal's payload names the activity batches to run
  (`{"acts": [["a", "b"], ["c"]]}`: a and b concurrently, then c), like a case running the
  actions of an event and then its projection. With `timer_at` it waits on a durable timer, as a
  case waits on its next deadline, and runs `on_timer` when it fires.
- Script mode (`script`): a fixed sequence of steps (wait for a signal or a timer, then activity
  batches), then the workflow completes: the replay benchmark mirrors a full case lifecycle
  with it (see bench/replay.py).
- What-if variants (bench/ingest.py --what-if): an activity name `local:NAME` runs the no-op as a
  local activity; a signal payload's `upserts: n` upserts a search attribute before each of the
  first n batches, as a case does.
- `noop`: one dynamic activity, so the activity type in the history is the name asked for (the
  latency benchmark finds "crisis_protocol_invoked" in either history). It counts calls per name,
  and the worker writes the counters to a JSON file every 0.1 s (the ingest benchmark reads
  them, as it reads the inbox table for vangnet).

`python -m bench.workers baseline --stats FILE` runs the baseline worker with the same client
(`vangnet.temporal_client.connect`, with the bare pydantic data converter: no payload codec) and
the same Worker defaults as `python -m workers` (task queue from VANGNET_TASK_QUEUE).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RawValue, SearchAttributeKey

NOOP_TIMEOUT = timedelta(seconds=30)
STAGE = SearchAttributeKey.for_keyword("CaseStage")


@dataclass
class Step:
    wait: str  # "signal" or "timer"
    acts: list[list[str]] = field(default_factory=list)
    with_timer: bool = True  # a signal wait with a (cancelled) timer, as a case with a deadline


@dataclass
class BaselineInput:
    key: str = ""
    on_start: list[list[str]] = field(default_factory=list)
    timer_at: datetime | None = None
    on_timer: list[list[str]] = field(default_factory=list)
    script: list[Step] | None = None


@workflow.defn(name="BaselineWorkflow")
class BaselineWorkflow:
    def __init__(self) -> None:
        self._queue: list[Any] = []
        self._at = -1  # script mode: the step being waited for

    @workflow.query
    def progress(self) -> int:
        return self._at

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        payload = workflow.payload_converter().from_payload(args[0].payload, dict) if args else {}
        self._queue.append(payload)

    async def _run(self, batches: list[list[str]], upserts: int = 0) -> None:
        for i, batch in enumerate(batches):
            if i < upserts:  # what-if: a search attribute upsert before the batch, as a case does
                workflow.upsert_search_attributes([STAGE.value_set(f"step{i}")])
            await asyncio.gather(*(self._one(name) for name in batch))

    @staticmethod
    def _one(name: str) -> Any:
        if name.startswith("local:"):  # what-if: the same no-op as a local activity
            return workflow.execute_local_activity(name[6:], start_to_close_timeout=NOOP_TIMEOUT)
        return workflow.execute_activity(name, start_to_close_timeout=NOOP_TIMEOUT)

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        if input.script is not None:
            return await self._script(input.script)
        await self._run(input.on_start)
        timer_at = input.timer_at
        while True:
            if not self._queue:
                timeout = (timer_at - workflow.now()) if timer_at else None
                if timeout is not None and timeout <= timedelta(0):
                    timer_at = None
                    await self._run(input.on_timer)
                    continue
                try:
                    await workflow.wait_condition(lambda: bool(self._queue), timeout=timeout)
                except TimeoutError:
                    timer_at = None
                    await self._run(input.on_timer)
                    continue
            payload = self._queue.pop(0)
            if payload.get("close"):
                return 0
            await self._run(payload.get("acts", []), payload.get("upserts", 0))

    async def _script(self, steps: list[Step]) -> int:
        for i, step in enumerate(steps):
            self._at = i
            if step.wait == "signal":
                await workflow.wait_condition(
                    lambda: bool(self._queue),
                    timeout=timedelta(days=1) if step.with_timer else None,
                )
                self._queue.pop(0)
            else:
                await workflow.sleep(timedelta(milliseconds=20))
            await self._run(step.acts)
        self._at = len(steps)
        return len(steps)


# ---------------------------------------------------------------------------------------------
# The no-op activity and its counters
# ---------------------------------------------------------------------------------------------

COUNTS: dict[str, int] = {}
FIRST: dict[str, float] = {}
LAST: dict[str, float] = {}


@activity.defn(dynamic=True)
async def noop(args: Sequence[RawValue]) -> None:
    name = activity.info().activity_type
    now = time.time()
    COUNTS[name] = COUNTS.get(name, 0) + 1
    FIRST.setdefault(name, now)
    LAST[name] = now


def stats_snapshot() -> dict[str, Any]:
    return {"counts": dict(COUNTS), "first": dict(FIRST), "last": dict(LAST)}
