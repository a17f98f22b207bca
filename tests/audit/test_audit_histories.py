"""The audit on checked-in histories (tests/histories): cases that kept the agreement and cases
that broke it, with exact verdicts; a deliberately changed workflow must be reported as not
deterministic, with the sandbox and without (the default), in this process and in worker
processes. Offline: no server needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import starter.audit  # noqa: F401 - registers the audit and export commands
from starter.audit import NOT_DETERMINISTIC_EXIT, replay_processes
from starter.cli import app
from tests.audit.changed_workflow import ChangedCaseWorkflow
from tests.histories import encrypted_history_files, history_files
from vangnet import calendar
from vangnet.audit import (
    CaseAudit,
    CaseReplayer,
    ParallelReplayer,
    audit_episode,
    read_history_files,
    render_case,
)
from vangnet.audit.references import parse_time


async def audit(name: str, workflows=None, sandboxed: bool = False) -> CaseAudit:
    [runs] = read_history_files(history_files(name))
    return audit_episode(await CaseReplayer(workflows, sandboxed=sandboxed).replay(runs))


async def _each(items):
    for item in items:
        yield item


def verdicts(a: CaseAudit) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in a.findings:
        assert f.obligation not in out, f"{f.obligation} listed twice"
        out[f.obligation] = f.verdict
    return out


def finding(a: CaseAudit, obligation: str):
    [f] = [f for f in a.findings if f.obligation == obligation]
    return f


def first(a: CaseAudit, category: str, kind: str, reason: str | None = None):
    return next(r for r in a.rows if r.category == category and r.kind == kind
                and (reason is None or r.detail.get("reason") == reason))


async def test_spoor_1_to_resolved_keeps_the_agreement():
    a = await audit("spoor1_resolved")
    assert a.deterministic and a.case["outcome"] == "resolved"
    assert verdicts(a) == {
        "tenant_notice": "met",
        "early_signal": "met",
        "signal_partners_told": "met",  # A9(a)
        "collection_paused": "met",
        "casusregie": "met",
        "pause_extended": "met",  # A3
        "municipality_response": "met",
        # A1: the social team never reported progress in the 100-day arrangement; escalated
        "case_review": "missed",
        "case_review_escalation": "met",
        "aftercare_start": "met",
        "aftercare_completion": "met",
    }
    # the pair without RIS sent its signal by the alternative channel
    assert "beveiligde mailbox" in first(a, "action", "early_signal_submitted").detail["channel"]


async def test_a_summons_reported_late_makes_the_mpzo_report_late():
    a = await audit("mpzo_summons_late")
    assert verdicts(a) == {
        "tenant_notice": "met",
        "early_signal": "met",
        "signal_partners_told": "met",
        "collection_paused": "met",
        "casusregie": "met",
        "pause_extended": "met",
        "municipality_response": "met",
        "mpzo:summons_served": "late",
        "mpzo_social_team_told": "met",  # A9(b)
        "mpzo_plan": "overdue",  # A1: the MPZO never reported its plan (the case is open)
        "mpzo_plan_escalation": "met",
        "case_review": "pending",  # A1: in spoor 2 the MPZO holds the case
    }
    late = finding(a, "mpzo:summons_served")
    assert late.late_days == 9 and late.late_by == "9 days"
    assert late.rule == "R5(a)"
    assert any("reported 9 days later by trivire" in n for n in late.notes)


async def test_a_crisis_meeting_after_the_working_day_deadline_is_late():
    a = await audit("crisis_moratorium")
    assert verdicts(a) == {
        "tenant_notice": "met",
        "mpzo:arrears_months": "met",  # two months of arrears by size at once
        "mpzo_social_team_told": "met",
        "mpzo_plan": "missed",  # A1: no plan before aftercare began
        "mpzo_plan_escalation": "met",
        "early_signal": "met",
        "signal_partners_told": "met",
        "mpzo:signal_not_taken_up": "met",
        "municipality_response": "met",
        "mpzo:summons_served": "met",
        "case_review": "missed",  # A1: the MPZO did not report in care
        "case_review_escalation": "met",
        "crisis_protocol": "met",
        "crisis_escalation": "met",
        "crisis_meeting": "late",
        "moratorium_request": "met",
        "aftercare_start": "met",
        "aftercare_completion": "pending",
    }
    announced = calendar.local_date(first(a, "event", "eviction_announced").at)
    held = calendar.local_date(first(a, "event", "crisis_meeting_held").at)
    due = calendar.add_working_days(announced, 3)
    meeting = finding(a, "crisis_meeting")
    assert meeting.due_day == due
    assert meeting.late_days == (held - due).days > 0
    assert meeting.late_working_days == sum(
        calendar.is_working_day(due + timedelta(days=i)) for i in range(1, (held - due).days + 1)
    )
    assert meeting.responsible == "avres, poort6"


async def test_an_eviction_without_a_crisis_meeting_misses_it():
    a = await audit("evicted")
    assert a.case["outcome"] == "evicted"
    assert verdicts(a) == {
        "tenant_notice": "met",
        "mpzo:arrears_months": "met",  # the tenant objected to the signal: no early signal owed
        "mpzo_social_team_told": "met",
        "mpzo_plan": "missed",
        "mpzo_plan_escalation": "met",
        "mpzo:summons_served": "met",
        "crisis_protocol": "met",
        "crisis_escalation": "met",
        "crisis_meeting": "missed",
        "mpzo:evicted": "met",
        "close": "met",
        "eviction_outcome": "met",  # A1: executed on the day
    }


async def test_a_missing_reminder_makes_the_early_signal_late():
    a = await audit("reminder_missing")
    assert verdicts(a) == {
        "tenant_notice": "met",
        "reminder_escalation": "met",  # R2: escalated at the threshold
        "early_signal": "late",
        "signal_partners_told": "met",
        "collection_paused": "met",
        "casusregie": "met",
        "municipality_response": "met",
        "pause_expiry": "met",
        "pause_escalation": "met",  # R4
        "mpzo:arrears_months": "met",
        "mpzo_social_team_told": "met",
        "close": "met",
        "case_review": "met",
    }
    signal = finding(a, "early_signal")
    since = date.fromisoformat(first(a, "event", "arrears_reported").detail["arrears_since"])
    sent = calendar.local_date(first(a, "action", "early_signal_submitted").at)
    assert signal.due_day == since + timedelta(days=30)
    assert signal.late_days == (sent - signal.due_day).days >= 12
    assert signal.responsible == "tablis-wonen"
    assert any("no reminder_sent" in n for n in signal.notes)


async def test_nuisance_excludes_the_moratorium():
    a = await audit("nuisance_no_moratorium")
    v = verdicts(a)
    assert v["moratorium_excluded"] == "met" and "moratorium_request" not in v
    # A1: no plan and no progress from the MPZO; everything else kept
    assert {k for k, verdict in v.items() if verdict != "met"} == {"mpzo_plan", "case_review"}


async def test_continue_as_new_is_followed_across_runs():
    a = await audit("continue_as_new")
    assert a.deterministic and len(a.runs) >= 2
    assert a.case["stage"] == "aftercare"
    v = verdicts(a)
    assert {k for k, verdict in v.items() if verdict not in ("met", "pending")} == {
        "mpzo_plan", "case_review"}  # A1: the MPZO neither planned nor reported in 8 months
    payments = [r for r in a.rows if r.kind == "payment_received"]
    assert len(payments) == 8  # the timeline spans every run


async def test_rule_references():
    a = await audit("crisis_moratorium")
    rules = {(r.category, r.kind, r.detail.get("reason")): r.rule for r in a.rows}
    assert rules[("action", "mpzo_notified", "summons_served")] == "R5(a)"
    assert rules[("action", "mpzo_notified", "signal_not_taken_up")] == "R5(b); decision 3"
    assert rules[("action", "escalation_raised", "crisis_meeting_overdue")] == "R8; decision 6"
    assert rules[("deadline", "crisis_meeting_deadline", None)] == "R8; decision 6"
    assert rules[("event", "payment_received", None)] == "R10; decision 8"
    assert all(r.rule for r in a.rows)
    who = {r.kind: r.who for r in a.rows}
    assert who["no_contact"] == "sociaal-team-gorinchem"
    assert who["crisis_protocol_invoked"] == "vangnet → avres"


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed (default)", "sandboxed"])
async def test_a_changed_workflow_is_reported_not_deterministic(sandboxed):
    a = await audit("evicted", workflows=[ChangedCaseWorkflow], sandboxed=sandboxed)
    assert not a.deterministic
    [why] = a.failures.values()
    assert "Nondeterminism" in why
    assert "NOT deterministic" in render_case(a, "text")
    # the same history with today's workflow is fine
    assert (await audit("evicted", sandboxed=sandboxed)).deterministic


async def test_the_sandbox_changes_nothing_in_the_reports():
    episodes = read_history_files(history_files())
    reports = {}
    for sandboxed in (False, True):
        replayer = CaseReplayer(quiet=True, sandboxed=sandboxed)
        reports[sandboxed] = [render_case(audit_episode(e), "json")
                              async for e in replayer.replay_many(_each(episodes))]
    assert len(reports[False]) == len(episodes) >= 7
    assert reports[False] == reports[True]


async def test_worker_processes_give_the_same_reports():
    episodes = read_history_files(history_files())
    here = {e.case_id: render_case(audit_episode(e), "json")
            async for e in CaseReplayer(quiet=True).replay_many(_each(episodes * 2))}
    with ParallelReplayer(2) as replayer:
        replayed = [e async for e in replayer.replay_many(_each(episodes * 2))]
    assert len(replayed) == 2 * len(episodes)  # in the order they finish: compare by case
    for e in replayed:
        assert render_case(audit_episode(e), "json") == here[e.case_id]


async def test_worker_processes_report_a_changed_workflow_not_deterministic():
    episodes = read_history_files(history_files())
    with ParallelReplayer(2, [ChangedCaseWorkflow]) as replayer:
        replayed = [e async for e in replayer.replay_many(_each(episodes))]
    assert len(replayed) == len(episodes)
    for e in replayed:
        assert not e.deterministic
        assert all("Nondeterminism" in why for why in e.failures.values())


def test_replay_processes(monkeypatch):
    import vangnet.audit

    monkeypatch.setattr(vangnet.audit, "default_jobs", lambda: 4)
    assert replay_processes(0, None) == 0  # 0: in this process
    assert replay_processes(60, None) == 0  # too few cases to pay for starting processes
    assert replay_processes(120, None) == 2
    assert replay_processes(10_000, None) == 4
    monkeypatch.setattr(vangnet.audit, "default_jobs", lambda: 1)
    assert replay_processes(10_000, None) == 0
    assert replay_processes(10_000, 1) == 0  # --jobs 1
    assert replay_processes(10_000, 3) == 3  # --jobs 3, whatever the CPUs
    assert replay_processes(2, 3) == 2


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_the_command_reads_history_files(fmt):
    files = history_files("continue_as_new")
    args = ["audit", "--format", fmt]
    for f in reversed(files):  # any order: the runs are put in order from what they say
        args += ["--history", str(f)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        report = json.loads(result.stdout)
        assert report["case_id"] == "case-kleurrijkwonen-H-continue-as-new"
        assert report["replay"]["deterministic"] is True
        assert report["compliance"]["tally"]["met"] == 12
        assert all(parse_time(t["at"]) for t in report["timeline"])
    elif fmt == "markdown":
        assert result.stdout.startswith("# Audit of `case-kleurrijkwonen-H-continue-as-new`")
        assert "| verdict | rule | obligation |" in result.stdout
    else:
        assert "Compliance with the agreement: 12 met, 0 late, 2 missed" in result.stdout


@pytest.mark.parametrize("flags", [[], ["--sandboxed"]], ids=["unsandboxed (default)", "sandboxed"])
def test_the_command_exits_3_when_not_deterministic(monkeypatch, flags):
    import workflows

    file = str(history_files("evicted")[0])
    assert CliRunner().invoke(app, ["audit", "--history", file, *flags]).exit_code == 0
    monkeypatch.setattr(workflows, "TenantCaseWorkflow", ChangedCaseWorkflow)
    result = CliRunner().invoke(app, ["audit", "--history", file, *flags])
    assert result.exit_code == NOT_DETERMINISTIC_EXIT
    assert "NOT deterministic" in result.stdout


def test_the_command_gives_the_same_report_with_the_sandbox():
    args = ["audit", "--format", "json"]
    for f in history_files("crisis_moratorium"):
        args += ["--history", str(f)]
    plain, strict = (CliRunner().invoke(app, args + flags) for flags in ([], ["--sandboxed"]))
    assert plain.exit_code == strict.exit_code == 0
    assert plain.stdout == strict.stdout


def test_bad_input_gives_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{\"not\": \"a history\"}")
    result = CliRunner().invoke(app, ["audit", "--history", str(bad)])
    assert result.exit_code == 1
    assert "not a Temporal history" in result.stderr
    only_second = history_files("continue_as_new")[1]
    result = CliRunner().invoke(app, ["audit", "--history", str(only_second)])
    assert result.exit_code == 1 and "first run is missing" in result.stderr
    result = CliRunner().invoke(app, ["audit"])
    assert result.exit_code == 1 and "CASE_ID" in result.stderr
    result = CliRunner().invoke(app, ["audit", "x", "--format", "pdf"])
    assert result.exit_code == 1 and "--format" in result.stderr
    result = CliRunner().invoke(app, ["audit", "x", "--jobs", "2"])
    assert result.exit_code == 1 and "go with --all" in result.stderr
    result = CliRunner().invoke(app, ["audit", "--all", "--jobs", "0"])
    assert result.exit_code == 1 and "--jobs must be 1 or more" in result.stderr


async def test_a_run_that_has_only_just_continued_as_new_is_audited_from_its_input():
    from temporalio.client import WorkflowHistory

    from vangnet.audit.history import make_run

    [runs] = read_history_files(history_files("continue_as_new"))
    last = runs[-1]
    fresh = make_run(WorkflowHistory(last.case_id, [last.history.events[0]]), "just started")
    episode = await CaseReplayer().replay([*runs[:-1], fresh])
    assert episode.deterministic
    carried = episode.state["timeline"]  # the state the last run was started with
    full = audit_episode(await CaseReplayer().replay(runs))
    assert 0 < len(carried) <= len(full.rows)
    assert audit_episode(episode).findings


def test_export_paths_file_folder_and_runs(tmp_path):
    from starter.audit import export_paths

    assert export_paths("case-x", None, 1) == [Path("case-x.json")]
    assert export_paths("case-x", "out.json", 1) == [Path("out.json")]
    # A folder: one that exists, or a new one named with a trailing slash.
    assert export_paths("case-x", str(tmp_path), 1) == [tmp_path / "case-x.json"]
    assert export_paths("case-x", "newdir/", 1) == [Path("newdir/case-x.json")]
    assert export_paths("case-x", "newdir/", 2) == [Path("newdir/case-x.1.json"),
                                                   Path("newdir/case-x.2.json")]


# ---- encrypted histories (issue 12) ---------------------------------------------------------

async def test_an_encrypted_history_is_audited_with_the_keys_it_was_written_with():
    """tests/histories/encrypted/key_rotation.json: written under test-1, then test-2; this
    process holds both test keys (tests/conftest.py). In this process and in worker processes."""
    [runs] = read_history_files(encrypted_history_files())
    here = audit_episode(await CaseReplayer().replay(runs))
    assert here.deterministic and here.case["outcome"] == "resolved"
    assert set(verdicts(here).values()) == {"met"}
    with ParallelReplayer(jobs=2) as replayer:
        [there] = [audit_episode(e) async for e in replayer.replay_many(_each([runs]))]
    assert render_case(there, "json") == render_case(here, "json")


@pytest.mark.parametrize("held", ["test-1", "test-2"])
def test_a_history_under_a_key_this_process_lacks_is_a_clear_error(tmp_path, held):
    """Not 'not deterministic' (exit 3): an error (exit 1) that names the missing key."""
    from tests.conftest import TEST_KEY_FILE

    only = tmp_path / "keys"
    only.write_text("".join(line + "\n" for line in TEST_KEY_FILE.read_text().splitlines()
                            if line.startswith(held + ":")))
    missing = {"test-1": "test-2", "test-2": "test-1"}[held]
    result = subprocess.run(
        [sys.executable, "-m", "starter", "audit", "--history", str(encrypted_history_files()[0])],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "VANGNET_CODEC_KEY_FILE": str(only)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"key '{missing}', which this process does not hold (keys held: {held})" in result.stderr
    assert "Traceback" not in result.stderr
