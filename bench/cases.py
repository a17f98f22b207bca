"""Starting and reading cases for the benchmarks: vangnet's TenantCaseWorkflow and the baseline
workflow with the same signals and activities (the shapes below were read off real histories)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench.baseline import BaselineInput
from vangnet.domain import CaseInput, case_id_for

CORPORATION = "woonbron"
MUNICIPALITY = "dordrecht"

# What one event costs a case, as activity batches (concurrent within a batch), read off histories:
# opening by arrears_reported: resolve_case_context; tenant_notice_sent; record_case (+2 search
# attribute upserts and a timer for the next deadline).
OPEN_ON_START = [["resolve_case_context"]]
OPEN_ACTS = [["tenant_notice_sent"], ["record_case"]]
# eviction_announced on an open case in stage arrears: mpzo_notified + crisis_protocol_invoked
# together, then record_case (stage changed).
EVICTION_ACTS = [["mpzo_notified", "crisis_protocol_invoked"], ["record_case"]]
# early_signal_due without a reminder: escalation_raised (stage unchanged: no record_case).
DEADLINE_ACTS = [["escalation_raised"]]


def tenancy(prefix: str, i: int) -> str:
    return f"{prefix}{i:06d}"


def arrears_event(event_id: str, arrears_since: date) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": CORPORATION,
        "arrears_cents": 85_000,
        "monthly_rent_cents": 85_000,
        "arrears_since": arrears_since.isoformat(),
    }


async def open_vangnet(client: Client, task_queue: str, ref: str, arrears_since: date) -> WorkflowHandle:
    """Signal-with-start of a case by arrears_reported, as the intake (and tests/workflow/driver.py)
    does it."""
    return await client.start_workflow(
        "TenantCaseWorkflow",
        CaseInput(tenancy_ref=ref, corporation=CORPORATION, municipality=MUNICIPALITY),
        id=case_id_for(CORPORATION, ref),
        task_queue=task_queue,
        start_signal="arrears_reported",
        start_signal_args=[arrears_event(f"open-{ref}", arrears_since)],
    )


async def open_baseline(client: Client, task_queue: str, ref: str, timer_at: datetime | None,
                        on_timer: list[list[str]] | None = None,
                        variant: dict[str, Any] | None = None) -> WorkflowHandle:
    """The baseline's opening: the same activities as a case's (or a what-if `variant`:
    {"on_start": batches, "acts": batches, "upserts": n})."""
    v = variant or {}
    return await client.start_workflow(
        "BaselineWorkflow",
        BaselineInput(key=ref, on_start=v.get("on_start", OPEN_ON_START), timer_at=timer_at,
                      on_timer=on_timer or []),
        id=f"baseline-{ref}",
        task_queue=task_queue,
        start_signal="arrears_reported",
        start_signal_args=[{"acts": v.get("acts", OPEN_ACTS), "upserts": v.get("upserts", 0)}],
    )


# What-if shapes of a case opening, run as baselines (bench/ingest.py --what-if): what vangnet's
# throughput would approach after the changes proposed in docs/benchmarks.md.
WHAT_IF: dict[str, dict[str, Any]] = {
    "baseline + 2 search-attribute upserts (as vangnet)": {"upserts": 2},
    "context + projection as local activities": {
        "on_start": [["local:resolve_case_context"]],
        "acts": [["tenant_notice_sent"], ["local:record_case"]],
    },
    "one activity (notice only)": {"on_start": [], "acts": [["tenant_notice_sent"]]},
}


def early_signal_due(arrears_since: date) -> datetime:
    """When a case opened with these arrears fires its first deadline (policy defaults)."""
    from vangnet import calendar

    return calendar.start_of_day(arrears_since + timedelta(days=30))


async def history_events(handle: WorkflowHandle) -> list[Any]:
    return [e async for e in handle.fetch_history_events()]


def event_time(e: Any) -> datetime:

    return e.event_time.ToDatetime().replace(tzinfo=UTC)


def activity_times(events: list[Any], activity_type: str) -> list[tuple[datetime, datetime | None]]:
    """(scheduled, completed) times of each activity of this type in a history."""
    scheduled: dict[int, datetime] = {}
    out: dict[int, list[Any]] = {}
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if e.activity_task_scheduled_event_attributes.activity_type.name == activity_type:
                scheduled[e.event_id] = event_time(e)
                out[e.event_id] = [event_time(e), None]
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = e.activity_task_completed_event_attributes.scheduled_event_id
            if sid in out:
                out[sid][1] = event_time(e)
    return [tuple(v) for v in out.values()]  # type: ignore[misc]


def signal_times(events: list[Any], name: str) -> list[datetime]:
    return [
        event_time(e) for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == name
    ]


def timer_fired_times(events: list[Any]) -> list[datetime]:
    return [event_time(e) for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]


async def gather_limited(factories: list[Any], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(f: Any) -> Any:
        async with sem:
            return await f()

    return await asyncio.gather(*(one(f) for f in factories))
