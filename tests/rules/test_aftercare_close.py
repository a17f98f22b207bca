"""R10 (aftercare, relapse), R11 (closing) and the pointer to a previous episode (§3)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from vangnet.domain import EVENT_SENDERS, Collection, Outcome, PreviousEpisode, Stage, Track
from vangnet.policy import Policy
from vangnet.rules import (
    AFTERCARE_END,
    CRISIS_MEETING_DEADLINE,
    EARLY_SIGNAL_DUE,
    MPZO_MONTHS_THRESHOLD,
)

from .helpers import (
    RENT,
    SAMPLE_FIELDS,
    SIGNAL_TO,
    CaseDriver,
    act,
    ams,
    core,
    midnight,
    mpzo_first,
    open_with_arrears,
    shape,
)

SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))


def opened() -> CaseDriver:
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    return case


def in_arrangement() -> CaseDriver:
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("payment_arrangement_agreed", at=ams(2025, 4, 10, 10),
              monthly_amount_cents=10_000, months=8)
    assert case.stage == Stage.arrangement and case.collection == Collection.paused
    return case


def pay_off(case: CaseDriver, at) -> object:
    return case.send("payment_received", at=at, amount_cents=case.state.arrears_cents or 1,
                     arrears_cents=0)


# -- R10 -----------------------------------------------------------------------------------------


def test_r10_aftercare_then_resolved_after_six_months():
    case = opened()
    step = pay_off(case, ams(2025, 3, 20, 10))
    assert shape(step.actions) == [act("aftercare_started", "social_team")]
    assert case.stage == Stage.aftercare and case.collection == Collection.active
    assert case.state.arrears_cents == 0
    end = midnight(date(2025, 9, 20))
    assert case.deadlines == {AFTERCARE_END: end}
    assert case.status()["next_deadline"] == {"kind": AFTERCARE_END,
                                              "due_at": "2025-09-19T22:00:00+00:00"}
    assert case.status()["months_in_arrears"] == 0

    assert case.advance_to(end - timedelta(seconds=1)) == []
    fired = case.advance_to(end)
    assert shape(fired) == [
        act("aftercare_completed", "social_team"),
        act("case_closed", "corporation", "social_team", reason="resolved"),
    ]
    s = case.state
    assert s.closed and s.stage == Stage.closed and s.outcome == Outcome.resolved
    assert s.closed_at == end and s.deadlines == {}
    st = case.status()
    assert (st["closed"], st["outcome"], st["stage"], st["next_deadline"]) == (
        True, "resolved", "closed", None)
    assert [(e["category"], e["kind"]) for e in case.timeline()[-3:]] == [
        ("deadline", AFTERCARE_END), ("action", "aftercare_completed"), ("action", "case_closed")]


def test_r10_payoff_during_an_arrangement_unpauses_collection():
    case = in_arrangement()
    step = pay_off(case, ams(2025, 6, 1, 10))
    assert shape(step.actions) == [act("aftercare_started", "social_team")]
    assert case.stage == Stage.aftercare
    assert case.collection == Collection.active and case.state.collection_paused_until is None
    assert case.deadlines == {AFTERCARE_END: midnight(date(2025, 12, 1))}


def test_r10_payoff_in_crisis_ends_the_crisis():
    case = opened()
    case.send("eviction_announced", at=ams(2025, 3, 20, 10), eviction_date="2025-04-15")
    assert CRISIS_MEETING_DEADLINE in case.deadlines
    step = pay_off(case, ams(2025, 3, 21, 10))
    assert shape(step.actions) == [act("aftercare_started", "social_team")]
    assert case.stage == Stage.aftercare
    assert case.state.eviction_date is None and case.status()["eviction_date"] is None
    assert case.deadlines == {AFTERCARE_END: midnight(date(2025, 9, 21))}
    assert case.track == Track.spoor_2  # the MPZO stays informed; the track does not go back
    assert case.send("crisis_meeting_held", at=ams(2025, 3, 22),
                     result="no_solution").ignored == (
        "no eviction announced: the case is not in crisis")
    # A4: an eviction announced during aftercare is a crisis again (the MPZO heard of this
    # stretch's eviction already); aftercare ends
    step = case.send("eviction_announced", at=ams(2025, 3, 23), eviction_date="2025-04-15")
    assert shape(step.actions) == [act("crisis_protocol_invoked", "social_service")]
    assert case.stage == Stage.crisis and AFTERCARE_END not in case.deadlines


def test_r10_partial_payment_keeps_the_case_going():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE, months=1.5)
    step = case.send("payment_received", at=ams(2025, 3, 12), amount_cents=40_000,
                     arrears_cents=80_000)
    assert step.actions == []
    assert case.state.arrears_cents == 80_000 and case.stage == Stage.arrears
    assert set(case.deadlines) == {EARLY_SIGNAL_DUE, MPZO_MONTHS_THRESHOLD}


def test_r10_payments_during_aftercare():
    case = opened()
    pay_off(case, ams(2025, 3, 20, 10))
    assert case.send("payment_received", at=ams(2025, 4, 1), amount_cents=5_000,
                     arrears_cents=5_000).ignored == (
        "case is in aftercare; report new arrears with arrears_reported")
    step = case.send("payment_received", at=ams(2025, 4, 2), amount_cents=5_000, arrears_cents=0)
    assert step.actions == [] and step.ignored is None
    assert case.deadlines == {AFTERCARE_END: midnight(date(2025, 9, 20))}  # not restarted


@pytest.mark.parametrize(
    ("event_type", "fields"),
    [("help_accepted", {}), ("debt_help_started", {}), ("self_referral", {}),
     ("summons_served", {"hearing_date": "2025-06-01"}),
     ("reminder_sent", {"tenant_objects_to_signal": False}),
     ("payment_arrangement_agreed", {"monthly_amount_cents": 1000, "months": 2})],
)
def test_r10_arrears_steps_during_aftercare_are_ignored(event_type, fields):
    case = opened()
    pay_off(case, ams(2025, 3, 20, 10))
    before = core(case.state)
    step = case.send(event_type, at=ams(2025, 4, 1), **fields)
    assert step.ignored is not None and step.actions == []
    assert core(case.state) == before


def test_r10_relapse_during_aftercare_earlier_reminder_counts():
    case = in_arrangement()
    pay_off(case, ams(2025, 6, 1, 10))
    step = case.send("arrears_reported", at=ams(2025, 8, 10, 9), arrears_cents=RENT,
                     monthly_rent_cents=RENT, arrears_since="2025-08-01")
    assert shape(step.actions) == [
        act("escalation_raised", "social_team", "corporation", reason="relapse")]
    assert case.stage == Stage.arrears and case.collection == Collection.active
    assert case.deadlines == {EARLY_SIGNAL_DUE: midnight(date(2025, 8, 31)),
                              MPZO_MONTHS_THRESHOLD: midnight(date(2025, 10, 1))}
    assert case.state.arrangement is None and not case.state.help_accepted
    # the earlier reminder counts: no reminder_missing, the signal goes at 30 days
    fired = case.advance_to(midnight(date(2025, 8, 31)))
    assert shape(fired) == [act("early_signal_submitted", *SIGNAL_TO)]
    assert case.stage == Stage.early_signal
    assert case.all_actions("tenant_notice_sent") == [act("tenant_notice_sent", "corporation")]
    assert "reminder_missing" not in [a[2] for a in case.all_actions("escalation_raised")]
    # and the rules run again: help -> pause and casusregie again
    step = case.send("help_accepted", at=ams(2025, 9, 2, 10))
    assert shape(step.actions) == [act("collection_paused", "corporation"),
                                   act("casusregie_assigned", "social_team")]


def test_r10_relapse_with_an_earlier_objection_records_the_block():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=True)
    pay_off(case, ams(2025, 3, 20, 10))
    case.send("arrears_reported", at=ams(2025, 8, 10, 9), arrears_cents=RENT,
              monthly_rent_cents=RENT, arrears_since="2025-08-01")
    fired = case.advance_to(midnight(date(2025, 8, 31)))
    assert fired == []
    [entry] = case.entries("deadline", EARLY_SIGNAL_DUE)
    assert entry["detail"]["result"] == "early_signal_blocked"
    assert entry["at"] == "2025-08-30T22:00:00Z"
    assert "early_signal_submitted" not in case.action_names()
    # the months rule still applies
    assert shape(case.advance_to(midnight(date(2025, 10, 1)))) == [
        mpzo_first("arrears_months")]


def test_a5_a_relapse_starts_a_new_stretch_so_the_months_rule_reports_again():
    """A5: each MPZO reason once per stretch; new arrears in aftercare start a new one."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE, months=2)
    assert case.state.mpzo_reasons == ["arrears_months"]
    pay_off(case, ams(2025, 3, 20, 10))
    step = case.send("arrears_reported", at=ams(2025, 5, 10, 9), arrears_cents=3 * RENT,
                     monthly_rent_cents=RENT, arrears_since="2025-05-01")
    assert shape(step.actions) == [
        act("escalation_raised", "social_team", "corporation", reason="relapse"),
        mpzo_first("arrears_months"),  # A9(b): the social team hears of spoor 2 again
    ]
    assert case.stage == Stage.care and MPZO_MONTHS_THRESHOLD not in case.deadlines
    assert case.state.mpzo_reasons == ["arrears_months", "arrears_months"]
    assert case.state.stretch_mpzo_reasons == ["arrears_months"]


# -- R11 -----------------------------------------------------------------------------------------


def test_r11_eviction_executed():
    case = opened()
    case.send("summons_served", at=ams(2025, 3, 12), hearing_date="2025-04-01")
    case.send("eviction_announced", at=ams(2025, 3, 20, 10), eviction_date="2025-04-15")
    at = ams(2025, 4, 15, 9)
    step = case.send("eviction_executed", at=at)
    assert shape(step.actions) == [
        act("mpzo_notified", "mpzo", reason="evicted"),
        act("case_closed", "corporation", "mpzo", "social_team", "social_service",
            reason="evicted"),
    ]
    s = case.state
    assert s.closed and s.stage == Stage.closed and s.outcome == Outcome.evicted
    assert s.closed_at == at and s.deadlines == {}


@pytest.mark.parametrize("why", ["moved_out", "deceased", "other"])
def test_r11_tenancy_ended(why):
    case = opened()
    step = case.send("tenancy_ended", at=ams(2025, 3, 20), reason=why)
    assert shape(step.actions) == [act("case_closed", "corporation", reason="tenancy_ended")]
    assert step.actions[0].detail == {"outcome": "tenancy_ended", "why": why}
    assert case.state.outcome == Outcome.tenancy_ended and case.stage == Stage.closed


def test_r11_case_closed_by_operator_goes_to_everyone_involved():
    case = in_arrangement()
    case.send("concern_reported", at=ams(2025, 4, 12), kind="care_and_safety")
    case.send("summons_served", at=ams(2025, 4, 20), hearing_date="2025-05-15")
    case.send("eviction_announced", at=ams(2025, 5, 20, 10), eviction_date="2025-06-20")
    step = case.send("case_closed", at=ams(2025, 5, 21), reason="registered twice")
    assert shape(step.actions) == [act(
        "case_closed", "corporation", "municipality", "social_service", "social_team", "mpzo",
        reason="withdrawn")]
    assert case.state.outcome == Outcome.withdrawn
    [entry] = case.entries("event", "case_closed")
    assert entry["detail"]["reason"] == "registered twice"
    assert entry["detail"]["source"] == "operator"


def test_r11_case_closed_only_by_an_operator():
    case = opened()
    step = case.send("case_closed", at=ams(2025, 3, 20), source="woonbron", reason="done")
    assert step.ignored == ("a corporation may not send case_closed (allowed: operator)")
    assert not case.state.closed


@pytest.mark.parametrize("event_type", sorted(EVENT_SENDERS))
def test_r11_closed_case_accepts_no_events(event_type):
    case = opened()
    case.send("case_closed", at=ams(2025, 3, 20), reason="test")
    before = core(case.state)
    n = len(case.timeline())
    step = case.send(event_type, at=ams(2025, 3, 21), **SAMPLE_FIELDS[event_type])
    assert step.ignored == "case is closed (withdrawn)"
    assert step.actions == []
    assert core(case.state) == before
    assert len(case.timeline()) == n + 1
    assert case.timeline()[-1]["category"] == "ignored"
    assert case.timeline()[-1]["kind"] == event_type


def test_r11_resolved_case_accepts_no_events():
    case = opened()
    pay_off(case, ams(2025, 3, 20, 10))
    case.advance_to(midnight(date(2025, 9, 20)))
    step = open_with_arrears(case, at=ams(2025, 10, 1), since=date(2025, 9, 25))
    assert step.ignored == "case is closed (resolved)"
    assert case.advance_to(ams(2026, 1, 1)) == []


# -- previous episode (§3) -----------------------------------------------------------------------

PREVIOUS = PreviousEpisode(run_id="run-0001", closed_at=ams(2024, 6, 1, 12), outcome="resolved")


@pytest.mark.parametrize(
    ("opened_at", "relapse"),
    [(ams(2025, 5, 1, 9), True), (ams(2025, 6, 1, 23, 59), True), (ams(2025, 6, 2, 0, 1), False),
     (ams(2026, 1, 1), False)],
)
def test_relapse_pointer_within_the_window(opened_at, relapse):
    case = CaseDriver.dordrecht(previous_episode=PREVIOUS)
    open_with_arrears(case, at=opened_at, since=(opened_at - timedelta(days=3)).date())
    [entry] = case.entries("event", "arrears_reported")
    if relapse:
        assert case.state.relapse_of == "run-0001"
        assert case.status()["relapse_of"] == "run-0001"
        assert entry["detail"]["relapse_of"] == "run-0001"
        assert entry["detail"]["previous_outcome"] == "resolved"
    else:
        assert case.state.relapse_of is None
        assert case.status()["relapse_of"] is None
        assert entry["detail"]["previous_episode"] == "run-0001"
        assert "relapse_of" not in entry["detail"]


def test_relapse_window_follows_policy():
    case = CaseDriver.dordrecht(previous_episode=PREVIOUS, policy=Policy(relapse_window_months=6),
                                now=ams(2024, 11, 1))
    case.send("concern_reported", at=ams(2024, 12, 2, 9), kind="care_and_safety")
    assert case.state.relapse_of is None
    case = CaseDriver.dordrecht(previous_episode=PREVIOUS, policy=Policy(relapse_window_months=6),
                                now=ams(2024, 11, 1))
    case.send("self_referral", at=ams(2024, 12, 1, 9))
    assert case.state.relapse_of == "run-0001"


def test_no_previous_episode_no_pointer():
    case = opened()
    assert case.state.relapse_of is None
    [entry] = case.entries("event", "arrears_reported")
    assert "previous_episode" not in entry["detail"] and "relapse_of" not in entry["detail"]


# -- whole episodes --------------------------------------------------------------------------------


def test_whole_episode_from_arrears_to_resolved():
    case = CaseDriver.gorinchem()
    trace = []
    moves = [
        lambda: open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE),
        lambda: case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False),
        lambda: case.advance_to(SIGNAL_DUE),
        lambda: case.send("help_accepted", at=ams(2025, 4, 2, 10), source="gorinchem"),
        lambda: case.send("debt_help_started", at=ams(2025, 4, 9, 10), source="avres"),
        lambda: case.send("payment_arrangement_agreed", at=ams(2025, 4, 20, 10), source="avres",
                          monthly_amount_cents=10_000, months=8),
        lambda: case.send("payment_received", at=ams(2025, 12, 1, 10), amount_cents=10_000,
                          arrears_cents=0),
        lambda: case.advance_to(midnight(date(2026, 6, 1))),
    ]
    for move in moves:
        move()
        trace.append((case.stage.value, case.track.value, case.collection.value))

    assert trace == [
        ("arrears", "spoor_1", "active"),
        ("arrears", "spoor_1", "active"),
        ("early_signal", "spoor_1", "active"),
        ("debt_help", "spoor_1", "paused"),
        ("debt_help", "spoor_1", "paused"),
        ("arrangement", "spoor_1", "paused"),
        ("aftercare", "spoor_1", "active"),
        ("closed", "spoor_1", "active"),
    ]
    assert case.all_actions() == [
        act("tenant_notice_sent", "corporation"),
        act("early_signal_submitted", *SIGNAL_TO),
        act("collection_paused", "corporation"),  # 30 days
        act("casusregie_assigned", "social_team"),
        act("collection_paused", "corporation"),  # A3: while debt help runs
        act("collection_paused", "corporation"),  # A3: while the arrangement runs
        # A1: nobody reported progress on the arrangement for 90 days (19 July, 17 October)
        act("escalation_raised", "social_team", "corporation", reason="case_stalled"),
        act("escalation_raised", "social_team", "corporation", reason="case_stalled"),
        act("aftercare_started", "social_team"),
        act("aftercare_completed", "social_team"),
        act("case_closed", "corporation", "municipality", "social_service", "social_team",
            reason="resolved"),
    ]
    assert [a.seq for a in case.actions] == list(range(1, 12))
    assert case.state.outcome == Outcome.resolved
    assert case.status()["closed"] is True


def test_whole_episode_from_arrears_to_eviction():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    case.send("no_contact", at=ams(2025, 4, 20, 10), source="sociale-wijkteams-dordrecht")
    case.advance_to(midnight(date(2025, 5, 1)))
    case.send("summons_served", at=ams(2025, 5, 12, 10), hearing_date="2025-06-10")
    case.send("judgment_given", at=ams(2025, 6, 10, 14), eviction_granted=True)
    case.send("eviction_announced", at=ams(2025, 6, 20, 10), eviction_date="2025-07-15")
    case.advance_to(midnight(date(2025, 6, 26)))  # Fri 20 -> Mon 23, Tue 24, Wed 25: overdue
    case.send("crisis_meeting_held", at=ams(2025, 6, 26, 10), result="no_solution")
    case.send("moratorium_rejected", at=ams(2025, 7, 5, 10))
    case.send("eviction_executed", at=ams(2025, 7, 15, 9))
    plan_overdue = act("escalation_raised", "mpzo", reason="mpzo_plan_overdue")  # A1
    assert case.all_actions() == [
        act("tenant_notice_sent", "corporation"),
        act("early_signal_submitted", *SIGNAL_TO),
        mpzo_first("signal_not_taken_up"),
        act("mpzo_notified", "mpzo", reason="arrears_months"),
        plan_overdue,
        act("mpzo_notified", "mpzo", reason="summons_served"),
        plan_overdue,
        plan_overdue,
        act("crisis_protocol_invoked", "social_service"),
        plan_overdue,
        act("escalation_raised", "social_service", "corporation", reason="crisis_meeting_overdue"),
        act("moratorium_requested", "social_service"),
        plan_overdue,
        act("mpzo_notified", "mpzo", reason="evicted"),
        act("case_closed", "corporation", "municipality", "social_service", "social_team", "mpzo",
            reason="evicted"),
    ]
    assert case.state.outcome == Outcome.evicted and case.track == Track.spoor_2
    kinds = [(e["category"], e["kind"]) for e in case.timeline()]
    assert ("deadline", CRISIS_MEETING_DEADLINE) in kinds
    assert kinds[-1] == ("action", "case_closed")


def test_r5d_a1_a_concern_in_aftercare_reports_to_the_mpzo_and_starts_its_plan_clock():
    """R5(d) "any concern" holds in aftercare too, and A1's plan deadline follows the first report
    of the stretch; aftercare goes on (its own clock keeps running): a concern is not a relapse."""
    from vangnet.rules import MPZO_PLAN_DEADLINE

    case = opened()
    pay_off(case, ams(2025, 3, 20, 10))
    step = case.send("concern_reported", at=ams(2025, 4, 1, 10), kind="confused_behaviour")
    assert [a.action for a in step.actions] == ["mpzo_notified"]
    assert case.stage == Stage.aftercare and case.state.track == Track.spoor_2
    assert set(case.deadlines) == {AFTERCARE_END, MPZO_PLAN_DEADLINE}
    assert case.deadlines[AFTERCARE_END] == midnight(date(2025, 9, 20))
    due = case.deadlines[MPZO_PLAN_DEADLINE]
    fired = case.advance_to(due)
    assert shape(fired) == [act("escalation_raised", "mpzo", reason="mpzo_plan_overdue")]
    # the clock re-arms until the plan is there (A1); aftercare's own end stays where it was
    assert case.stage == Stage.aftercare and case.deadlines[MPZO_PLAN_DEADLINE] > due
    case.send("mpzo_plan_ready", at=due + timedelta(days=1))
    assert set(case.deadlines) == {AFTERCARE_END}
