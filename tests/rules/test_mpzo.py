"""R5: reports to the MPZO, each reason once per stretch and every summons (A5); track spoor_2;
stage care unless crisis; the first report of a stretch tells the social team (A9(b)) and starts
the MPZO's plan deadline (A1)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vangnet import calendar
from vangnet.domain import Collection, Stage, Track
from vangnet.rules import (
    CASE_REVIEW_DUE,
    CRISIS_MEETING_DEADLINE,
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
    MPZO_PLAN_DEADLINE,
)

from .helpers import CaseDriver, act, ams, midnight, mpzo_first, open_with_arrears, shape, to_utc

SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))
HELP_PLAN_DUE = to_utc(SIGNAL_DUE) + timedelta(days=28)
MONTHS_DUE = midnight(date(2025, 5, 1))


def opened() -> CaseDriver:
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    return case


def signalled() -> CaseDriver:
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    assert case.stage == Stage.early_signal
    return case


# -- (a) summons --------------------------------------------------------------------------------


def test_r5a_summons_reports_to_mpzo_even_in_debt_help():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("debt_help_started", at=ams(2025, 4, 3, 10))
    assert case.stage == Stage.debt_help
    step = case.send("summons_served", at=ams(2025, 4, 20, 10), hearing_date="2025-05-15")
    assert shape(step.actions) == [mpzo_first("summons_served")]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.collection == Collection.paused  # (a) does not touch collection
    assert case.state.hearing_date == date(2025, 5, 15)
    assert case.status()["mpzo_reasons"] == ["summons_served"]


def test_a5_a_second_summons_in_the_same_stretch_is_reported_too():
    case = signalled()
    case.send("summons_served", at=ams(2025, 4, 2, 10), hearing_date="2025-05-15")
    step = case.send("summons_served", at=ams(2025, 4, 3, 10), hearing_date="2025-05-22")
    # T2.4 "altijd": every summons; the social team heard of spoor 2 with the first
    assert shape(step.actions) == [act("mpzo_notified", "mpzo", reason="summons_served")]
    assert case.state.hearing_date == date(2025, 5, 22)
    assert case.state.mpzo_reasons == ["summons_served", "summons_served"]


def test_judgment_requires_a_summons():
    case = signalled()
    assert case.send("judgment_given", at=ams(2025, 4, 2), eviction_granted=True).ignored == (
        "no summons was served")
    case.send("summons_served", at=ams(2025, 4, 3, 10), hearing_date="2025-05-15")
    step = case.send("judgment_given", at=ams(2025, 5, 15, 12), eviction_granted=True)
    assert step.actions == [] and case.state.eviction_granted is True


# -- (b) not taken up ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "source", "fields"),
    [
        ("signal_bounced", "dordrecht", {"reason": "help_refused_before"}),
        ("signal_bounced", "sdd", {"reason": "unknown_tenant"}),
        ("no_contact", "sociale-wijkteams-dordrecht", {}),
        ("no_contact", "dordrecht", {}),
        ("help_refused", "sdd", {}),
        ("help_refused", "dordrecht", {}),
    ],
)
def test_r5b_signal_not_taken_up(event_type, source, fields):
    case = signalled()
    step = case.send(event_type, at=ams(2025, 4, 5, 10), source=source, **fields)
    assert shape(step.actions) == [mpzo_first("signal_not_taken_up")]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.collection == Collection.active  # collection continues in (b)
    assert HELP_PLAN_DEADLINE not in case.deadlines
    assert case.deadlines[MPZO_MONTHS_THRESHOLD] == MONTHS_DUE  # (c) still possible
    at = to_utc(ams(2025, 4, 5, 10))
    assert case.deadlines[MPZO_PLAN_DEADLINE] == calendar.working_days_deadline(at, 10)  # A1
    assert case.deadlines[CASE_REVIEW_DUE] == at + timedelta(days=90)  # A1: stage care
    case.advance_to(MONTHS_DUE)
    assert case.all_actions("mpzo_notified")[-1] == act("mpzo_notified", "mpzo",
                                                        reason="arrears_months")


def test_r5b_each_reason_once():
    case = signalled()
    case.send("no_contact", at=ams(2025, 4, 5, 10))
    step = case.send("help_refused", at=ams(2025, 4, 6, 10))
    assert step.actions == [] and step.ignored is None
    assert case.state.mpzo_reasons == ["signal_not_taken_up"]


def test_r5b_before_any_signal_is_ignored():
    case = opened()
    step = case.send("no_contact", at=ams(2025, 3, 12))
    assert step.ignored == (
        "no early signal was submitted and the tenant did not refer themselves")
    assert case.state.mpzo_reasons == []


def test_r5b_after_a_self_referral():
    case = opened()
    case.send("self_referral", at=ams(2025, 3, 12), source="woonbron")
    step = case.send("help_refused", at=ams(2025, 3, 14), source="sdd")
    assert shape(step.actions) == [mpzo_first("signal_not_taken_up")]


def test_r5b_a_bounce_after_help_accepted_is_ignored():
    # (no_contact and help_refused after help was accepted end the help: A2, test_amendments)
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    assert case.send("signal_bounced", at=ams(2025, 4, 3), reason="late").ignored == (
        "help was already accepted")


def test_r5b_help_plan_deadline_28_days_after_the_signal():
    case = signalled()
    assert case.deadlines[HELP_PLAN_DEADLINE] == HELP_PLAN_DUE
    assert HELP_PLAN_DUE.isoformat() == "2025-04-27T22:00:00+00:00"
    assert case.advance_to(HELP_PLAN_DUE - timedelta(minutes=1)) == []
    fired = case.advance_to(HELP_PLAN_DUE)
    assert shape(fired) == [mpzo_first("signal_not_taken_up")]
    assert case.stage == Stage.care and case.collection == Collection.active
    assert case.entries("deadline", HELP_PLAN_DEADLINE) == [
        {"at": "2025-04-27T22:00:00Z", "category": "deadline", "kind": HELP_PLAN_DEADLINE,
         "detail": {"due_at": "2025-04-27T22:00:00+00:00"}}]
    # a bounce afterwards reports nothing new
    assert case.send("signal_bounced", at=ams(2025, 4, 29), reason="late").actions == []


def test_r5b_help_accepted_in_time_stops_the_deadline():
    case = signalled()
    case.send("help_accepted", at=HELP_PLAN_DUE - timedelta(hours=1))
    assert HELP_PLAN_DEADLINE not in case.deadlines
    assert "mpzo_notified" not in case.action_names()


# -- (c) months: see test_opening_early_signal; help accepted stops it -----------------------------


def test_r5c_not_when_help_accepted():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("debt_help_started", at=ams(2025, 4, 3, 10))
    case.advance_to(ams(2025, 7, 1))
    assert "mpzo_notified" not in case.action_names()
    assert case.track == Track.spoor_1


def test_r5c_and_b_are_different_reasons():
    case = signalled()
    case.advance_to(MONTHS_DUE)
    assert case.all_actions("mpzo_notified") == [
        mpzo_first("signal_not_taken_up"),
        act("mpzo_notified", "mpzo", reason="arrears_months"),
    ]


# -- (d) concern ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["woonbron", "dordrecht", "sdd", "sociale-wijkteams-dordrecht",
                                    "mpzo"])
def test_r5d_concern_opens_a_case_in_care(source):
    case = CaseDriver.dordrecht()
    step = case.send("concern_reported", at=ams(2025, 3, 10, 9), source=source,
                     kind="confused_behaviour")
    assert shape(step.actions) == [
        mpzo_first("concern_confused_behaviour")]
    assert case.state.opened
    assert case.stage == Stage.care and case.track == Track.spoor_2
    # A1: the MPZO's plan, and the review clock of stage care
    assert set(case.deadlines) == {MPZO_PLAN_DEADLINE, CASE_REVIEW_DUE}
    assert "tenant_notice_sent" not in case.action_names()


def test_r5d_concern_on_an_open_case_each_kind_once():
    case = signalled()
    step = case.send("concern_reported", at=ams(2025, 4, 1, 10), kind="nuisance")
    assert shape(step.actions) == [mpzo_first("concern_nuisance")]
    assert case.stage == Stage.care
    assert case.send("concern_reported", at=ams(2025, 4, 2), kind="nuisance").actions == []
    step = case.send("concern_reported", at=ams(2025, 4, 3), kind="care_and_safety",
                     source="sdd")
    assert shape(step.actions) == [act("mpzo_notified", "mpzo", reason="concern_care_and_safety")]
    assert case.state.concerns == ["nuisance", "care_and_safety"]


def test_r5d_concern_then_arrears_runs_the_arrears_rules():
    case = CaseDriver.dordrecht()
    case.send("concern_reported", at=ams(2025, 3, 5), kind="care_and_safety")
    step = open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    assert shape(step.actions) == [act("tenant_notice_sent", "corporation")]
    assert case.stage == Stage.care
    assert set(case.deadlines) == {"early_signal_due", MPZO_MONTHS_THRESHOLD, MPZO_PLAN_DEADLINE,
                                   CASE_REVIEW_DUE}


def test_mpzo_plan_and_care_started():
    case = opened()
    assert case.send("mpzo_plan_ready", at=ams(2025, 3, 11)).ignored == (
        "the MPZO has not been notified for this case")
    case.send("concern_reported", at=ams(2025, 3, 12), kind="care_and_safety")
    assert case.send("mpzo_plan_ready", at=ams(2025, 3, 20)).actions == []
    assert case.state.mpzo_plan_ready
    case.send("care_started", at=ams(2025, 3, 25), source="sociale-wijkteams-dordrecht",
              by="social_team")
    assert case.state.care_started_by == "social_team"
    assert case.stage == Stage.care


# -- (e) eviction announced -----------------------------------------------------------------------


def test_r5e_eviction_announced_without_mpzo_reports_first():
    case = opened()
    case.send("judgment_given", at=ams(2025, 3, 11), eviction_granted=True)  # ignored, no summons
    step = case.send("eviction_announced", at=ams(2025, 3, 20, 10), eviction_date="2025-04-15")
    assert shape(step.actions) == [
        mpzo_first("eviction_announced"),
        act("crisis_protocol_invoked", "social_service"),
    ]
    assert case.stage == Stage.crisis and case.track == Track.spoor_2


def test_r5e_not_when_the_mpzo_is_already_involved():
    case = signalled()
    case.send("summons_served", at=ams(2025, 4, 2, 10), hearing_date="2025-05-15")
    step = case.send("eviction_announced", at=ams(2025, 4, 10, 10), eviction_date="2025-06-20")
    assert shape(step.actions) == [act("crisis_protocol_invoked", "social_service")]
    assert case.state.mpzo_reasons == ["summons_served"]
    assert case.stage == Stage.crisis


def test_mpzo_reasons_during_crisis_keep_stage_crisis():
    case = opened()
    case.send("eviction_announced", at=ams(2025, 3, 20, 10), eviction_date="2025-04-15")
    step = case.send("concern_reported", at=ams(2025, 3, 21), kind="nuisance")
    assert shape(step.actions) == [act("mpzo_notified", "mpzo", reason="concern_nuisance")]
    assert case.stage == Stage.crisis
    # the signal timer and the age threshold (1 May) pass in crisis: handled, still crisis
    case.send("crisis_meeting_held", at=ams(2025, 3, 24), result="postponement_agreed")
    assert CRISIS_MEETING_DEADLINE not in case.deadlines
    fired = shape(case.advance_to(MONTHS_DUE))
    assert act("escalation_raised", "corporation", reason="reminder_missing") in fired
    assert act("mpzo_notified", "mpzo", reason="arrears_months") in fired
    # A1: the MPZO's plan and the outcome of the eviction date (15 April) were owed as well
    assert act("escalation_raised", "mpzo", reason="mpzo_plan_overdue") in fired
    assert act("escalation_raised", "corporation", reason="eviction_outcome_unknown") in fired
    assert case.stage == Stage.crisis


def test_a5_each_reason_once_per_stretch_and_every_summons_over_a_long_case():
    case = signalled()
    case.send("no_contact", at=ams(2025, 4, 2))
    case.send("concern_reported", at=ams(2025, 4, 3), kind="nuisance")
    case.advance_to(MONTHS_DUE)
    case.send("summons_served", at=ams(2025, 5, 5), hearing_date="2025-06-01")
    case.send("summons_served", at=ams(2025, 5, 6), hearing_date="2025-06-02")
    case.send("concern_reported", at=ams(2025, 5, 7), kind="nuisance")
    case.send("eviction_announced", at=ams(2025, 6, 10, 10), eviction_date="2025-07-01")
    case.send("eviction_executed", at=ams(2025, 7, 1, 10))
    assert [a[2] for a in case.all_actions("mpzo_notified")] == [
        "signal_not_taken_up", "concern_nuisance", "arrears_months", "summons_served",
        "summons_served", "evicted"]
