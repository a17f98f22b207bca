"""The checked-in histories of vangnet's own periodic workflows (the archiver, a report run, the
purge: tests/histories/operations/, written by tests/schedules with VANGNET_REGENERATE_HISTORIES=1)
replay with the current code: a change that would break a run in flight fails here."""

from __future__ import annotations

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.histories import HISTORIES
from workflows import OPERATIONS_WORKFLOWS

FILES = sorted(f for f in (HISTORIES / "operations").glob("*.json") if f.stem != "workflow_ids")
WORKFLOW_IDS = json.loads((HISTORIES / "operations" / "workflow_ids.json").read_text())


def test_every_periodic_workflow_has_a_history():
    assert {f.stem for f in FILES} == {"vangnet-archiver", "vangnet-report-quarterly",
                                       "vangnet-report-annual", "vangnet-archive-purge"}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
async def test_history_replays(path):
    history = WorkflowHistory.from_json(WORKFLOW_IDS[path.stem], path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=OPERATIONS_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
