"""A workflow's fingerprint: the commands a case's runs sent to Temporal, in order, read from its
history. Command types, activity types (regular and local), patch markers, timers, search
attribute upserts (the keys, not the values), continue-as-new and the end of the run; no payloads,
no times, no inputs (signals and updates are what the scenario sends, not what the code decides).

Two histories of the same scenario have the same fingerprint exactly when the workflow code made
the same decisions; tests/replay/test_fingerprint.py keeps the fingerprints of
tests/histories/scenarios.py in tests/replay/fingerprints.json."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FINGERPRINTS = Path(__file__).resolve().parent / "fingerprints.json"


def _marker_field(marker: dict[str, Any], name: str) -> dict[str, Any]:
    payload = marker["details"][name]["payloads"][0]
    return json.loads(base64.b64decode(payload["data"]))


def commands(events: Iterable[dict[str, Any]]) -> list[str]:
    """The command-shaped events of one run's history (JSON, as `history.to_json_dict()["events"]`)."""
    out: list[str] = []
    for event in events:
        if "activityTaskScheduledEventAttributes" in event:
            out.append(f"activity {event['activityTaskScheduledEventAttributes']['activityType']['name']}")
        elif "markerRecordedEventAttributes" in event:
            marker = event["markerRecordedEventAttributes"]
            name = marker.get("markerName")
            if name == "core_patch":
                out.append(f"patch {_marker_field(marker, 'patch-data')['id']}")
            elif name == "core_local_activity":
                out.append(f"local-activity {_marker_field(marker, 'data')['activity_type']}")
            else:
                out.append(f"marker {name}")
        elif "timerStartedEventAttributes" in event:
            out.append("timer")
        elif "timerCanceledEventAttributes" in event:
            out.append("cancel-timer")
        elif "upsertWorkflowSearchAttributesEventAttributes" in event:
            fields = event["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"]
            keys = sorted(fields.get("indexedFields", {}))
            out.append("upsert " + ",".join(keys))
        elif "workflowPropertiesModifiedEventAttributes" in event:
            out.append("modify-properties")
        elif "startChildWorkflowExecutionInitiatedEventAttributes" in event:
            out.append("child " + event["startChildWorkflowExecutionInitiatedEventAttributes"]["workflowType"]["name"])
        elif "signalExternalWorkflowExecutionInitiatedEventAttributes" in event:
            out.append("signal-external")
        elif "workflowExecutionContinuedAsNewEventAttributes" in event:
            out.append("continue-as-new")
        elif "workflowExecutionCompletedEventAttributes" in event:
            out.append("complete")
        elif "workflowExecutionFailedEventAttributes" in event:
            out.append("fail")
    return out


def fingerprint(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One list of commands per run of an episode (history JSON dicts, first run first)."""
    return [commands(run["events"]) for run in runs]


def read_fingerprints(path: Path = FINGERPRINTS) -> dict[str, list[list[str]]]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_fingerprints(prints: dict[str, list[list[str]]], path: Path = FINGERPRINTS) -> None:
    path.write_text(json.dumps(dict(sorted(prints.items())), indent=1) + "\n", encoding="utf-8")


def difference(name: str, want: list[list[str]], got: list[list[str]]) -> str:
    """The first place where two fingerprints part, for people."""
    if len(want) != len(got):
        return f"{name}: {len(got)} run(s) now, {len(want)} recorded"
    for run, (a, b) in enumerate(zip(want, got, strict=True), start=1):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return f"{name}, run {run}, command {i + 1}: now `{y}`, recorded `{x}`"
        if len(a) != len(b):
            i = min(len(a), len(b))
            now = b[i] if i < len(b) else "(end)"
            was = a[i] if i < len(a) else "(end)"
            return f"{name}, run {run}, command {i + 1}: now `{now}`, recorded `{was}`"
    return f"{name}: equal"
