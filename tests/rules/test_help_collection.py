"""R3 (help accepted, collection pause, casusregie), R4 (pause expiry), R6 (breach), R7 (help after
court steps); A3 (every change of the pause told), and A1's review clock in debt help and an
arrangement."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vangnet.domain import Collection, Stage, Track
from vangnet.rules import (
    CASE_REVIEW_DUE,
    COLLECTION_PAUSE_END,
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
    MPZO_PLAN_DEADLINE,
)

from .helpers import CaseDriver, act, ams, midnight, mpzo_first, open_with_arrears, shape, to_utc

SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))
MONTHS_DUE = midnight(date(2025, 5, 1))


def signalled() -> CaseDriver:
    """Arrears from 1 March, reminder sent, early signal submitted at 31 March 00:00."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    assert case.stage == Stage.early_signal
    return case


# -- R3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["dordrecht", "sdd", "sociale-wijkteams-dordrecht"])
def test_r3_help_accepted_pauses_collection_and_assigns_casusregie(source):
    case = signalled()
    at = ams(2025, 4, 2, 10)
    step = case.send("help_accepted", at=at, source=source)
    until = to_utc(at) + timedelta(days=30)
    assert shape(step.actions) == [act("collection_paused", "corporation"),
                                   act("casusregie_assigned", "social_team")]
    assert step.actions[0].detail == {"until": until.isoformat(), "basis": "help_accepted"}
    assert case.stage == Stage.debt_help and case.track == Track.spoor_1
    assert case.collection == Collection.paused
    assert case.state.collection_paused_until == until
    # the help plan deadline, the months timer and the signal timer are all off; A1: the
    # review clock of stage debt_help runs from its start
    assert case.deadlines == {COLLECTION_PAUSE_END: until,
                              CASE_REVIEW_DUE: to_utc(at) + timedelta(days=90)}
    st = case.status()
    assert st["collection"] == "paused"
    assert st["collection_paused_until"] == until.isoformat()
    assert st["next_deadline"] == {"kind": COLLECTION_PAUSE_END, "due_at": until.isoformat()}
    # no MPZO at the old months moment
    assert case.advance_to(MONTHS_DUE) == []


def test_r3_debt_help_started_extends_the_pause():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    step = case.send("debt_help_started", at=ams(2025, 4, 10, 10), source="sdd")
    # A3: the corporation is told that the pause now lasts while debt help runs
    assert shape(step.actions) == [act("collection_paused", "corporation")]
    assert step.actions[0].detail == {"until": None, "basis": "debt_help"}
    assert case.stage == Stage.debt_help
    assert case.collection == Collection.paused
    assert case.state.collection_paused_until is None
    assert COLLECTION_PAUSE_END not in case.deadlines
    review = to_utc(ams(2025, 4, 2, 10)) + timedelta(days=90)
    assert case.deadlines == {CASE_REVIEW_DUE: review}
    assert case.status()["next_deadline"] == {"kind": CASE_REVIEW_DUE,
                                              "due_at": review.isoformat()}
    # long after the 30 days: still paused; only the review clock asks for progress (A1)
    assert shape(case.advance_to(ams(2025, 9, 1))) == [
        act("escalation_raised", "social_team", "corporation", reason="case_stalled")]
    assert case.collection == Collection.paused and case.stage == Stage.debt_help


def test_r3_debt_help_started_without_help_accepted():
    case = signalled()
    step = case.send("debt_help_started", at=ams(2025, 4, 2, 10),
                     source="sociale-wijkteams-dordrecht")
    assert shape(step.actions) == [act("collection_paused", "corporation"),
                                   act("casusregie_assigned", "social_team")]
    assert step.actions[0].detail == {"until": None, "basis": "debt_help"}
    assert case.stage == Stage.debt_help
    assert case.collection == Collection.paused
    assert set(case.deadlines) == {CASE_REVIEW_DUE}


def test_r3_arrangement_agreed_keeps_collection_paused():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("debt_help_started", at=ams(2025, 4, 10, 10))
    step = case.send("payment_arrangement_agreed", at=ams(2025, 4, 20, 10),
                     monthly_amount_cents=10_000, months=8)
    # A3: the pause now rests on the arrangement
    assert shape(step.actions) == [act("collection_paused", "corporation")]
    assert step.actions[0].detail == {"until": None, "basis": "arrangement"}
    assert case.stage == Stage.arrangement
    assert case.collection == Collection.paused
    assert case.state.arrangement == {"monthly_amount_cents": 10_000, "months": 8}
    # A1: a new stage, a new review clock
    assert case.deadlines == {CASE_REVIEW_DUE: to_utc(ams(2025, 4, 20, 10)) + timedelta(days=90)}


def test_r3_arrangement_agreed_during_the_30_day_pause_ends_the_timer():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    step = case.send("payment_arrangement_agreed", at=ams(2025, 4, 20, 10), source="woonbron",
                     monthly_amount_cents=10_000, months=8)
    assert shape(step.actions) == [act("collection_paused", "corporation")]  # A3
    assert case.stage == Stage.arrangement and case.collection == Collection.paused
    assert set(case.deadlines) == {CASE_REVIEW_DUE}
    assert case.advance_to(ams(2025, 6, 1)) == []


def test_r3_arrangement_agreed_directly_pauses_collection():
    case = signalled()
    step = case.send("payment_arrangement_agreed", at=ams(2025, 4, 2, 10), source="woonbron",
                     monthly_amount_cents=10_000, months=8)
    assert shape(step.actions) == [act("collection_paused", "corporation")]
    assert case.stage == Stage.arrangement
    assert set(case.deadlines) == {CASE_REVIEW_DUE}


def test_r3_help_accepted_twice_is_ignored():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    before = case.state.model_dump(exclude={"timeline", "seen_event_ids"})
    step = case.send("help_accepted", at=ams(2025, 4, 3, 10), source="sdd")
    assert step.ignored == "help was already accepted"
    assert case.state.model_dump(exclude={"timeline", "seen_event_ids"}) == before


def test_r3_help_before_the_signal_is_due():
    """Help accepted early: the signal is no longer needed."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    case.send("help_accepted", at=ams(2025, 3, 12, 10))
    assert EARLY_SIGNAL_DUE not in case.deadlines and MPZO_MONTHS_THRESHOLD not in case.deadlines
    assert case.stage == Stage.debt_help


# -- R4 ------------------------------------------------------------------------------------------


def self_referred_with_help() -> tuple[CaseDriver, object]:
    """Arrears from 20 March; the tenant referred themselves (no signal); help accepted 25 March."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 21, 9), since=date(2025, 3, 20))
    case.send("self_referral", at=ams(2025, 3, 22, 9), source="woonbron")
    at = ams(2025, 3, 25, 10)
    case.send("help_accepted", at=at)
    return case, to_utc(at) + timedelta(days=30)


def test_r4_pause_expiry_resumes_collection_and_escalates():
    case, until = self_referred_with_help()
    assert case.deadlines == {COLLECTION_PAUSE_END: until,
                              CASE_REVIEW_DUE: until + timedelta(days=60)}
    assert case.advance_to(until - timedelta(seconds=1)) == []

    fired = case.advance_to(until)
    assert shape(fired) == [
        act("collection_resumed", "corporation"),
        act("escalation_raised", "social_team", "corporation", reason="pause_expired"),
    ]
    assert case.stage == Stage.arrears
    assert case.collection == Collection.active
    assert case.state.collection_paused_until is None
    assert not case.state.help_accepted
    # the months rule is armed again (20 May)
    assert case.deadlines == {MPZO_MONTHS_THRESHOLD: midnight(date(2025, 5, 20))}
    [entry] = case.entries("deadline", COLLECTION_PAUSE_END)
    assert entry["detail"] == {"due_at": until.isoformat()}
    assert shape(case.advance_to(midnight(date(2025, 5, 20)))) == [
        mpzo_first("arrears_months")]
    assert case.stage == Stage.care


def test_r4_pause_expiry_after_the_months_threshold_reports_to_mpzo_at_once():
    case = signalled()
    at = ams(2025, 4, 2, 10)
    case.send("help_accepted", at=at)
    fired = case.advance_to(to_utc(at) + timedelta(days=30))
    assert shape(fired) == [
        act("collection_resumed", "corporation"),
        act("escalation_raised", "social_team", "corporation", reason="pause_expired"),
        mpzo_first("arrears_months"),
    ]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.collection == Collection.active


def test_r4_no_expiry_once_debt_help_started():
    case, until = self_referred_with_help()
    case.send("debt_help_started", at=ams(2025, 4, 10))
    fired = case.advance_to(until + timedelta(days=60))
    assert "collection_resumed" not in [a.action for a in fired]
    assert case.collection == Collection.paused


def test_r4_help_accepted_again_after_expiry_pauses_again():
    case, until = self_referred_with_help()
    case.advance_to(until)
    at = until + timedelta(days=2)
    step = case.send("help_accepted", at=at)
    assert shape(step.actions) == [act("collection_paused", "corporation"),
                                   act("casusregie_assigned", "social_team")]
    assert case.stage == Stage.debt_help
    assert case.deadlines == {COLLECTION_PAUSE_END: at + timedelta(days=30),
                              CASE_REVIEW_DUE: at + timedelta(days=90)}


# -- R6 ------------------------------------------------------------------------------------------


def test_r6_breach_resumes_collection_and_rearms_the_months_rule():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 21, 9), since=date(2025, 3, 20))
    case.send("self_referral", at=ams(2025, 3, 22, 9), source="woonbron")
    case.send("debt_help_started", at=ams(2025, 3, 25, 10))
    case.send("payment_arrangement_agreed", at=ams(2025, 4, 1, 10),
              monthly_amount_cents=10_000, months=8)
    step = case.send("arrangement_breached", at=ams(2025, 5, 2, 10), source="sdd")
    assert shape(step.actions) == [act("collection_resumed", "corporation")]
    assert case.stage == Stage.arrears and case.collection == Collection.active
    assert case.state.arrangement is None and not case.state.help_accepted
    assert case.deadlines == {MPZO_MONTHS_THRESHOLD: midnight(date(2025, 5, 20))}


def test_r6_breach_after_the_threshold_reports_to_mpzo_at_once():
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("payment_arrangement_agreed", at=ams(2025, 4, 10, 10),
              monthly_amount_cents=10_000, months=8)
    step = case.send("arrangement_breached", at=ams(2025, 6, 2, 10), source="woonbron")
    assert shape(step.actions) == [
        act("collection_resumed", "corporation"),
        mpzo_first("arrears_months"),
    ]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.collection == Collection.active


def test_r6_breach_without_arrangement_is_ignored():
    case = signalled()
    step = case.send("arrangement_breached", at=ams(2025, 4, 2, 10))
    assert step.ignored == "no payment arrangement is running"


# -- R7 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["help_accepted", "debt_help_started"])
def test_r7_help_after_summons_requests_postponement_consultation(event_type):
    case = signalled()
    case.send("summons_served", at=ams(2025, 4, 2, 10), hearing_date="2025-05-15")
    assert case.stage == Stage.care
    step = case.send(event_type, at=ams(2025, 4, 5, 10), source="sdd")
    assert shape(step.actions) == [
        act("postponement_consultation_requested", "corporation", "social_service")]
    assert case.collection == Collection.active  # not paused automatically
    assert case.stage == Stage.care
    assert "casusregie_assigned" not in case.action_names()
    # accepted help stops the timers: only the MPZO's plan is still owed (A1)
    assert HELP_PLAN_DEADLINE not in case.deadlines
    assert MPZO_MONTHS_THRESHOLD not in case.deadlines
    assert {a[2] for a in shape(case.advance_to(ams(2025, 6, 1)))} == {"mpzo_plan_overdue"}


def test_r7_consultation_requested_once():
    case = signalled()
    case.send("summons_served", at=ams(2025, 4, 2, 10), hearing_date="2025-05-15")
    case.send("help_accepted", at=ams(2025, 4, 5, 10))
    step = case.send("debt_help_started", at=ams(2025, 4, 6, 10))
    assert step.actions == []
    [entry] = case.entries("event", "debt_help_started")
    assert entry["detail"]["result"] == "postponement consultation already requested"
    assert case.state.debt_help_started


def test_r7_summons_during_the_pause_then_debt_help_extends_the_running_pause():
    """R3: debt help extends a pause already running, also after a summons; R7 starts no new
    pause and sends no second collection_paused."""
    case = signalled()
    help_at = ams(2025, 4, 2, 10)
    case.send("help_accepted", at=help_at)
    step = case.send("summons_served", at=ams(2025, 4, 10, 10), hearing_date="2025-05-15")
    assert shape(step.actions) == [mpzo_first("summons_served")]
    assert case.collection == Collection.paused  # the summons itself changes no collection
    step = case.send("debt_help_started", at=ams(2025, 4, 11, 10))
    assert shape(step.actions) == [
        act("collection_paused", "corporation"),  # A3: now while debt help runs
        act("postponement_consultation_requested", "corporation", "social_service")]
    assert case.collection == Collection.paused
    assert case.state.collection_paused_until is None
    assert set(case.deadlines) == {MPZO_PLAN_DEADLINE, CASE_REVIEW_DUE}
    # the old 30-day end passes without touching collection; collection stays paused
    fired = case.advance_to(to_utc(help_at) + timedelta(days=31))
    assert "collection_resumed" not in [a.action for a in fired]
    assert case.collection == Collection.paused
    assert case.status()["collection_paused_until"] is None


def test_r7_help_accepted_after_summons_keeps_an_open_ended_pause():
    case = signalled()
    help_at = ams(2025, 4, 2, 10)
    case.send("debt_help_started", at=help_at)
    case.send("summons_served", at=ams(2025, 4, 10, 10), hearing_date="2025-05-15")
    step = case.send("help_accepted", at=ams(2025, 4, 11, 10))
    assert shape(step.actions) == [
        act("postponement_consultation_requested", "corporation", "social_service")]
    assert case.collection == Collection.paused
    assert COLLECTION_PAUSE_END not in case.deadlines


def test_arrangement_agreed_in_crisis_keeps_the_crisis():
    case = signalled()
    case.send("eviction_announced", at=ams(2025, 4, 2, 10), eviction_date="2025-05-15")
    step = case.send("payment_arrangement_agreed", at=ams(2025, 4, 3, 10),
                     monthly_amount_cents=20_000, months=4)
    assert step.actions == []
    assert case.stage == Stage.crisis and case.collection == Collection.active
    assert case.state.arrangement == {"monthly_amount_cents": 20_000, "months": 4}
    [entry] = case.entries("event", "payment_arrangement_agreed")
    assert entry["detail"]["result"] == (
        "recorded; the crisis stays until the eviction is off the table")
    # a breach later resumes nothing (collection never paused) and keeps the crisis
    step = case.send("arrangement_breached", at=ams(2025, 4, 20, 10))
    assert step.actions == [] and case.stage == Stage.crisis


def test_arrangement_agreed_in_crisis_during_a_pause_keeps_collection_paused():
    """Found by the property test: the 30-day pause used to end with collection left paused for
    good and a past end date on the case."""
    case = signalled()
    help_at = ams(2025, 4, 2, 10)
    case.send("help_accepted", at=help_at)
    case.send("eviction_announced", at=ams(2025, 4, 3, 10), eviction_date="2025-05-15")
    step = case.send("payment_arrangement_agreed", at=ams(2025, 4, 4, 10),
                     monthly_amount_cents=20_000, months=4)
    assert shape(step.actions) == [act("collection_paused", "corporation")]  # A3
    assert case.stage == Stage.crisis and case.collection == Collection.paused
    assert case.state.collection_paused_until is None
    assert COLLECTION_PAUSE_END not in case.deadlines
    case.advance_to(to_utc(help_at) + timedelta(days=31))
    assert case.collection == Collection.paused
    assert "collection_resumed" not in case.action_names()
    # the breach resumes it and the months rule applies again (R6); the crisis stays (the MPZO
    # heard of the case when the eviction was announced)
    step = case.send("arrangement_breached", at=ams(2025, 5, 10, 10))
    assert shape(step.actions) == [act("collection_resumed", "corporation"),
                                   act("mpzo_notified", "mpzo", reason="arrears_months")]
    assert case.stage == Stage.crisis and case.collection == Collection.active


def test_r7_help_while_awaiting_the_reminder_cancels_the_signal():
    """Found by the property test: a reminder arriving after help was accepted post-summons used
    to submit the early signal anyway (and start a help plan deadline)."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    case.send("summons_served", at=ams(2025, 3, 12, 10), hearing_date="2025-05-01")
    assert act("escalation_raised", "corporation", reason="reminder_missing") in shape(
        case.advance_to(SIGNAL_DUE))
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    step = case.send("reminder_sent", at=ams(2025, 4, 3, 10), tenant_objects_to_signal=False)
    assert step.actions == []
    assert "early_signal_submitted" not in case.action_names()
    assert EARLY_SIGNAL_DUE not in case.deadlines and HELP_PLAN_DEADLINE not in case.deadlines
