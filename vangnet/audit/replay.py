"""Replaying a case's runs with the current workflow code (Temporal's Replayer).

A replay answers two questions at once: is the history still deterministic under today's code
(a `NondeterminismError` says it is not), and what does the case know at the end of its history
(its state, timeline included, read from the replayed workflow object: the same code the worker
runs builds it, nothing is re-implemented for the audit).

The audit replays with the unsandboxed workflow runner unless asked for the sandbox, at twice the
speed: workflow code that keeps Temporal's rules issues the same commands either way, so a history
gets the same verdict (a history the code no longer matches fails with either runner). The
sandbox is there to catch code that breaks those rules (a clock read, a random number, I/O);
`tests/replay` replays the checked-in histories with it, and `sandboxed=True` (`starter audit
--sandboxed`) gives the strict runner here as well.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from vangnet.audit.history import HistoryError, Run, input_data
from vangnet.codec import (
    ENV_KEY_FILE,
    ENV_KEYS,
    Keyring,
    data_converter,
    key_id_of,
    payloads_in,
    process_keyring,
)


class _StateCapture(Interceptor):
    """Keeps a reference to each replayed workflow object, by run id, to read its state after."""

    def __init__(self) -> None:
        self.instances: dict[str, Any] = {}

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        instances = self.instances

        class _Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                instances[workflow.info().run_id] = workflow.instance()
                return await super().execute_workflow(input)

        return _Inbound


@dataclass
class ReplayedEpisode:
    """The outcome of replaying every run of one episode."""

    case_id: str
    runs: list[Run]
    failures: dict[str, str] = field(default_factory=dict)  # run id -> what went wrong
    state: dict[str, Any] | None = None  # the case state at the end of the last run

    @property
    def deterministic(self) -> bool:
        return not self.failures

    @property
    def as_of(self) -> datetime:
        """The moment of the case's last recorded step (its own clock)."""
        return self.runs[-1].last_event_time


def _describe(failure: Exception) -> str:
    """The core's own message ("[TMPRL1100] Nondeterminism error: ...") without the wrapping."""
    text = str(failure).strip() or type(failure).__name__
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    return found.group(1) if found else f"{type(failure).__name__}: {text}"


class CaseReplayer:
    """One Replayer, reused for many episodes (building it and the sandbox costs time)."""

    def __init__(
        self,
        workflows: Sequence[type] | None = None,
        *,
        quiet: bool = False,
        sandboxed: bool = False,
    ) -> None:
        """`quiet`: keep the SDK core's own warnings (a failing replay logs one) off stderr; the
        report carries the failure. `sandboxed`: replay in Temporal's workflow sandbox (strict,
        half as fast) instead of the unsandboxed runner."""
        if workflows is None:
            import workflows as workflow_module

            workflows = [workflow_module.TenantCaseWorkflow]
        self._capture = _StateCapture()
        self._keyring = process_keyring(read_only=True)
        if quiet:
            # A history that cannot be decrypted fails its activation, which the SDK logs with
            # a traceback; the audit says so itself (`_check_keys`).
            logging.getLogger("temporalio.worker._workflow").setLevel(logging.CRITICAL)
        self._replayer = Replayer(
            workflows=list(workflows),
            # Encrypted histories decrypt with this process's keys; plain (older) ones pass.
            data_converter=data_converter(self._keyring),
            interceptors=[self._capture],
            runtime=_quiet_runtime() if quiet else None,
            **({} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}),  # type: ignore[arg-type]
        )

    async def replay(self, runs: Sequence[Run]) -> ReplayedEpisode:
        [out] = [e async for e in self.replay_many(_once(list(runs)))]
        return out

    async def replay_many(
        self, episodes: AsyncIterator[list[Run]]
    ) -> AsyncIterator[ReplayedEpisode]:
        """Replay episodes as they arrive; yields one result per episode, in order."""
        pending: list[ReplayedEpisode] = []
        remaining: list[int] = []

        ready: list[ReplayedEpisode] = []

        async def histories() -> AsyncIterator[WorkflowHistory]:
            async for runs in episodes:
                episode = ReplayedEpisode(case_id=runs[0].case_id, runs=list(runs))
                # A run whose first workflow task has not completed yet (just continued as new)
                # has nothing to replay: its state is the one it was started with.
                replayable = [r for r in runs if _has_completed_task(r)]
                if runs[-1] not in replayable:
                    episode.state = _input_state(runs[-1])
                if not replayable:
                    ready.append(episode)
                    continue
                pending.append(episode)
                remaining.append(len(replayable))
                for run in replayable:
                    yield run.history

        async with self._replayer.workflow_replay_iterator(histories()) as results:
            async for result in results:
                while ready:
                    yield ready.pop(0)
                episode = pending[0]
                run_id = result.history.run_id
                if result.replay_failure is not None:
                    _check_keys(result.history, self._keyring)
                    episode.failures[run_id] = _describe(result.replay_failure)
                instance = self._capture.instances.pop(run_id, None)
                if run_id == episode.runs[-1].run_id and instance is not None:
                    episode.state = _state_of(instance)
                remaining[0] -= 1
                if remaining[0] == 0:
                    pending.pop(0)
                    remaining.pop(0)
                    yield episode
        while ready:
            yield ready.pop(0)


def _check_keys(history: WorkflowHistory, keyring: Keyring) -> None:
    """A replay failed: if the history holds payloads under keys this process lacks, that is the
    reason (say so, as an error), not a change in the workflow code. Only a failed replay pays
    for the walk over every payload."""
    missing = sorted({key for e in history.events for p in payloads_in(e)
                      if (key := key_id_of(p)) is not None and not keyring.holds(key)})
    if missing:
        held = ", ".join(keyring.ids) or "none"
        raise HistoryError(
            f"{history.workflow_id}: payloads encrypted with key {', '.join(map(repr, missing))}, "
            f"which this process does not hold (keys held: {held}); set {ENV_KEYS} or "
            f"{ENV_KEY_FILE}")


def _has_completed_task(run: Run) -> bool:
    return any(e.HasField("workflow_task_completed_event_attributes") for e in run.history.events)


def _input_state(run: Run) -> dict[str, Any] | None:
    """The case state a run was started with (continue-as-new carries it in the input)."""
    try:
        data = input_data(run.history, run.source)
    except (HistoryError, ValueError):
        return None
    state = data.get("state") if isinstance(data, dict) else None
    return state if isinstance(state, dict) else None


def _state_of(instance: Any) -> dict[str, Any] | None:
    """The workflow's `state` query, called on the replayed object (it only reads its state)."""
    try:
        return instance.state()
    except Exception:  # noqa: BLE001 - a run that failed before its state existed
        return None


async def _once(runs: list[Run]) -> AsyncIterator[list[Run]]:
    yield runs


_QUIET_RUNTIME: Runtime | None = None


def _quiet_runtime() -> Runtime:
    global _QUIET_RUNTIME
    if _QUIET_RUNTIME is None:
        _QUIET_RUNTIME = Runtime(telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        ))
    return _QUIET_RUNTIME
