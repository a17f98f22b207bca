"""Case histories: fetched from Temporal (every run of an episode, following continue-as-new),
written to and read from the JSON files that Temporal's Replayer and the Web UI's import read.

One file holds one run (`{"events": [...]}`, as `temporal workflow show --output json` and the UI's
download write it). An episode that continued as new has several runs; `order_runs` puts files
of one episode in order from what their first events say, whatever the file names.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from vangnet.codec import CodecConfigError, CodecKeyError, decrypt_payload
from vangnet.domain import case_id_for


class HistoryError(ValueError):
    """A history file or run that cannot be used (unreadable, not a case, a broken chain)."""


@dataclass(frozen=True)
class Run:
    """One run of a case: its history plus what its first event says about the chain."""

    history: WorkflowHistory
    run_id: str
    first_run_id: str
    previous_run_id: str | None
    source: str  # where it came from (file path or "server")

    @property
    def case_id(self) -> str:
        return self.history.workflow_id

    @property
    def last_event_time(self) -> datetime:
        return event_time(self.history.events[-1])


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _started(history: WorkflowHistory, source: str) -> Any:
    if not history.events or not history.events[0].HasField(
        "workflow_execution_started_event_attributes"
    ):
        raise HistoryError(f"{source}: the first event is not WorkflowExecutionStarted")
    return history.events[0].workflow_execution_started_event_attributes


def make_run(history: WorkflowHistory, source: str = "server") -> Run:
    started = _started(history, source)
    if started.workflow_type.name != "TenantCaseWorkflow":
        raise HistoryError(f"{source}: a {started.workflow_type.name} history, not a case")
    return Run(
        history=history,
        run_id=started.original_execution_run_id,
        first_run_id=started.first_execution_run_id or started.original_execution_run_id,
        previous_run_id=started.continued_execution_run_id or None,
        source=source,
    )


def input_data(history: WorkflowHistory, source: str = "<history>") -> Any:
    """The run's input (CaseInput as JSON), decrypted with this process's keys (vangnet.codec)
    when it is encrypted; a history recorded before encryption is read as it is."""
    started = _started(history, source)
    if not started.input.payloads:
        raise HistoryError(f"{source}: the start event has no input")
    return json.loads(plain_payload(started.input.payloads[0], source).data)


def plain_payload(payload: Payload, source: str) -> Payload:
    try:
        return decrypt_payload(payload)
    except (CodecKeyError, CodecConfigError) as err:
        raise HistoryError(f"{source}: {err}") from None


def _case_id_from_input(history: WorkflowHistory, source: str) -> str:
    """The workflow id is not in a history file; a case's id follows from its input."""
    try:
        data = input_data(history, source)
        return case_id_for(data["corporation"], data["tenancy_ref"])
    except HistoryError:
        raise
    except (ValueError, KeyError, TypeError):
        raise HistoryError(f"{source}: the start event's input is not a case input") from None


def parse_history(text: str | dict[str, Any], source: str = "<history>") -> Run:
    """A run from the JSON of one history (the Replayer's and the UI's format)."""
    try:
        data = json.loads(text) if isinstance(text, str) else text
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise HistoryError(f"{source}: not a Temporal history (no \"events\" list)")
        probe = WorkflowHistory.from_json("probe", data)
    except HistoryError:
        raise
    except Exception as err:  # noqa: BLE001 - protobuf and JSON errors alike
        raise HistoryError(f"{source}: not a Temporal history ({err})") from None
    case_id = _case_id_from_input(probe, source)
    return make_run(WorkflowHistory(case_id, list(probe.events)), source)


def read_history_file(path: Path) -> Run:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise HistoryError(f"{path}: {err.strerror or err}") from None
    return parse_history(text, str(path))


def history_json(history: WorkflowHistory) -> str:
    """Compact JSON of one run, as the Replayer and the UI import read it."""
    return json.dumps(history.to_json_dict(), separators=(",", ":")) + "\n"


def order_runs(runs: Sequence[Run]) -> list[list[Run]]:
    """Group runs into episodes (by first run id) and order each by continue-as-new links."""
    episodes: dict[str, list[Run]] = {}
    for run in runs:
        episodes.setdefault(run.first_run_id, []).append(run)
    out: list[list[Run]] = []
    for first, members in episodes.items():
        by_previous = {r.previous_run_id: r for r in members}
        chain: list[Run] = []
        current = next((r for r in members if r.run_id == first), None)
        if current is None:
            raise HistoryError(
                f"episode {first} of {members[0].case_id}: the first run is missing "
                f"(have {', '.join(r.source for r in members)})"
            )
        while current is not None:
            chain.append(current)
            current = by_previous.get(current.run_id)
        if len(chain) != len(members):
            missing = {r.source for r in members} - {r.source for r in chain}
            raise HistoryError(
                f"episode {first} of {members[0].case_id}: a run in the chain is missing "
                f"before {', '.join(sorted(missing))}"
            )
        out.append(chain)
    return out


def read_history_files(paths: Iterable[Path]) -> list[list[Run]]:
    return order_runs([read_history_file(p) for p in paths])


async def fetch_episode(client: Client, case_id: str, run_id: str | None = None) -> list[Run]:
    """Every run of one episode, oldest first: from `run_id` (default: the latest run of the
    case) back to the episode's first run through each run's `continued_execution_run_id`."""
    runs: list[Run] = []
    current: str | None = run_id
    while True:
        handle = client.get_workflow_handle(case_id, run_id=current)
        history = await handle.fetch_history()
        run = make_run(history)
        runs.append(run)
        if run.previous_run_id is None:
            break
        current = run.previous_run_id
    runs.reverse()
    return runs


async def list_episodes(client: Client, query: str) -> AsyncIterator[tuple[str, str]]:
    """(case id, last run id) of every episode matching a visibility query."""
    full = "WorkflowType = 'TenantCaseWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"
    if query:
        full += f" AND ({query})"
    async for execution in client.list_workflows(full):
        yield execution.id, execution.run_id
