"""RULES.md §11, A5-A12 in the rules core: MPZO reasons per stretch, nuisance after a moratorium
request, an eviction during a moratorium, a repeated self-referral, partners told, and bad input
that never stops a case (A10 and A11 are policy and texts: test_policy.py, test_vocabulary.py;
A12's validation itself: test_event_validation.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from vangnet.domain import Stage
from vangnet.rules import (
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
    SEEN_EVENT_IDS_LIMIT,
    apply_event,
    fire_due_deadlines,
)
from vangnet.rules import step as machinery

from .helpers import (
    RENT,
    SIGNAL_TO,
    CaseDriver,
    act,
    ams,
    core,
    midnight,
    mpzo_first,
    open_with_arrears,
    shape,
    to_utc,
)

SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))
TEAM = "sociale-wijkteams-dordrecht"


def opened() -> CaseDriver:
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    return case


def requested_moratorium() -> CaseDriver:
    case = opened()
    case.send("eviction_announced", at=ams(2025, 6, 12, 10), eviction_date="2025-07-10")
    case.send("crisis_meeting_held", at=ams(2025, 6, 13, 10), result="moratorium_needed")
    assert case.state.moratorium_requested and case.state.moratorium_pending
    return case


# -- A5 MPZO reasons per stretch --------------------------------------------------------------------


def test_a5_after_a_relapse_summons_months_and_eviction_are_reported_again():
    case = opened()
    case.send("summons_served", at=ams(2025, 3, 12), hearing_date="2025-04-20")
    case.send("eviction_announced", at=ams(2025, 4, 25, 10), eviction_date="2025-05-20")
    case.send("payment_received", at=ams(2025, 5, 1), amount_cents=RENT, arrears_cents=0)
    assert case.stage == Stage.aftercare
    case.send("arrears_reported", at=ams(2025, 7, 1, 9), arrears_cents=RENT,
              monthly_rent_cents=RENT, arrears_since="2025-06-25")
    # a new stretch: each reason is reported again, the first one to the social team as well
    step = case.send("summons_served", at=ams(2025, 7, 20), hearing_date="2025-08-20")
    assert shape(step.actions) == [mpzo_first("summons_served")]
    case.advance_to(midnight(date(2025, 8, 25)))
    assert case.all_actions("mpzo_notified")[-1] == act("mpzo_notified", "mpzo",
                                                        reason="arrears_months")
    step = case.send("eviction_announced", at=ams(2025, 9, 1, 10), eviction_date="2025-10-01")
    assert "mpzo_notified" not in [a.action for a in step.actions]  # R5(e): already involved
    assert case.state.mpzo_reasons == ["summons_served", "arrears_months",  # first stretch
                                       "summons_served", "arrears_months"]  # after the relapse


# -- A6 nuisance after a moratorium request -------------------------------------------------------------


def test_a6_nuisance_after_the_request_and_before_the_decision_is_escalated():
    case = requested_moratorium()
    step = case.send("concern_reported", at=ams(2025, 6, 16), kind="nuisance", source="woonbron")
    assert shape(step.actions) == [
        act("mpzo_notified", "mpzo", reason="concern_nuisance"),
        act("escalation_raised", "social_service", "corporation",
            reason="moratorium_excluded_nuisance"),
    ]
    # once: a second nuisance report raises nothing more
    assert case.send("concern_reported", at=ams(2025, 6, 17), kind="nuisance").actions == []


@pytest.mark.parametrize("decision", ["moratorium_granted", "moratorium_rejected"])
def test_a6_not_once_the_court_has_decided(decision):
    case = requested_moratorium()
    fields = {"until": "2025-09-30"} if decision == "moratorium_granted" else {}
    case.send(decision, at=ams(2025, 6, 15), **fields)
    assert not case.state.moratorium_pending
    step = case.send("concern_reported", at=ams(2025, 6, 16), kind="nuisance")
    assert "escalation_raised" not in [a.action for a in step.actions]


# -- A7 eviction during a moratorium ------------------------------------------------------------------


def test_a7_an_eviction_during_a_granted_moratorium_closes_the_case_and_is_escalated():
    case = requested_moratorium()
    case.send("moratorium_granted", at=ams(2025, 6, 20), until="2025-09-30")
    step = case.send("eviction_executed", at=ams(2025, 7, 10, 9))
    assert shape(step.actions) == [
        act("escalation_raised", "social_service", "mpzo", reason="moratorium_breached"),
        act("mpzo_notified", "mpzo", reason="evicted"),
        act("case_closed", "corporation", "mpzo", "social_team", "social_service",
            reason="evicted"),
    ]
    assert step.actions[0].detail == {"moratorium_until": "2025-09-30"}
    assert case.state.closed and case.state.outcome.value == "evicted"


def test_a7_not_after_the_moratorium_has_ended():
    case = requested_moratorium()
    case.send("moratorium_granted", at=ams(2025, 6, 20), until="2025-08-31")
    case.advance_to(midnight(date(2025, 9, 2)))
    step = case.send("eviction_executed", at=ams(2025, 9, 15, 9))
    assert "moratorium_breached" not in [a.reason for a in step.actions]
    assert case.state.closed


# -- A8 repeated self-referral --------------------------------------------------------------------------


def test_a8_a_repeated_self_referral_moves_no_deadline():
    case = opened()
    first = ams(2025, 3, 12, 9)
    case.send("self_referral", at=first, source="sdd")
    due = case.deadlines[HELP_PLAN_DEADLINE]
    assert due == to_utc(first) + timedelta(days=28)
    step = case.send("self_referral", at=ams(2025, 3, 30), source="woonbron")
    assert step.ignored == "help is already awaited: a repeated self-referral moves no deadline"
    assert step.actions == []  # not forwarded either
    assert case.deadlines[HELP_PLAN_DEADLINE] == due


def test_a8_a_self_referral_while_the_municipality_works_on_the_signal_is_ignored():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    due = case.deadlines[HELP_PLAN_DEADLINE]
    assert case.send("self_referral", at=ams(2025, 4, 5), source="sdd").ignored is not None
    assert case.deadlines[HELP_PLAN_DEADLINE] == due


def test_a8_a_self_referral_after_the_signal_was_not_taken_up_starts_a_new_wait():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(SIGNAL_DUE)
    case.send("no_contact", at=ams(2025, 4, 5))
    at = ams(2025, 4, 20)
    assert case.send("self_referral", at=at, source="sdd").ignored is None
    assert case.deadlines[HELP_PLAN_DEADLINE] == to_utc(at) + timedelta(days=28)


# -- A9 partners are told ---------------------------------------------------------------------------------


def test_a9a_the_early_signal_informs_the_social_service_and_team():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    assert shape(case.advance_to(SIGNAL_DUE)) == [act("early_signal_submitted", *SIGNAL_TO)]


def test_a9b_only_the_first_report_of_a_stretch_tells_the_social_team():
    case = opened()
    first = case.send("concern_reported", at=ams(2025, 3, 11), kind="nuisance")
    second = case.send("summons_served", at=ams(2025, 3, 12), hearing_date="2025-04-20")
    assert shape(first.actions) == [mpzo_first("concern_nuisance")]
    assert shape(second.actions) == [act("mpzo_notified", "mpzo", reason="summons_served")]


@pytest.mark.parametrize("court_step", ["summons", "eviction"])
def test_a9c_care_started_with_a_summons_or_an_eviction_asks_for_a_consultation(court_step):
    case = opened()
    if court_step == "summons":
        case.send("summons_served", at=ams(2025, 3, 12), hearing_date="2025-04-20")
    else:
        case.send("eviction_announced", at=ams(2025, 3, 12, 10), eviction_date="2025-04-20")
    step = case.send("care_started", at=ams(2025, 3, 20), source="mpzo", by="bemoeizorg")
    assert shape(step.actions) == [
        act("postponement_consultation_requested", "corporation", "social_service")]
    assert step.actions[0].detail == {"ground": "care_started"}
    # once per stretch
    again = case.send("care_started", at=ams(2025, 3, 21), source=TEAM, by="social_team")
    assert again.actions == []


def test_a9c_care_started_without_court_steps_asks_nothing():
    case = opened()
    case.send("concern_reported", at=ams(2025, 3, 11), kind="care_and_safety")
    assert case.send("care_started", at=ams(2025, 3, 20), by="care_provider").actions == []
    assert case.state.care_started_by == "care_provider"


@pytest.mark.parametrize(("source", "forwarded"), [
    ("woonbron", "corporation"), (TEAM, "social_team"), ("sdd", None)])
def test_a9d_a_self_referral_through_the_corporation_or_team_goes_to_the_social_service(
        source, forwarded):
    case = opened()
    step = case.send("self_referral", at=ams(2025, 3, 12), source=source)
    if forwarded is None:
        assert step.actions == []
    else:
        assert shape(step.actions) == [act("referral_forwarded", "social_service")]
        assert step.actions[0].detail == {"referred_by": forwarded}


def test_a9d_a_self_referral_that_opens_the_case_is_forwarded_too():
    case = CaseDriver.dordrecht()
    step = case.send("self_referral", at=ams(2025, 3, 12), source="woonbron")
    assert shape(step.actions) == [act("referral_forwarded", "social_service")]
    assert case.stage == Stage.arrears


# -- A12 bad input never stops a case ---------------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "fields", "reason"), [
    ("eviction_announced", {"eviction_date": "9999-12-31"},
     "malformed event: eviction_date: must be at most 5 years ahead (on or before 2030-06-10)"),
    ("arrears_reported", {"arrears_cents": RENT, "monthly_rent_cents": RENT,
                          "arrears_since": "0001-01-01"},
     "malformed event: arrears_since: must not be before 2000-01-01"),
    ("payment_received", {"amount_cents": "100", "arrears_cents": 0},
     "malformed event: amount_cents: Input should be a whole number, not text"),
    ("payment_received", {"amount_cents": 100.0, "arrears_cents": 0},
     "malformed event: amount_cents: Input should be a whole number, not a decimal number"),
    ("payment_received", {"amount_cents": True, "arrears_cents": 0},
     "malformed event: amount_cents: Input should be a whole number, not true or false"),
])
def test_a12_an_implausible_event_is_ignored_with_the_reason_and_the_next_one_applies(
        event_type, fields, reason):
    case = opened()
    at = ams(2025, 6, 10, 10)
    case.advance_to(at)
    before = core(case.state)
    payload = case.payload(event_type, event_id="bad-1", **fields)
    step = case.send_payload(event_type, payload, at=at, advance=False)
    assert step.ignored == reason
    assert core(case.state) == before
    last = case.timeline()[-1]
    assert (last["category"], last["kind"]) == ("ignored", event_type)
    assert last["detail"] == {"event_id": "bad-1", "source": payload["source"], "reason": reason}
    # the next event is applied as usual
    step = case.send("payment_received", at=ams(2025, 6, 11), amount_cents=RENT, arrears_cents=0)
    assert shape(step.actions) == [act("aftercare_started", "social_team")]


def test_a12_an_unforeseen_error_in_a_handler_ignores_that_event_only(monkeypatch):
    case = opened()
    before = core(case.state)

    def broken(work, event):
        work.s.arrears_cents = 1  # half-done work must not survive
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(machinery.HANDLERS, "judgment_given", broken)
    step = case.send("judgment_given", at=ams(2025, 3, 12), event_id="j-1",
                     eviction_granted=True)
    assert step.ignored == "internal_error: ZeroDivisionError"
    assert step.actions == [] and core(case.state) == before
    last = case.timeline()[-1]
    assert last["category"] == "ignored" and last["kind"] == "judgment_given"
    assert last["detail"]["reason"] == "internal_error: ZeroDivisionError"
    assert "woonbron:j-1" in case.state.seen_event_ids  # a repeat is a duplicate, not a retry
    step = case.send("summons_served", at=ams(2025, 3, 13), hearing_date="2025-04-20")
    assert shape(step.actions) == [mpzo_first("summons_served")]


def test_a12_a_failing_deadline_is_dropped_undone_and_the_others_still_fire(monkeypatch):
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)

    def broken(work):
        work.act("early_signal_submitted", [])  # half-done work must not survive
        raise KeyError("x")

    monkeypatch.setitem(machinery.DEADLINE_HANDLERS, "early_signal_due", broken)
    fired = case.advance_to(midnight(date(2025, 5, 1)))
    # the signal's deadline failed: recorded, dropped; the months rule fired as usual
    assert shape(fired) == [mpzo_first("arrears_months")]
    ignored = case.entries("ignored", "early_signal_due")
    assert [e["detail"]["reason"] for e in ignored] == ["internal_error: KeyError"]
    assert ignored[0]["detail"]["due_at"] == to_utc(SIGNAL_DUE).isoformat()
    assert case.entries("deadline", "early_signal_due") == []
    assert [a.seq for a in case.actions] == list(range(1, len(case.actions) + 1))


def test_a12_a_deadline_that_keeps_rearming_in_the_past_is_stopped(monkeypatch):
    case = opened()

    def again(work):
        work.set_deadline(MPZO_MONTHS_THRESHOLD, work.now - timedelta(days=1))

    monkeypatch.setitem(machinery.DEADLINE_HANDLERS, MPZO_MONTHS_THRESHOLD, again)
    step = fire_due_deadlines(case.state, to_utc(ams(2025, 5, 2)))
    assert step.state.timeline[-1].category == "ignored"
    assert step.state.timeline[-1].detail["reason"] == "internal_error: RecursionError"


def test_a12_cases_under_the_first_rules_still_fail_as_they_did(monkeypatch):
    """A case that started before §11 replays as it ran: an unforeseen error is raised."""
    case = CaseDriver.dordrecht(rules_version=1)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=SINCE)
    monkeypatch.setitem(machinery.HANDLERS, "judgment_given",
                        lambda work, event: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        case.send("judgment_given", at=ams(2025, 3, 12), eviction_granted=True)


def test_a12_a_workflow_safety_net_can_skip_the_earliest_due_deadline():
    from vangnet.rules import skip_due_deadline

    case = opened()
    state = case.state
    step = skip_due_deadline(state, to_utc(SIGNAL_DUE), "internal_error: TypeError")
    assert "early_signal_due" not in step.state.deadlines
    assert step.state.deadlines[MPZO_MONTHS_THRESHOLD] == state.deadlines[MPZO_MONTHS_THRESHOLD]
    assert step.state.timeline[-1].kind == "early_signal_due"
    assert step.state.timeline[-1].detail["reason"] == "internal_error: TypeError"
    # nothing due: nothing skipped
    assert skip_due_deadline(state, to_utc(ams(2025, 3, 11)), "x").state is state


# -- seen event ids are bounded (A12 / issue 8 item 3) ----------------------------------------------------


def test_the_case_remembers_the_last_event_ids_only():
    case = opened()
    state = case.state
    start = datetime(2025, 3, 11, 9, tzinfo=UTC)
    driver = CaseDriver.dordrecht()
    for n in range(SEEN_EVENT_IDS_LIMIT + 5):
        event = driver.event("progress_reported", now=start, source=TEAM, event_id=f"p-{n}")
        state = apply_event(state, event, start + timedelta(minutes=n)).state
    assert len(state.seen_event_ids) == SEEN_EVENT_IDS_LIMIT
    assert state.seen_event_ids[-1] == f"{TEAM}:p-{SEEN_EVENT_IDS_LIMIT + 4}"
    assert f"{TEAM}:p-0" not in state.seen_event_ids
    repeat = driver.event("progress_reported", now=start, source=TEAM,
                          event_id=f"p-{SEEN_EVENT_IDS_LIMIT + 4}")
    assert apply_event(state, repeat, start + timedelta(days=3)).duplicate


def test_a_step_shares_the_timeline_entries_it_did_not_make():
    case = opened()
    state = case.state
    event = case.event("progress_reported", now=to_utc(ams(2025, 3, 12)), source=TEAM)
    step = apply_event(state, event, to_utc(ams(2025, 3, 12)))
    assert step.state.timeline[: len(state.timeline)] == state.timeline
    assert all(a is b for a, b in zip(step.state.timeline, state.timeline, strict=False))
    assert len(step.state.timeline) == len(state.timeline) + 1
