"""Every call the intake makes to Temporal, in one place.

Events (RULES §12 I1, I2): an event goes to its case as the update `submit_event`, with an update
id derived from the sender and the `event_id` (`vangnet.case_messages`), so Temporal deduplicates
a repeat; an event that may open the case goes by update-with-start (conflict policy
USE_EXISTING, and a closed case's id may be reused: a new episode). The call waits until the case
has accepted the update (it is then in the case's history), and a little longer for the verdict.
A case that has accepted the event but is too slow to apply it yields no verdict (the event is in
history all the same); a case that cannot be reached is `temporal_unavailable` (503), and a retry
with the same `event_id` is always safe.

Reads: the `status` and `timeline_tail` queries, waiting briefly for a run that cannot answer
queries yet (its first workflow task has not run).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from starter.service.errors import not_found, temporal_unavailable, unavailable
from starter.service.validation import ValidatedEvent
from vangnet import search_attributes as sa_keys
from vangnet import texts
from vangnet.case_messages import CASE_WORKFLOW, SUBMIT_EVENT, TIMELINE_TAIL, EventVerdict, TimelineTail, update_id_for
from vangnet.domain import CaseInput

log = structlog.get_logger("vangnet.intake")

WORKFLOW_TYPE = CASE_WORKFLOW
RPC_TIMEOUT = timedelta(seconds=10)
ACCEPT_WAIT_SECONDS = 10.0  # for the case to accept an event (it is then in history)
VERDICT_WAIT_SECONDS = 5.0  # then for its verdict
NOT_READY_WAIT_SECONDS = 5.0  # a query waits this long for a run's first workflow task
# Temporal calls in flight per process, all requests together. An event's call lasts until its
# case has applied it, so this many cases can be working on an intake's events at once.
TEMPORAL_CONCURRENCY = 128


class CaseRejected(Exception):
    """The case's validator refused the event: it is not in the case's history."""

    def __init__(self, kind: str, detail: str | None, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # vangnet.case_messages.REJECTED_*
        self.detail = detail
        self.message = message


class NoRunningCase(Exception):
    """An event that cannot open a case found none running."""

    def __init__(self, closed: bool, outcome: str | None, municipality: str | None) -> None:
        super().__init__("no running case")
        self.closed = closed
        self.outcome = outcome
        self.municipality = municipality


@dataclass(frozen=True)
class ClosedCase:
    outcome: str | None
    municipality: str | None


class CaseClient:
    def __init__(self, client: Client, task_queue: str, *,
                 temporal_concurrency: int = TEMPORAL_CONCURRENCY,
                 accept_wait: float = ACCEPT_WAIT_SECONDS,
                 verdict_wait: float = VERDICT_WAIT_SECONDS,
                 not_ready_wait: float = NOT_READY_WAIT_SECONDS,
                 timeout: float | None = None) -> None:
        """`timeout` (seconds), when given, sets how long to wait for a case to accept an event
        and for each Temporal call (VANGNET_INTAKE_TEMPORAL_TIMEOUT)."""
        self.client = client
        self.task_queue = task_queue
        self.accept_wait = timeout or accept_wait
        self.verdict_wait = min(verdict_wait, timeout) if timeout else verdict_wait
        self.rpc_timeout = timedelta(seconds=timeout) if timeout else RPC_TIMEOUT
        self.not_ready_wait = not_ready_wait
        self._slots = asyncio.Semaphore(temporal_concurrency)

    # -- events --------------------------------------------------------------------------------

    async def submit(self, event: ValidatedEvent, *, patience: float | None = None) -> EventVerdict | None:
        """Hand the event to its case; its verdict, or None when the case accepted the event but
        did not apply it within VERDICT_WAIT_SECONDS. Waits `patience` seconds (default: the
        accept wait) for the case to accept it. Raises CaseRejected, NoRunningCase (for events
        that cannot open a case) or IntakeError(503)."""
        wait = patience or self.accept_wait
        async with self._slots:
            try:
                # The call's own deadline ends it cleanly; wait_for is the backstop for a server
                # that keeps answering "admitted, not accepted yet" before the deadline.
                handle = await asyncio.wait_for(self._start_update(event, timedelta(seconds=wait)),
                                                wait + 2)
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
                raise _unavailable("update_not_accepted") from None
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND and not event.opening:
                    raise await self._no_running_case(event.case_id) from None
                raise _unavailable("update_failed", err) from None
            try:
                return await asyncio.wait_for(handle.result(rpc_timeout=self.rpc_timeout),
                                              self.verdict_wait)
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
                return None  # accepted, so in the case's history; the verdict comes later
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type:
                    details = list(cause.details or ())
                    raise CaseRejected(cause.type, details[0] if details else None,
                                       cause.message) from None
                raise _unavailable("update_failed") from None
            except RPCError as err:
                raise _unavailable("update_result_failed", err) from None

    async def _start_update(self, event: ValidatedEvent,
                            deadline: timedelta) -> WorkflowUpdateHandle[Any]:
        update_id = update_id_for(event.source, event.event_id)
        if not event.opening:
            return await self.client.get_workflow_handle(event.case_id).start_update(
                SUBMIT_EVENT, event.submission(), wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                id=update_id, result_type=EventVerdict, rpc_timeout=deadline)
        env = event.envelope
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            WORKFLOW_TYPE,
            CaseInput(tenancy_ref=env.tenancy_ref, corporation=env.corporation,
                      municipality=env.municipality),
            id=event.case_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,  # a new episode after a close
            static_summary=texts.case_summary(env.corporation, env.municipality, env.tenancy_ref),
            static_details=texts.case_details(),
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa_keys.MUNICIPALITY, env.municipality),
                SearchAttributePair(sa_keys.HOUSING_CORPORATION, env.corporation),
            ]),
        )
        return await self.client.start_update_with_start_workflow(
            SUBMIT_EVENT, event.submission(), start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED, id=update_id, result_type=EventVerdict,
            rpc_timeout=deadline)

    async def _no_running_case(self, case_id: str) -> NoRunningCase:
        desc = await self.describe(case_id)
        if desc is None or desc.status != WorkflowExecutionStatus.COMPLETED:
            return NoRunningCase(False, None, _keyword(desc, sa_keys.MUNICIPALITY))
        closed = await self.closed_case(desc)
        return NoRunningCase(True, closed.outcome, closed.municipality)

    # -- reads ---------------------------------------------------------------------------------

    async def describe(self, case_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self.client.get_workflow_handle(case_id).describe(rpc_timeout=self.rpc_timeout)
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None  # (INVALID_ARGUMENT: not a workflow id Temporal accepts)
            raise _unavailable("describe_failed", err) from None

    async def closed_case(self, desc: WorkflowExecutionDescription) -> ClosedCase:
        """The outcome and municipality of a case whose last run has completed."""
        outcome = _keyword(desc, sa_keys.CASE_OUTCOME)
        if outcome is None and desc.status == WorkflowExecutionStatus.COMPLETED:
            try:
                handle = self.client.get_workflow_handle(desc.id, run_id=desc.run_id)
                result = await handle.result(follow_runs=False, rpc_timeout=self.rpc_timeout)
                outcome = (result or {}).get("outcome") if isinstance(result, dict) else None
            except Exception:  # the message loses the outcome, nothing else
                outcome = None
        return ClosedCase(outcome, _keyword(desc, sa_keys.MUNICIPALITY))

    async def status(self, case_id: str) -> dict[str, Any]:
        return await self._query(case_id, "status")

    async def timeline_tail(self, case_id: str) -> TimelineTail:
        try:
            return await self._query(case_id, TIMELINE_TAIL, result_type=TimelineTail)
        except _UnknownQuery:
            # A worker from before the timeline was bounded holds all of it.
            entries = await self._query(case_id, "timeline")
            return TimelineTail(first_run_id="", archived=0, entries=entries)

    async def _query(self, case_id: str, name: str, result_type: type | None = None) -> Any:
        handle = self.client.get_workflow_handle(case_id)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.not_ready_wait
        delay = 0.05
        while True:
            try:
                async with self._slots:
                    return await handle.query(name, result_type=result_type, rpc_timeout=self.rpc_timeout)
            except RPCError as err:
                if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    raise not_found("case_not_found", f"there is no case {case_id}") from None
                if not _not_ready(err):
                    raise _unavailable("query_failed", err) from None
                if loop.time() >= give_up:
                    raise unavailable(
                        f"case {case_id} is opening or starting a new run and cannot answer "
                        f"{name} yet; try again in a few seconds", "case_not_ready",
                    ) from None
            except WorkflowQueryFailedError as err:
                if "not registered" in str(err) or "unknown queryType" in str(err):
                    raise _UnknownQuery from None
                raise unavailable(f"case {case_id} could not answer {name}") from None
            # The run's first workflow task has not completed (the server may hold back the
            # first task of a run that continued as new for a second): it answers shortly.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # -- health --------------------------------------------------------------------------------

    async def check_health(self) -> None:
        await self.client.service_client.check_health()


class _UnknownQuery(Exception):
    pass


def _keyword(desc: WorkflowExecutionDescription | None, key: Any) -> str | None:
    if desc is None:
        return None
    try:
        return desc.typed_search_attributes.get(key)
    except Exception:  # a search attribute of another type: treat as absent
        return None


def _not_ready(err: RPCError) -> bool:
    """Temporal's WorkflowNotReady: the run cannot answer queries before its first workflow task."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION and (
        b"WorkflowNotReadyFailure" in (err.raw_grpc_status or b"")
        or "not scheduled yet" in err.message
    )


def _unavailable(what: str, err: RPCError | None = None):  # IntakeError
    log.warning("temporal_call_failed", call=what,
                status=err.status.name if err is not None and err.status else None)
    return temporal_unavailable()


__all__ = ["WORKFLOW_TYPE", "RPC_TIMEOUT", "CaseClient", "CaseRejected", "NoRunningCase",
           "ClosedCase"]
