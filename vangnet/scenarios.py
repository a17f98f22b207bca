"""Scripted cases: a list of steps (an event from a party, or time passing) run against a real
Temporal server with per-workflow time skipping.

One runner serves `python -m starter simulate` (a synthetic region), the replay fixtures in
tests/histories/ and the browser test. A scenario names parties by role; the registry turns a role
into the party code of the case's municipality. Dates in event fields can be given relative to the
case's own (virtual) clock with `InDays(n)`, and an event can be reported late (`late=`): its
`occurred_at` then lies that long before the moment it reaches the case.

Time moves with `fast_forward` on the case alone (a `TimeSkipper` outside tests, the test
environment inside), so a case lives through months in seconds; other cases are not affected.

Events go as signals (as integrations that speak Temporal send them), or with `via="update"` as
the intake sends them: the update `submit_event`, by update-with-start for the first (RULES §12).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from vangnet import calendar, texts
from vangnet.case_messages import CASE_WORKFLOW, SUBMIT_EVENT, EventSubmission, EventVerdict, update_id_for
from vangnet.domain import CaseInput, case_id_for

WORKFLOW_TYPE = CASE_WORKFLOW
SETTLE_TIMEOUT = 120.0  # seconds a case may take to process what it was sent (readiness, not time)


# ---------------------------------------------------------------------------------------------
# Scenario model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InDays:
    """A date field `days` after the case's current local date (negative: before)."""

    days: int


@dataclass(frozen=True)
class Send:
    """One event (RULES §4) from the party with `role` in the case's municipality."""

    event: str
    role: str = "corporation"
    fields: dict[str, Any] = field(default_factory=dict)
    late: timedelta | None = None  # happened this long before it reaches the case


@dataclass(frozen=True)
class Wait:
    duration: timedelta


ScriptStep = Send | Wait


def send(event: str, role: str = "corporation", *, late_days: float | None = None,
         **fields: Any) -> Send:
    late = timedelta(days=late_days) if late_days else None
    return Send(event, role, fields, late)


def wait(days: float = 0, hours: float = 0) -> Wait:
    return Wait(timedelta(days=days, hours=hours))


@dataclass
class Scenario:
    name: str
    corporation: str
    municipality: str
    tenancy_ref: str
    steps: list[ScriptStep]
    history_limit: int | None = None
    via: str = "signal"  # or "update": as the intake sends events
    timeline_limit: int | None = None

    @property
    def case_id(self) -> str:
        return case_id_for(self.corporation, self.tenancy_ref)

    def truncated(self, duration: timedelta) -> Scenario:
        """The steps that fall within `duration` of the case's life (a case seen mid-way)."""
        kept: list[ScriptStep] = []
        elapsed = timedelta(0)
        for step in self.steps:
            if isinstance(step, Wait):
                if elapsed + step.duration > duration:
                    remaining = duration - elapsed
                    if remaining > timedelta(0):
                        kept.append(Wait(remaining))
                    break
                elapsed += step.duration
            kept.append(step)
        return Scenario(self.name, self.corporation, self.municipality, self.tenancy_ref, kept,
                        self.history_limit, self.via, self.timeline_limit)


# ---------------------------------------------------------------------------------------------
# Parties by role, from the registry file (routing is data: RULES §1)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    municipalities: dict[str, tuple[str, str]]  # code -> (social service, social team)
    corporations: list[str]
    mpzo: str

    @classmethod
    def from_registry(cls, path: Path | None = None) -> Region:
        from vangnet.settings import get_settings
        from vangnet.store.registry import parse_registry

        registry = parse_registry(path or get_settings().registry_file)
        municipalities = {
            p.code: (p.social_service or "", p.social_team or "")
            for p in registry.party if p.kind == "municipality"
        }
        corporations = [p.code for p in registry.party if p.kind == "corporation"]
        mpzo = next(p.code for p in registry.party if p.kind == "mpzo")
        return cls(municipalities, corporations, mpzo)

    def source(self, role: str, corporation: str, municipality: str) -> str:
        match role:
            case "corporation":
                return corporation
            case "municipality":
                return municipality
            case "social_service":
                return self.municipalities[municipality][0]
            case "social_team":
                return self.municipalities[municipality][1]
            case "mpzo":
                return self.mpzo
            case "operator":
                return "operator"
        raise ValueError(f"unknown role {role!r}")


# ---------------------------------------------------------------------------------------------
# Running a scenario
# ---------------------------------------------------------------------------------------------


class Skipper(Protocol):
    """What the runner needs: a client and per-workflow time skipping. Both
    `temporalio.testing.TimeSkipper` and the v2 test environment fit."""

    @property
    def client(self) -> Client: ...

    async def fast_forward(self, handle: WorkflowHandle, duration: timedelta, /) -> Any: ...

    async def get_current_time(self, handle: WorkflowHandle) -> datetime: ...


@dataclass
class RunResult:
    scenario: Scenario
    handle: WorkflowHandle
    steps_done: int
    closed_early: bool = False


def _payload(scenario: Scenario, index: int, step: Send, region: Region,
             now: datetime) -> dict[str, Any]:
    today = calendar.local_date(now)
    fields = {}
    for key, value in step.fields.items():
        if isinstance(value, InDays):
            value = today + timedelta(days=value.days)
        if isinstance(value, (date, datetime)):
            value = value.isoformat()
        fields[key] = value
    payload = {
        "event_id": f"{scenario.tenancy_ref}-{index}",
        "source": region.source(step.role, scenario.corporation, scenario.municipality),
        **fields,
    }
    if step.late is not None:
        payload["occurred_at"] = (now - step.late).isoformat()
    return payload


def _submission(scenario: Scenario, step: Send, payload: dict[str, Any]) -> EventSubmission:
    return EventSubmission(type=step.event, tenancy_ref=scenario.tenancy_ref,
                           corporation=scenario.corporation, municipality=scenario.municipality,
                           event=payload)


async def run_scenario(skipper: Skipper, scenario: Scenario, *, task_queue: str, region: Region,
                       settle: bool = False) -> RunResult:
    """Start the case with the scenario's first event and play the rest.

    `settle=True` waits after every step until the case has processed it and nothing is in
    flight (for tests and fixtures; a simulation lets the server pace itself). A case that
    closes before the scenario ends stops the run (`closed_early`)."""
    steps = list(scenario.steps)
    first = steps[0]
    if not isinstance(first, Send):
        raise ValueError(f"scenario {scenario.name}: the first step must be an event")
    client = skipper.client
    # The case's clock starts at the real now; keep our own reckoning of it as time is skipped.
    now = datetime.now(UTC)
    input_ = CaseInput(tenancy_ref=scenario.tenancy_ref, corporation=scenario.corporation,
                       municipality=scenario.municipality,
                       **({"history_limit": scenario.history_limit}
                          if scenario.history_limit else {}),
                       **({"timeline_limit": scenario.timeline_limit}
                          if scenario.timeline_limit else {}))
    summary = texts.case_summary(scenario.corporation, scenario.municipality, scenario.tenancy_ref)
    if scenario.via == "update":
        # Update-with-start, as the intake opens a case (USE_EXISTING: a running case just
        # receives the event).
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            WORKFLOW_TYPE, input_, id=scenario.case_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=summary, static_details=texts.case_details())
        payload = _payload(scenario, 0, first, region, now)
        await client.execute_update_with_start_workflow(
            SUBMIT_EVENT, _submission(scenario, first, payload), start_workflow_operation=start,
            id=update_id_for(payload["source"], payload["event_id"]), result_type=EventVerdict)
    else:
        # Signal-with-start: a case already running for this tenancy just receives the event.
        await client.start_workflow(
            WORKFLOW_TYPE,
            input_,
            id=scenario.case_id,
            task_queue=task_queue,
            start_signal=first.event,
            start_signal_args=[_payload(scenario, 0, first, region, now)],
            static_summary=summary,
            static_details=texts.case_details(),
        )
    # Signals and fast-forwards follow the case across continue-as-new: no run id.
    handle = client.get_workflow_handle(scenario.case_id)
    result = RunResult(scenario, handle, 1)
    if settle:
        await wait_settled(handle)
    for index, step in enumerate(steps[1:], start=1):
        try:
            if isinstance(step, Wait):
                finished = await skipper.fast_forward(handle, step.duration)
                now += step.duration
                if finished is False:
                    result.closed_early = True
                    return result
            elif scenario.via == "update":
                payload = _payload(scenario, index, step, region, now)
                await handle.execute_update(
                    SUBMIT_EVENT, _submission(scenario, step, payload),
                    id=update_id_for(payload["source"], payload["event_id"]),
                    result_type=EventVerdict)
            else:
                await handle.signal(step.event, _payload(scenario, index, step, region, now))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the case has closed
                result.closed_early = True
                return result
            raise
        result.steps_done += 1
        if settle:
            await wait_settled(handle)
    return result


async def wait_settled(handle: WorkflowHandle, timeout: float = SETTLE_TIMEOUT) -> None:
    """Until the case has no workflow task or activity in flight (or has ended)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        desc = await handle.describe()
        raw = desc.raw_description
        if desc.status is not None and desc.status.name != "RUNNING":
            return
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"case {handle.id} still busy after {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def run_all(skipper: Skipper, scenarios: Sequence[Scenario], *, task_queue: str,
                  region: Region, concurrency: int, settle: bool = False,
                  case_timeout: float | None = None,
                  on_done: Any = None) -> list[RunResult | BaseException]:
    """Run scenarios with at most `concurrency` cases in flight (each holds long polls).
    A case that takes longer than `case_timeout` seconds (no worker?) is given up."""
    gate = asyncio.Semaphore(concurrency)

    async def one(scenario: Scenario) -> RunResult | BaseException:
        async with gate:
            try:
                out: RunResult | BaseException = await asyncio.wait_for(
                    run_scenario(skipper, scenario, task_queue=task_queue, region=region,
                                 settle=settle),
                    case_timeout,
                )
            except TimeoutError as err:
                out = (TimeoutError(f"gave up after {case_timeout:.0f} s: is a worker running?")
                       if case_timeout is not None else err)  # else: wait_settled's own timeout
            except Exception as err:  # reported per case by the caller
                out = err
        if on_done is not None:
            on_done(scenario, out)
        return out

    return list(await asyncio.gather(*(one(s) for s in scenarios)))
