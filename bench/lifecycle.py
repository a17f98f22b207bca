"""Full-lifecycle cases, start to close, on a live server with per-workflow time skipping; and
their bare-baseline mirrors (the same signals, activities and timers, in the same order).

Two scenarios close a case the two main ways:

- resolved: arrears → reminder → (31 days) early signal → help accepted → arrangement → arrears
  cleared (aftercare) → (7 months) aftercare completed, closed `resolved`;
- evicted: arrears → summons (MPZO) → judgment → eviction announced (crisis) → (10 days) crisis
  meeting overdue → crisis meeting (moratorium requested) → moratorium rejected → eviction
  executed (MPZO, closed `evicted`).

`baseline_script(history)` reads a TenantCaseWorkflow history and returns the BaselineWorkflow
script with the same sequence of signals and timer firings, each followed by the same activity
batches (activities scheduled by the same workflow task run together), so a baseline history
has the same signals, activities and timers as the case's.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing._timeskipping import TimeSkipper, TimeSkippingConfig

from bench import cases
from bench.baseline import BaselineInput, Step
from vangnet.domain import CaseInput, case_id_for
from vangnet.scenarios import wait_settled

_ids = itertools.count(1)
C, M, SS = cases.CORPORATION, cases.MUNICIPALITY, "sdd"


def _d(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


# (signal name, source, fields) or ("advance", days)
SCENARIOS: dict[str, list[tuple]] = {
    "resolved": [
        ("arrears_reported", C, {"arrears_cents": 170_000, "monthly_rent_cents": 85_000,
                                 "arrears_since": _d(0)}),
        ("reminder_sent", C, {"tenant_objects_to_signal": False}),
        ("advance", 31),
        ("help_accepted", M, {}),
        ("payment_arrangement_agreed", SS, {"monthly_amount_cents": 20_000, "months": 9}),
        ("payment_received", C, {"amount_cents": 170_000, "arrears_cents": 0}),
        ("advance", 7 * 31),
    ],
    "evicted": [
        ("arrears_reported", C, {"arrears_cents": 255_000, "monthly_rent_cents": 85_000,
                                 "arrears_since": _d(0)}),
        ("summons_served", C, {"hearing_date": _d(20)}),
        ("judgment_given", C, {"eviction_granted": True}),
        ("eviction_announced", C, {"eviction_date": _d(40)}),
        ("advance", 10),
        ("crisis_meeting_held", SS, {"result": "moratorium_needed"}),
        ("moratorium_rejected", SS, {}),
        ("eviction_executed", C, {}),
    ],
}


async def settled(handle: WorkflowHandle, timeout: float = 60) -> None:
    """No workflow task and no activity pending (or the workflow has closed)."""
    await wait_settled(handle, timeout)


async def run_case(client: Client, skipper: TimeSkipper, task_queue: str, scenario: str,
                   ref: str | None = None) -> WorkflowHandle:
    """Drive one case through `scenario` to its close; returns its handle."""
    ref = ref or f"LC{next(_ids):06d}"
    steps = SCENARIOS[scenario]
    handle: WorkflowHandle | None = None
    for step in steps:
        if step[0] == "advance":
            assert handle is not None
            await skipper.fast_forward(handle, timedelta(days=step[1]))
            await asyncio.sleep(0.1)
        else:
            name, source, fields = step
            payload = {"event_id": f"e{next(_ids)}", "source": source, **fields}
            if handle is None:
                handle = await client.start_workflow(
                    "TenantCaseWorkflow", CaseInput(tenancy_ref=ref, corporation=C, municipality=M),
                    id=case_id_for(C, ref), task_queue=task_queue,
                    start_signal=name, start_signal_args=[payload],
                )
            else:
                await handle.signal(name, payload)
        await settled(handle)
    assert handle is not None
    await asyncio.wait_for(handle.result(), 60)
    return handle


def baseline_script(history: WorkflowHistory) -> list[Step]:
    steps: list[Step] = []
    open_timers: set[int] = set()
    last_wft: dict[int, int] = {}  # step index -> workflow task of its last batch
    for e in history.events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            steps.append(Step("signal", [], with_timer=bool(open_timers)))
        elif t == EventType.EVENT_TYPE_TIMER_STARTED:
            open_timers.add(e.event_id)
        elif t == EventType.EVENT_TYPE_TIMER_CANCELED:
            open_timers.discard(e.timer_canceled_event_attributes.started_event_id)
        elif t == EventType.EVENT_TYPE_TIMER_FIRED:
            open_timers.discard(e.timer_fired_event_attributes.started_event_id)
            steps.append(Step("timer", []))
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            step = steps[-1]
            i = len(steps) - 1
            if step.acts and last_wft.get(i) == attrs.workflow_task_completed_event_id:
                step.acts[-1].append(attrs.activity_type.name)
            else:
                step.acts.append([attrs.activity_type.name])
                last_wft[i] = attrs.workflow_task_completed_event_id
    return steps


async def run_baseline(client: Client, task_queue: str, script: list[Step], ref: str) -> WorkflowHandle:
    """Drive a BaselineWorkflow through `script`: each signal is sent once the workflow waits for it."""
    assert script and script[0].wait == "signal"
    handle = await client.start_workflow(
        "BaselineWorkflow", BaselineInput(key=ref, script=script), id=f"baseline-lc-{ref}",
        task_queue=task_queue, start_signal="event", start_signal_args=[{}],
    )
    for i, step in enumerate(script[1:], start=1):
        if step.wait != "signal":
            continue
        while await handle.query("progress") < i:
            await asyncio.sleep(0.02)
        await handle.signal("event", {})
    await asyncio.wait_for(handle.result(), 60)
    return handle


def shape(history: WorkflowHistory) -> dict[str, int]:
    """Counts of the events that matter: signals, activities, timers, workflow tasks, all."""
    count = lambda t: sum(1 for e in history.events if e.event_type == t)  # noqa: E731
    return {
        "events": len(history.events),
        "signals": count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
        "activities": count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        "timers_started": count(EventType.EVENT_TYPE_TIMER_STARTED),
        "timers_fired": count(EventType.EVENT_TYPE_TIMER_FIRED),
        "workflow_tasks": count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        "search_attribute_upserts": count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
        "json_bytes": len(history.to_json()),
    }


def skipper_for(client: Client) -> TimeSkipper:
    return TimeSkipper(client, config=TimeSkippingConfig(enabled=False))


async def gather(coros: list[Any], limit: int) -> list[Any]:
    return await cases.gather_limited([lambda c=c: c for c in coros], limit)
