"""Every checked-in history (tests/histories/*.json, and the archived ones made by earlier code)
replays with the current workflow code.

A failure here means a change to workflows/ or vangnet/rules.py would break running cases: guard
the change with `workflow.patched(...)` (see workflows/case.py) instead of editing the history."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.histories import HISTORIES, archived_history_files, history_files, patches_taken
from vangnet.audit import read_history_file
from workflows import TenantCaseWorkflow

FILES = history_files()
ALL_FILES = FILES + archived_history_files()


def test_there_are_histories_for_every_path():
    names = {f.name.split(".")[0] for f in FILES}
    assert {"spoor1_resolved", "mpzo_summons_late", "crisis_moratorium", "evicted",
            "continue_as_new",
            # RULES §11: help that ends (A2), every eviction date (A4), an eviction during a
            # moratorium (A7), bad input (A12)
            "debt_help_dropped_out", "aftercare_eviction", "moratorium_breached",
            "bad_input"} <= names


def test_the_current_histories_are_made_by_the_current_code():
    # Regenerated after each patch (test_regenerate.py): they carry its marker.
    assert {f.name: patches_taken(f) for f in FILES} == {
        f.name: {"lean-steps-v1", "no-case-falls-through-v1"} for f in FILES}


def test_the_code_before_each_patch_is_kept():
    assert {p.parent.name for p in archived_history_files()} >= {
        "before-lean-steps-v1", "before-no-case-falls-through-v1"}
    for f in archived_history_files():
        if f.parent.name == "before-no-case-falls-through-v1":
            assert patches_taken(f) == {"lean-steps-v1"}


@pytest.mark.parametrize("path", ALL_FILES, ids=[str(f.relative_to(HISTORIES)) for f in ALL_FILES])
async def test_history_replays(path):
    case_id = read_history_file(path).case_id
    history = WorkflowHistory.from_json(case_id, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=[TenantCaseWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
