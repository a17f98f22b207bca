"""RULES.md §11, A1-A4: liveness (every open case owes something by a date), debt help that ends
without result, the corporation always knowing the pause as it is, and a crisis response for
every eviction date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vangnet import calendar
from vangnet.domain import Collection, Stage, Track
from vangnet.policy import Policy
from vangnet.rules import (
    AFTERCARE_END,
    CASE_REVIEW_DUE,
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    EVICTION_OUTCOME_DEADLINE,
    MORATORIUM_END,
    MPZO_MONTHS_THRESHOLD,
    MPZO_PLAN_DEADLINE,
)

from .helpers import (
    RENT,
    CaseDriver,
    act,
    ams,
    midnight,
    mpzo_first,
    open_with_arrears,
    shape,
    to_utc,
)

SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))
MONTHS_DUE = midnight(date(2025, 5, 1))
TEAM = "sociale-wijkteams-dordrecht"


def opened(**kw) -> CaseDriver:
    case = CaseDriver.dordrecht(**kw)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    return case


def signalled(**kw) -> CaseDriver:
    case = opened(**kw)
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    return case


def in_debt_help(**kw) -> CaseDriver:
    """Help accepted 2 April 10:00 (the review clock starts), debt help 3 April."""
    case = signalled(**kw)
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("debt_help_started", at=ams(2025, 4, 3, 10), source="sdd")
    assert case.stage == Stage.debt_help
    return case


CRISIS_AT = ams(2025, 6, 12, 10)


def crisis(at=CRISIS_AT, eviction_date="2025-07-10") -> CaseDriver:
    case = opened()
    case.send("eviction_announced", at=at, eviction_date=eviction_date)
    assert case.stage == Stage.crisis
    return case


# -- A1 liveness --------------------------------------------------------------------------------


def test_a1_debt_help_that_runs_still_owes_progress_every_90_days():
    case = in_debt_help()
    review = to_utc(ams(2025, 4, 2, 10)) + timedelta(days=90)
    assert case.deadlines == {CASE_REVIEW_DUE: review}
    assert case.status()["next_deadline"] == {"kind": CASE_REVIEW_DUE,
                                              "due_at": review.isoformat()}
    assert case.advance_to(review - timedelta(minutes=1)) == []
    # nobody reported: the holder of casusregie (spoor 1: the social team) and the corporation
    assert shape(case.advance_to(review)) == [
        act("escalation_raised", "social_team", "corporation", reason="case_stalled")]
    # ...and the clock re-arms for the same period
    assert case.deadlines == {CASE_REVIEW_DUE: review + timedelta(days=90)}
    assert case.entries("deadline", CASE_REVIEW_DUE)[0]["detail"] == {
        "due_at": review.isoformat()}


@pytest.mark.parametrize("source", ["sdd", TEAM, "mpzo"])
def test_a1_progress_reported_rearms_the_review(source):
    case = in_debt_help()
    at = ams(2025, 6, 20, 11)
    step = case.send("progress_reported", at=at, source=source)
    assert step.actions == [] and step.ignored is None
    assert case.deadlines == {CASE_REVIEW_DUE: to_utc(at) + timedelta(days=90)}
    assert case.advance_to(ams(2025, 9, 1)) == []


@pytest.mark.parametrize("source", ["woonbron", "dordrecht"])
def test_a1_progress_reported_only_by_the_partners_and_the_mpzo(source):
    case = in_debt_help()
    step = case.send("progress_reported", at=ams(2025, 6, 20), source=source)
    assert step.ignored is not None and "may not send progress_reported" in step.ignored


def test_a1_an_event_of_the_holder_rearms_the_review_another_partys_does_not():
    case = in_debt_help()
    review = case.deadlines[CASE_REVIEW_DUE]
    concern_at = ams(2025, 5, 1)
    case.send("concern_reported", at=concern_at, kind="care_and_safety", source="woonbron")
    # the concern moved the case to spoor 2 (the MPZO holds it now) and stage care: a new
    # stage, a new review clock
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.deadlines[CASE_REVIEW_DUE] == to_utc(concern_at) + timedelta(days=90) != review
    case.send("progress_reported", at=ams(2025, 5, 2), source=TEAM)  # any partner may report
    assert case.deadlines[CASE_REVIEW_DUE] == to_utc(ams(2025, 5, 2)) + timedelta(days=90)
    case.send("help_accepted", at=ams(2025, 5, 3), source=TEAM)  # ignored: already accepted
    case.send("care_started", at=ams(2025, 5, 4), source=TEAM, by="social_team")
    # the social team's care is not an event of the MPZO's: the clock stays
    assert case.deadlines[CASE_REVIEW_DUE] == to_utc(ams(2025, 5, 2)) + timedelta(days=90)
    at = ams(2025, 5, 20)
    case.send("mpzo_plan_ready", at=at)  # an event of the MPZO, which holds the case in spoor 2
    assert case.deadlines[CASE_REVIEW_DUE] == to_utc(at) + timedelta(days=90)
    assert MPZO_PLAN_DEADLINE not in case.deadlines
    case.advance_to(to_utc(at) + timedelta(days=90))
    assert case.all_actions("escalation_raised")[-1] == act(
        "escalation_raised", "mpzo", "corporation", reason="case_stalled")


def test_a1_the_review_clock_starts_again_with_each_stage():
    case = in_debt_help()
    at = ams(2025, 5, 5, 10)
    case.send("payment_arrangement_agreed", at=at, monthly_amount_cents=10_000, months=8)
    assert case.stage == Stage.arrangement
    assert case.deadlines == {CASE_REVIEW_DUE: to_utc(at) + timedelta(days=90)}


def test_a1_the_mpzo_owes_a_plan_within_ten_working_days_and_is_reminded_until_it_comes():
    case = signalled()
    at = ams(2025, 4, 7, 10)  # Monday
    step = case.send("no_contact", at=at)
    assert shape(step.actions) == [mpzo_first("signal_not_taken_up")]
    due = calendar.working_days_deadline(to_utc(at), 10)
    assert due > to_utc(at) + timedelta(days=14)  # working days: Easter lies in between
    assert case.deadlines[MPZO_PLAN_DEADLINE] == due
    assert shape(case.advance_to(due)) == [
        act("escalation_raised", "mpzo", reason="mpzo_plan_overdue")]
    again = calendar.working_days_deadline(due, 10)
    assert case.deadlines[MPZO_PLAN_DEADLINE] == again
    case.send("mpzo_plan_ready", at=again - timedelta(days=1))
    assert MPZO_PLAN_DEADLINE not in case.deadlines
    # a second report in the stretch asks for no second plan
    case.send("summons_served", at=again + timedelta(days=1), hearing_date="2025-06-20")
    assert MPZO_PLAN_DEADLINE not in case.deadlines


def test_a1_the_corporation_reports_what_happened_on_the_eviction_date():
    case = crisis(eviction_date="2025-07-10")
    due = midnight(date(2025, 7, 12))  # two days after the date
    assert case.deadlines[EVICTION_OUTCOME_DEADLINE] == due
    case.send("crisis_meeting_held", at=ams(2025, 6, 13), result="postponement_agreed")
    fired = case.advance_to(due)
    assert shape(fired)[-1] == act("escalation_raised", "corporation",
                                   reason="eviction_outcome_unknown")
    assert fired[-1].detail == {"eviction_date": "2025-07-10"}
    assert case.deadlines[EVICTION_OUTCOME_DEADLINE] == to_utc(due) + timedelta(days=2)
    # a postponement answers it, and moves it with the date
    case.send("eviction_postponed", at=ams(2025, 7, 13), new_eviction_date="2025-08-20")
    assert case.deadlines[EVICTION_OUTCOME_DEADLINE] == midnight(date(2025, 8, 22))
    # paying the arrears ends the crisis, and with it the question
    case.send("payment_received", at=ams(2025, 7, 20), amount_cents=RENT, arrears_cents=0)
    assert case.deadlines == {AFTERCARE_END: midnight(date(2026, 1, 20))}


def test_a1_eviction_outcome_policy_value():
    case = CaseDriver.dordrecht(policy=Policy(eviction_outcome_days=5))
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    case.send("eviction_announced", at=ams(2025, 6, 12, 10), eviction_date="2025-07-10")
    assert case.deadlines[EVICTION_OUTCOME_DEADLINE] == midnight(date(2025, 7, 15))


def test_a1_a_crisis_with_nothing_else_owed_falls_back_on_the_review_clock():
    case = crisis(eviction_date="2025-07-10")
    case.send("crisis_meeting_held", at=ams(2025, 6, 13), result="postponement_agreed")
    at = ams(2025, 6, 14)
    case.send("eviction_postponed", at=at, new_eviction_date=None)  # no new date yet
    assert case.stage == Stage.crisis
    # the early signal and the months rule have had their turn (March, May); the MPZO's plan
    # is still owed; once it comes, only the review clock is left to keep the case alive
    case.advance_to(ams(2025, 6, 30))
    assert set(case.deadlines) == {MPZO_PLAN_DEADLINE}
    case.send("mpzo_plan_ready", at=ams(2025, 7, 1))
    assert set(case.deadlines) == {CASE_REVIEW_DUE}
    assert case.status()["next_deadline"]["kind"] == CASE_REVIEW_DUE


def test_a1_review_period_follows_the_policy():
    case = in_debt_help(policy=Policy(case_review_days=30))
    assert case.deadlines == {CASE_REVIEW_DUE: to_utc(ams(2025, 4, 2, 10)) + timedelta(days=30)}


# -- A2 help that ends without result -------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "source", "fields"), [
    ("help_refused", "dordrecht", {}),
    ("no_contact", TEAM, {}),
    ("debt_help_ended", "sdd", {"reason": "dropped_out"}),
    ("debt_help_ended", TEAM, {"reason": "rejected"}),
    ("debt_help_ended", "dordrecht", {"reason": "other"}),
])
def test_a2_help_that_ends_resumes_collection_and_runs_the_months_rule_again(event_type, source,
                                                                             fields):
    """Help accepted before the arrears reach two months; it ends while they are below."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 21, 9), since=date(2025, 3, 20))
    case.send("self_referral", at=ams(2025, 3, 22, 9), source="sdd")
    case.send("help_accepted", at=ams(2025, 3, 25, 10))
    case.send("debt_help_started", at=ams(2025, 3, 27, 10), source="sdd")
    step = case.send(event_type, at=ams(2025, 4, 15, 10), source=source, **fields)
    assert shape(step.actions) == [act("collection_resumed", "corporation")]
    assert case.stage == Stage.arrears and case.collection == Collection.active
    assert not case.state.help_accepted and not case.state.debt_help_started
    [entry] = case.entries("event", event_type)
    assert entry["detail"]["result"] == "help ended"
    # the months timer runs again: two months after 20 March
    assert case.deadlines == {MPZO_MONTHS_THRESHOLD: midnight(date(2025, 5, 20))}
    assert shape(case.advance_to(midnight(date(2025, 5, 20)))) == [mpzo_first("arrears_months")]


def test_a2_help_that_ends_at_the_threshold_reports_help_ended_to_the_mpzo():
    case = in_debt_help()
    step = case.send("debt_help_ended", at=ams(2025, 5, 10, 10), source="sdd",
                     reason="dropped_out")
    assert shape(step.actions) == [act("collection_resumed", "corporation"),
                                   mpzo_first("help_ended")]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.status()["mpzo_reasons"] == ["help_ended"]


def test_a2_debt_help_ended_during_an_arrangement_ends_it():
    case = in_debt_help()
    case.send("payment_arrangement_agreed", at=ams(2025, 4, 20, 10),
              monthly_amount_cents=10_000, months=8)
    case.send("debt_help_ended", at=ams(2025, 4, 25, 10), source="sdd", reason="rejected")
    assert case.state.arrangement is None and case.stage == Stage.arrears
    assert case.send("arrangement_breached", at=ams(2025, 4, 26)).ignored == (
        "no payment arrangement is running")


def test_a2_the_corporation_does_not_end_debt_help():
    case = in_debt_help()
    step = case.send("debt_help_ended", at=ams(2025, 5, 1), source="woonbron", reason="other")
    assert step.ignored == ("a corporation may not send debt_help_ended "
                            "(allowed: municipality, social_service, social_team)")


def test_a2_the_tenant_who_drops_out_does_not_sit_in_debt_help_for_a_year():
    """The first case of the issue: debt help starts, the tenant drops out and every party
    reports it; a year later the case must not still sit in debt_help with no MPZO report."""
    case = in_debt_help()
    case.send("help_refused", at=ams(2025, 4, 20, 10), source=TEAM)
    case.send("no_contact", at=ams(2025, 4, 21, 10), source="sdd")  # help already ended
    case.send("arrangement_breached", at=ams(2025, 4, 22, 10))  # there was none: ignored
    case.advance_to(ams(2026, 4, 1))
    assert case.stage == Stage.care and case.collection == Collection.active
    assert "mpzo_notified" in case.action_names()
    assert case.status()["next_deadline"] is not None


# -- A3 the corporation knows the pause as it is --------------------------------------------------


def test_a3_every_change_of_the_pause_is_told_to_the_corporation():
    case = signalled()
    help_at = ams(2025, 4, 2, 10)
    case.send("help_accepted", at=help_at)
    case.send("debt_help_started", at=ams(2025, 4, 3, 10), source="sdd")
    case.send("payment_arrangement_agreed", at=ams(2025, 4, 20, 10),
              monthly_amount_cents=10_000, months=8)
    case.send("arrangement_breached", at=ams(2025, 6, 2, 10))
    told = [(a.action, a.detail) for a in case.actions
            if a.action in ("collection_paused", "collection_resumed")]
    assert told == [
        ("collection_paused", {"until": (to_utc(help_at) + timedelta(days=30)).isoformat(),
                               "basis": "help_accepted"}),
        ("collection_paused", {"until": None, "basis": "debt_help"}),
        ("collection_paused", {"until": None, "basis": "arrangement"}),
        ("collection_resumed", {}),
    ]
    assert all(a.receivers == [a.receivers[0]] and a.receivers[0].value == "corporation"
               for a in case.actions if a.action.startswith("collection_"))


def test_a3_no_message_when_the_pause_does_not_change():
    case = signalled()
    case.send("payment_arrangement_agreed", at=ams(2025, 4, 2, 10), source="woonbron",
              monthly_amount_cents=10_000, months=8)
    step = case.send("payment_arrangement_agreed", at=ams(2025, 4, 5, 10), source="sdd",
                     monthly_amount_cents=12_000, months=7)
    assert step.actions == []
    assert case.state.arrangement == {"monthly_amount_cents": 12_000, "months": 7}
    assert len(case.all_actions("collection_paused")) == 1


def test_a3_debt_help_after_a_summons_extends_a_running_pause_and_says_so():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("summons_served", at=ams(2025, 4, 10, 10), hearing_date="2025-05-15")
    step = case.send("debt_help_started", at=ams(2025, 4, 11, 10), source="sdd")
    assert shape(step.actions)[0] == act("collection_paused", "corporation")
    assert step.actions[0].detail == {"until": None, "basis": "debt_help"}
    assert COLLECTION_PAUSE_END not in case.deadlines


# -- A4 a crisis response for every eviction date -----------------------------------------------------


def test_a4_an_eviction_announced_during_aftercare_is_a_crisis():
    case = opened()
    case.send("payment_received", at=ams(2025, 3, 20), amount_cents=RENT, arrears_cents=0)
    assert case.stage == Stage.aftercare
    at = ams(2025, 4, 1, 10)
    step = case.send("eviction_announced", at=at, eviction_date="2025-05-01")
    assert shape(step.actions) == [mpzo_first("eviction_announced"),
                                   act("crisis_protocol_invoked", "social_service")]
    assert case.stage == Stage.crisis
    assert AFTERCARE_END not in case.deadlines
    assert case.deadlines[CRISIS_MEETING_DEADLINE] == calendar.working_days_deadline(
        to_utc(at), 3)
    [entry] = case.entries("event", "eviction_announced")
    assert entry["detail"]["result"] == "aftercare ended: an eviction is announced"


@pytest.mark.parametrize(("event_type", "field"), [
    ("eviction_announced", "eviction_date"), ("eviction_postponed", "new_eviction_date")])
def test_a4_a_new_date_after_the_meeting_gets_a_new_crisis_response(event_type, field):
    case = crisis()
    case.send("crisis_meeting_held", at=ams(2025, 6, 13), result="postponement_agreed")
    at = ams(2025, 6, 20, 10)
    step = case.send(event_type, at=at, **{field: "2025-08-15"})
    assert shape(step.actions) == [act("crisis_protocol_invoked", "social_service")]
    assert step.actions[0].detail == {"eviction_date": "2025-08-15"}
    assert case.deadlines[CRISIS_MEETING_DEADLINE] == calendar.working_days_deadline(
        to_utc(at), 3)
    assert case.deadlines[EVICTION_OUTCOME_DEADLINE] == midnight(date(2025, 8, 17))
    # the new meeting is owed: missing it is escalated as for the first date
    fired = case.advance_to(case.deadlines[CRISIS_MEETING_DEADLINE])
    assert shape(fired)[-1] == act("escalation_raised", "social_service", "corporation",
                                   reason="crisis_meeting_overdue")


def test_a4_the_same_date_again_changes_nothing():
    case = crisis(eviction_date="2025-07-10")
    case.send("crisis_meeting_held", at=ams(2025, 6, 13), result="postponement_agreed")
    step = case.send("eviction_announced", at=ams(2025, 6, 20), eviction_date="2025-07-10")
    assert step.actions == []
    [_, again] = case.entries("event", "eviction_announced")
    assert again["detail"]["result"] == "the same eviction date: nothing changes"


def test_a4_a_new_date_that_is_not_ahead_gets_no_new_response():
    case = crisis(eviction_date="2025-07-10")
    case.send("crisis_meeting_held", at=ams(2025, 6, 13), result="postponement_agreed")
    step = case.send("eviction_postponed", at=ams(2025, 6, 20), new_eviction_date="2025-06-19")
    assert "crisis_protocol_invoked" not in [a.action for a in step.actions]
    assert case.state.eviction_date == date(2025, 6, 19)


def test_a4_when_a_moratorium_ends_the_case_stays_in_crisis_and_the_next_date_is_answered():
    case = crisis(eviction_date="2025-07-10")
    case.send("crisis_meeting_held", at=ams(2025, 6, 13, 10), result="moratorium_needed")
    case.send("moratorium_granted", at=ams(2025, 6, 20, 10), until="2025-09-30")
    # the moratorium covers the date: no outcome is owed for it
    assert EVICTION_OUTCOME_DEADLINE not in case.deadlines
    end = midnight(date(2025, 10, 1))
    assert case.deadlines[MORATORIUM_END] == end
    fired = case.advance_to(end)
    assert shape(fired)[-1] == act("escalation_raised", "social_service", "corporation",
                                   reason="moratorium_ended")
    assert fired[-1].detail == {"moratorium_until": "2025-09-30"}
    assert case.stage == Stage.crisis and case.state.moratorium_until is None
    assert case.status()["next_deadline"] is not None
    step = case.send("eviction_announced", at=ams(2025, 10, 6, 10), eviction_date="2025-11-03")
    assert shape(step.actions) == [act("crisis_protocol_invoked", "social_service")]
