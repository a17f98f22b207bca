"""Every checked-in history (tests/histories/*.json, the archived ones made by earlier code, and
the encrypted ones in tests/histories/encrypted/) replays with the current workflow code.

The plain histories were recorded before payload encryption: the codec passes them through. The
encrypted ones decrypt with the public test keys (tests/codec-test-keys, for tests only) that
tests/conftest.py gives this process.

A failure here means a change to workflows/ or vangnet/rules.py would break running cases: guard
the change with `workflow.patched(...)` (see workflows/case.py) instead of editing the history."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.histories import (
    HISTORIES,
    archived_history_files,
    encrypted_history_files,
    history_files,
    patches_taken,
    webhook_history_files,
)
from tests.histories.rotation import NEW_KEY, OLD_KEY
from vangnet import codec
from vangnet.audit import read_history_file
from vangnet.temporal_client import project_data_converter
from workflows import TenantCaseWorkflow

FILES = history_files()
ENCRYPTED_FILES = encrypted_history_files()
WEBHOOK_FILES = webhook_history_files()
ALL_FILES = FILES + archived_history_files() + ENCRYPTED_FILES + WEBHOOK_FILES


def test_there_are_histories_for_every_path():
    names = {f.name.split(".")[0] for f in FILES}
    assert {"spoor1_resolved", "mpzo_summons_late", "crisis_moratorium", "evicted",
            "continue_as_new", "intake_updates", "long_timeline",
            # RULES §11: help that ends (A2), every eviction date (A4), an eviction during a
            # moratorium (A7), bad input (A12)
            "debt_help_dropped_out", "aftercare_eviction", "moratorium_breached",
            "bad_input"} <= names


def test_the_current_histories_are_made_by_the_current_code():
    # Regenerated after each patch (test_regenerate.py): they carry its marker where the patch
    # changes what a case does. intake-keeps-its-word-v1 is asked for only when a case has a
    # timeline to archive (long_timeline, every run of it).
    archiving = {f.name for f in history_files("long_timeline")}
    assert archiving
    current = {"lean-steps-v1", "no-case-falls-through-v1", "case-list-v1"}
    assert {f.name: patches_taken(f) for f in FILES} == {
        f.name: current | {"intake-keeps-its-word-v1"} if f.name in archiving else current
        for f in FILES}


def test_a_case_with_webhooks_leaves_pushing_to_the_outbox():
    """Issue 10: a case whose party has a webhook takes webhooks-outbox-v1 and runs no push; a
    run that pushed itself (webhooks-v1, before the outbox) is kept and replays too."""
    names = {f.parent.name + "/" + f.name for f in WEBHOOK_FILES}
    assert "webhooks/webhook_outbox.json" in names
    for f in WEBHOOK_FILES:
        text = f.read_text(encoding="utf-8")
        if f.parent.name == "webhooks":
            assert {"webhooks-outbox-v1", "case-list-v1"} <= patches_taken(f)
            assert "webhooks-v1" not in patches_taken(f)
            assert "deliver_webhook" not in text
        else:
            assert "webhooks-v1" in patches_taken(f) and "deliver_webhook" in text


def test_the_code_before_each_patch_is_kept():
    assert {p.parent.name for p in archived_history_files()} >= {
        "before-lean-steps-v1", "before-intake-keeps-its-word-v1",
        "before-no-case-falls-through-v1", "before-case-list-v1"}
    for f in archived_history_files():
        if f.parent.name == "before-no-case-falls-through-v1":
            assert patches_taken(f) == {"lean-steps-v1"}
        if f.parent.name == "before-case-list-v1":  # issue 10: made by the code before the list
            assert "case-list-v1" not in patches_taken(f)
            assert {"lean-steps-v1", "no-case-falls-through-v1"} <= patches_taken(f)


def test_the_encrypted_histories_are_encrypted_across_a_key_rotation():
    """The guard is real: encrypted/ holds a history whose every case payload is encrypted, with
    the old key and the new one; and histories recorded before encryption are replayed too."""
    assert ENCRYPTED_FILES
    for path in ENCRYPTED_FILES:
        history = WorkflowHistory.from_json("fixture", path.read_text(encoding="utf-8"))
        payloads = [p for e in history.events for p in codec.payloads_in(e)]
        assert {codec.key_id_of(p) for p in payloads if codec.is_encrypted(p)} == {OLD_KEY, NEW_KEY}
        start = history.events[0].workflow_execution_started_event_attributes
        assert codec.is_encrypted(start.input.payloads[0])
    def plain(path):
        history = WorkflowHistory.from_json("fixture", path.read_text(encoding="utf-8"))
        return not any(codec.is_encrypted(p) for e in history.events for p in codec.payloads_in(e))

    # (Regenerated fixtures come out encrypted with the test keys; the archive keeps plain ones.)
    assert any(plain(path) for path in FILES + archived_history_files())


@pytest.mark.parametrize("path", ALL_FILES, ids=[str(f.relative_to(HISTORIES)) for f in ALL_FILES])
async def test_history_replays(path):
    case_id = read_history_file(path).case_id
    history = WorkflowHistory.from_json(case_id, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=[TenantCaseWorkflow], data_converter=project_data_converter(read_only=True))
    await replayer.replay_workflow(history)
