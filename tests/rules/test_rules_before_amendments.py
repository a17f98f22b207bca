"""Cases that started before RULES.md §11 keep the rules they started with until their run ends
(their histories must replay as they ran: workflow patch "no-case-falls-through-v1"); a new run
moves them to the amended rules (`rules.upgrade`)."""

from __future__ import annotations

from datetime import date, timedelta

from vangnet.domain import Stage
from vangnet.rules import (
    CASE_REVIEW_DUE,
    CRISIS_MEETING_DEADLINE,
    EVICTION_OUTCOME_DEADLINE,
    HELP_PLAN_DEADLINE,
    RULES_BEFORE_AMENDMENTS,
    RULES_WITH_AMENDMENTS,
    upgrade,
)

from .helpers import RENT, CaseDriver, act, ams, midnight, open_with_arrears, shape, to_utc

SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))


def opened() -> CaseDriver:
    case = CaseDriver.dordrecht(rules_version=RULES_BEFORE_AMENDMENTS)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    return case


def in_debt_help() -> CaseDriver:
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("debt_help_started", at=ams(2025, 4, 3, 10), source="sdd")
    return case


def test_the_first_rules_leave_debt_help_without_a_deadline():
    case = in_debt_help()
    assert case.deadlines == {}
    assert case.status()["next_deadline"] is None
    assert shape(case.actions) == [
        act("tenant_notice_sent", "corporation"),
        act("early_signal_submitted", "municipality"),  # the municipality only
        act("collection_paused", "corporation"),
        act("casusregie_assigned", "social_team"),  # and no message when debt help extends it
    ]
    assert case.actions[2].detail == {
        "until": (to_utc(ams(2025, 4, 2, 10)) + timedelta(days=30)).isoformat()}


def test_the_first_rules_ignore_what_the_amendments_changed():
    case = in_debt_help()
    assert case.send("no_contact", at=ams(2025, 5, 1)).ignored == "help was already accepted"
    for event_type, fields in (("progress_reported", {}),
                               ("debt_help_ended", {"reason": "dropped_out"})):
        step = case.send(event_type, at=ams(2025, 5, 2), **fields)
        assert step.ignored == f"{event_type} is not known to the rules this case started under"
    case.send("payment_received", at=ams(2025, 5, 3), amount_cents=RENT, arrears_cents=0)
    assert case.send("eviction_announced", at=ams(2025, 5, 4), eviction_date="2025-06-01"
                     ).ignored == "the arrears are cleared and the case is in aftercare"


def test_the_first_rules_report_each_reason_once_per_case():
    case = opened()
    case.send("summons_served", at=ams(2025, 3, 12), hearing_date="2025-04-20")
    assert case.send("summons_served", at=ams(2025, 3, 13),
                     hearing_date="2025-04-27").actions == []
    assert case.all_actions("mpzo_notified") == [
        act("mpzo_notified", "mpzo", reason="summons_served")]


def test_the_first_rules_let_a_repeated_self_referral_move_the_deadline():
    case = opened()
    case.send("self_referral", at=ams(2025, 3, 12), source="woonbron")
    later = ams(2025, 3, 20)
    step = case.send("self_referral", at=later, source="woonbron")
    assert step.ignored is None and step.actions == []
    assert case.deadlines[HELP_PLAN_DEADLINE] == to_utc(later) + timedelta(days=28)


def test_the_first_rules_read_events_as_they_did():
    case = opened()
    payload = case.payload("payment_received", amount_cents="100", arrears_cents=79_900)
    step = case.send_payload("payment_received", payload, at=ams(2025, 3, 12))
    assert step.ignored is None and case.state.arrears_cents == 79_900


def test_a_new_run_upgrades_a_case_to_the_amended_rules():
    case = in_debt_help()
    case.send("summons_served", at=ams(2025, 4, 10), hearing_date="2025-05-20")
    case.send("eviction_announced", at=ams(2025, 5, 25, 10), eviction_date="2025-06-20")
    assert case.state.deadlines.keys() == {CRISIS_MEETING_DEADLINE}
    now = to_utc(ams(2025, 5, 26, 10))
    state = upgrade(case.state, now)
    assert state.rules_version == RULES_WITH_AMENDMENTS
    assert case.state.rules_version == RULES_BEFORE_AMENDMENTS  # the input is left alone
    assert state.stretch_mpzo_reasons == ["summons_served"]
    assert state.crisis_meeting_pending  # the meeting for this date is still owed
    assert state.deadlines[EVICTION_OUTCOME_DEADLINE] == midnight(date(2025, 6, 22))
    assert len(state.timeline) == len(case.state.timeline)  # no actions, no entries
    assert upgrade(state, now) is state


def test_an_upgraded_case_owes_something_by_a_date():
    case = in_debt_help()
    now = to_utc(ams(2025, 6, 1, 10))
    state = upgrade(case.state, now)
    assert state.deadlines == {CASE_REVIEW_DUE: now + timedelta(days=90)}
    assert state.stage == Stage.debt_help


def _carried_state(path: str) -> dict:
    """The case state a continue-as-new run of a checked-in history started with (its input
    decoded as the worker decodes it: encrypted with the test keys, or plain from before)."""
    import asyncio
    import json
    from pathlib import Path

    from temporalio.client import WorkflowHistory

    from vangnet.temporal_client import project_data_converter

    text = (Path(__file__).resolve().parents[1] / "histories" / path).read_text()
    history = WorkflowHistory.from_json("fixture", text)
    started = history.events[0].workflow_execution_started_event_attributes
    codec = project_data_converter(read_only=True).payload_codec
    payload = started.input.payloads[0]
    if codec is not None:
        [payload] = asyncio.run(codec.decode([payload]))
    return json.loads(payload.data)["state"]


def test_a_state_carried_over_by_earlier_code_loads_and_runs_under_either_rules():
    from vangnet.rules import CaseState, apply_event

    raw = _carried_state("archive/before-no-case-falls-through-v1/continue_as_new.2.json")
    assert "rules_version" not in raw and "stretch_mpzo_reasons" not in raw
    state = CaseState.model_validate(raw)
    assert state.rules_version == RULES_BEFORE_AMENDMENTS and not state.amended
    assert state.policy.case_review_days == 90  # A1's values default where none was recorded
    assert len(state.timeline) == len(raw["timeline"])
    # it round-trips, and moves to the amended rules when a new run starts
    assert CaseState.model_validate(state.model_dump(mode="json")) == state
    now = state.timeline[-1].at + timedelta(days=1)
    upgraded = upgrade(state, now)
    assert upgraded.amended and upgraded.deadlines
    event = CaseDriver.dordrecht().event("progress_reported", now=now,
                                         source=state.context.social_service)
    step = apply_event(upgraded, event, now)
    assert step.ignored is None and step.state.timeline[-1].kind == "progress_reported"
    # and a state written under the amended rules loads as such
    amended = _carried_state("continue_as_new.2.json")
    assert CaseState.model_validate(amended).rules_version == RULES_WITH_AMENDMENTS
