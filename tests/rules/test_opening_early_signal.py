"""R1 (open), the thresholds by age and by size, and R2 (the early signal)."""

from __future__ import annotations

from datetime import date, timedelta

from vangnet import calendar
from vangnet.domain import Collection, Stage, Track
from vangnet.rules import (
    CASE_REVIEW_DUE,
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
    MPZO_PLAN_DEADLINE,
)

from .helpers import (
    RENT,
    SIGNAL_TO,
    CaseDriver,
    act,
    ams,
    midnight,
    mpzo_first,
    open_with_arrears,
    shape,
    to_utc,
)

OPEN_AT = ams(2025, 3, 10, 9)
SINCE = date(2025, 3, 1)
SIGNAL_DUE = midnight(date(2025, 3, 31))  # 30 days after 1 March; CEST from 30 March
MONTHS_DUE = midnight(date(2025, 5, 1))  # 2 calendar months after 1 March


def opened(**kw) -> CaseDriver:
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=OPEN_AT, since=SINCE, **kw)
    return case


# -- R1 ------------------------------------------------------------------------------------------


def test_r1_open_on_arrears_reported():
    case = CaseDriver.dordrecht()
    step = open_with_arrears(case, at=OPEN_AT, since=SINCE)

    assert shape(step.actions) == [act("tenant_notice_sent", "corporation")]
    assert step.actions[0].seq == 1
    assert step.ignored is None and not step.duplicate
    s = case.state
    assert s.opened and s.opened_at == OPEN_AT
    assert s.stage == Stage.arrears and s.track == Track.spoor_1
    assert s.collection == Collection.active
    assert s.arrears_cents == RENT and s.monthly_rent_cents == RENT and s.arrears_since == SINCE
    assert case.deadlines == {EARLY_SIGNAL_DUE: SIGNAL_DUE, MPZO_MONTHS_THRESHOLD: MONTHS_DUE}
    # the early signal falls just after the switch to summer time: 00:00 CEST = 22:00 UTC
    assert to_utc(SIGNAL_DUE).isoformat() == "2025-03-30T22:00:00+00:00"


def test_r1_status_and_timeline_after_opening():
    case = opened()
    st = case.status()
    assert {k: st[k] for k in ("case_id", "stage", "track", "collection", "arrears_cents",
                               "months_in_arrears", "next_deadline", "closed", "outcome")} == {
        "case_id": "case-woonbron-HR-1001",
        "stage": "arrears",
        "track": "spoor_1",
        "collection": "active",
        "arrears_cents": RENT,
        "months_in_arrears": 1,  # by size: one month's rent
        "next_deadline": {"kind": "early_signal_due", "due_at": "2025-03-30T22:00:00+00:00"},
        "closed": False,
        "outcome": None,
    }
    assert st["policy"]["early_signal_after_days"] == 30
    assert case.timeline() == [
        {
            "at": "2025-03-10T08:00:00Z",
            "category": "event",
            "kind": "arrears_reported",
            "detail": {"event_id": "ev-1", "source": "woonbron", "arrears_cents": RENT,
                       "monthly_rent_cents": RENT, "arrears_since": "2025-03-01"},
        },
        {
            "at": "2025-03-10T08:00:00Z",
            "category": "action",
            "kind": "tenant_notice_sent",
            "detail": {"seq": 1, "receivers": ["corporation"]},
        },
    ]


def test_r1_second_arrears_report_updates_amounts_without_a_second_notice():
    case = opened()
    step = case.send("arrears_reported", at=ams(2025, 3, 20), arrears_cents=120_000,
                     monthly_rent_cents=RENT, arrears_since="2025-03-01")
    assert step.actions == []
    assert case.state.arrears_cents == 120_000
    assert case.all_actions("tenant_notice_sent") == [act("tenant_notice_sent", "corporation")]


def test_months_in_arrears_by_age_and_by_size():
    case = opened(months=0.5)
    assert case.status(ams(2025, 3, 31, 12))["months_in_arrears"] == 0
    assert case.status(ams(2025, 4, 1, 12))["months_in_arrears"] == 1
    assert case.status(ams(2025, 6, 1, 12))["months_in_arrears"] == 3
    big = opened(months=3.5)
    assert big.status(ams(2025, 3, 10, 12))["months_in_arrears"] == 3


# -- thresholds (R5c) ------------------------------------------------------------------------------


def test_threshold_by_size_reports_to_mpzo_at_once():
    case = CaseDriver.dordrecht()
    step = open_with_arrears(case, at=OPEN_AT, since=SINCE, months=2)
    assert shape(step.actions) == [
        act("tenant_notice_sent", "corporation"),
        mpzo_first("arrears_months"),
    ]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.collection == Collection.active  # collection continues in (c)
    # no age timer any more; A1: the MPZO's plan and the review clock of stage care
    assert case.deadlines == {
        EARLY_SIGNAL_DUE: SIGNAL_DUE,
        MPZO_PLAN_DEADLINE: calendar.working_days_deadline(to_utc(OPEN_AT), 10),
        CASE_REVIEW_DUE: to_utc(OPEN_AT) + timedelta(days=90),
    }
    assert case.state.mpzo_reasons == ["arrears_months"]


def test_threshold_by_size_just_below_two_months_waits_for_age():
    case = CaseDriver.dordrecht()
    step = case.send("arrears_reported", at=OPEN_AT, arrears_cents=2 * RENT - 1,
                     monthly_rent_cents=RENT, arrears_since=SINCE.isoformat())
    assert shape(step.actions) == [act("tenant_notice_sent", "corporation")]
    assert case.deadlines[MPZO_MONTHS_THRESHOLD] == MONTHS_DUE


def test_threshold_by_size_reached_by_a_later_report():
    case = opened()
    step = case.send("arrears_reported", at=ams(2025, 3, 20, 9), arrears_cents=2 * RENT,
                     monthly_rent_cents=RENT, arrears_since=SINCE.isoformat())
    assert shape(step.actions) == [mpzo_first("arrears_months")]
    assert MPZO_MONTHS_THRESHOLD not in case.deadlines
    assert case.stage == Stage.care


def test_threshold_by_age_at_two_calendar_months():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=True)
    assert case.advance_to(MONTHS_DUE - timedelta(minutes=1)) == []
    fired = case.advance_to(MONTHS_DUE)
    assert shape(fired) == [mpzo_first("arrears_months")]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert case.collection == Collection.active
    entry = case.entries("deadline", MPZO_MONTHS_THRESHOLD)
    assert entry == [{"at": "2025-04-30T22:00:00Z", "category": "deadline",
                      "kind": MPZO_MONTHS_THRESHOLD,
                      "detail": {"due_at": "2025-04-30T22:00:00+00:00"}}]
    assert case.status()["months_in_arrears"] == 2


def test_threshold_by_age_clamps_to_the_end_of_a_short_month():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 1, 2, 9), since=date(2024, 12, 31))
    assert case.deadlines[MPZO_MONTHS_THRESHOLD] == midnight(date(2025, 2, 28))


def test_old_arrears_fire_their_overdue_deadlines_in_order_when_the_case_opens():
    case = CaseDriver.dordrecht()
    step = open_with_arrears(case, at=ams(2025, 3, 15, 9), since=date(2025, 1, 1))
    assert shape(step.actions) == [
        act("tenant_notice_sent", "corporation"),
        act("escalation_raised", "corporation", reason="reminder_missing"),
        mpzo_first("arrears_months"),
    ]
    assert [(e["category"], e["kind"]) for e in case.timeline()] == [
        ("event", "arrears_reported"),
        ("action", "tenant_notice_sent"),
        ("deadline", EARLY_SIGNAL_DUE),
        ("action", "escalation_raised"),
        ("deadline", MPZO_MONTHS_THRESHOLD),
        ("action", "mpzo_notified"),
    ]
    assert case.entries("deadline", EARLY_SIGNAL_DUE)[0]["detail"] == {
        "due_at": to_utc(midnight(date(2025, 1, 31))).isoformat()}


def test_a_step_reports_the_deadlines_it_fired_for_the_metrics():
    # Issue 13 (vangnet_deadlines_fired_total): the core says what fired and when it was due.
    case = CaseDriver.dordrecht()
    step = open_with_arrears(case, at=ams(2025, 3, 15, 9), since=date(2025, 1, 1))
    assert [kind for kind, _ in step.fired] == [EARLY_SIGNAL_DUE, MPZO_MONTHS_THRESHOLD]
    assert step.fired[0][1] == to_utc(midnight(date(2025, 1, 31)))
    assert case.send("reminder_sent", at=ams(2025, 3, 16), tenant_objects_to_signal=False).fired == []


# -- R2 ------------------------------------------------------------------------------------------


def test_r2_early_signal_with_reminder():
    case = opened()
    step = case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    assert step.actions == [] and case.stage == Stage.arrears
    assert case.advance_to(SIGNAL_DUE - timedelta(seconds=1)) == []

    fired = case.advance_to(SIGNAL_DUE)
    assert shape(fired) == [act("early_signal_submitted", *SIGNAL_TO)]
    assert fired[0].detail == {"arrears_months": 1}
    assert case.stage == Stage.early_signal and case.track == Track.spoor_1
    assert case.state.early_signal_at == SIGNAL_DUE
    assert case.deadlines == {HELP_PLAN_DEADLINE: to_utc(SIGNAL_DUE) + timedelta(days=28),
                              MPZO_MONTHS_THRESHOLD: MONTHS_DUE}
    assert case.status()["next_deadline"] == {"kind": HELP_PLAN_DEADLINE,
                                              "due_at": "2025-04-27T22:00:00+00:00"}
    assert case.entries("deadline", EARLY_SIGNAL_DUE) == [
        {"at": "2025-03-30T22:00:00Z", "category": "deadline", "kind": EARLY_SIGNAL_DUE,
         "detail": {"due_at": "2025-03-30T22:00:00+00:00"}}]


def test_r2_tenant_objects_blocks_the_signal_but_not_the_months_rule():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=True)
    fired = case.advance_to(SIGNAL_DUE)
    assert fired == []
    assert case.stage == Stage.arrears
    assert case.state.early_signal_blocked and case.state.early_signal_at is None
    [entry] = case.entries("deadline", EARLY_SIGNAL_DUE)
    assert entry["detail"] == {"due_at": "2025-03-30T22:00:00+00:00",
                               "result": "early_signal_blocked",
                               "why": "tenant objects to the signal"}
    assert case.deadlines == {MPZO_MONTHS_THRESHOLD: MONTHS_DUE}
    assert "early_signal_submitted" not in case.action_names()

    fired = case.advance_to(MONTHS_DUE)
    assert shape(fired) == [mpzo_first("arrears_months")]
    assert case.stage == Stage.care
    assert "early_signal_submitted" not in case.action_names()


def test_r2_the_latest_reminder_decides_on_objection():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=True)
    case.send("reminder_sent", at=ams(2025, 3, 20), tenant_objects_to_signal=False)
    assert shape(case.advance_to(SIGNAL_DUE)) == [act("early_signal_submitted", *SIGNAL_TO)]


def test_r2_missing_reminder_escalates_then_signal_goes_when_the_reminder_arrives():
    case = opened()
    fired = case.advance_to(SIGNAL_DUE)
    assert shape(fired) == [act("escalation_raised", "corporation", reason="reminder_missing")]
    assert case.stage == Stage.arrears
    assert case.state.awaiting_reminder
    assert case.deadlines == {MPZO_MONTHS_THRESHOLD: MONTHS_DUE}
    assert case.timeline()[-2:] == [
        {"at": "2025-03-30T22:00:00Z", "category": "deadline", "kind": EARLY_SIGNAL_DUE,
         "detail": {"due_at": "2025-03-30T22:00:00+00:00"}},
        {"at": "2025-03-30T22:00:00Z", "category": "action", "kind": "escalation_raised",
         "detail": {"seq": 2, "receivers": ["corporation"], "reason": "reminder_missing"}},
    ]
    # nothing more happens while waiting
    assert case.advance_to(ams(2025, 4, 3, 9)) == []

    reminder_at = ams(2025, 4, 3, 10)
    step = case.send("reminder_sent", at=reminder_at, tenant_objects_to_signal=False)
    assert shape(step.actions) == [act("early_signal_submitted", *SIGNAL_TO)]
    assert case.stage == Stage.early_signal
    assert not case.state.awaiting_reminder
    assert case.deadlines[HELP_PLAN_DEADLINE] == to_utc(reminder_at) + timedelta(days=28)
    # the signal goes once
    case.send("reminder_sent", at=ams(2025, 4, 4), tenant_objects_to_signal=False)
    assert len(case.all_actions("early_signal_submitted")) == 1
    assert len(case.all_actions("escalation_raised")) == 1


def test_r2_late_reminder_with_objection_records_the_block_on_the_event():
    case = opened()
    case.advance_to(SIGNAL_DUE)
    step = case.send("reminder_sent", at=ams(2025, 4, 3, 10), tenant_objects_to_signal=True)
    assert step.actions == []
    [entry] = case.entries("event", "reminder_sent")
    assert entry["detail"]["result"] == "early_signal_blocked"
    assert entry["detail"]["tenant_objects_to_signal"] is True
    assert case.state.early_signal_blocked and not case.state.awaiting_reminder
    assert shape(case.advance_to(MONTHS_DUE)) == [
        mpzo_first("arrears_months")]


def test_r2_self_referral_skips_the_signal():
    case = opened()
    at = ams(2025, 3, 12, 14)
    step = case.send("self_referral", at=at, source="sociale-wijkteams-dordrecht")
    # A9(d): a referral through the social team is forwarded to the social service
    assert shape(step.actions) == [act("referral_forwarded", "social_service")]
    assert case.state.self_referral and case.stage == Stage.arrears
    assert case.deadlines == {HELP_PLAN_DEADLINE: to_utc(at) + timedelta(days=28),
                              MPZO_MONTHS_THRESHOLD: MONTHS_DUE}
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    assert case.advance_to(SIGNAL_DUE + timedelta(days=1)) == []  # no signal, no escalation

    step = case.send("help_accepted", at=ams(2025, 4, 2, 10), source="dordrecht")
    assert shape(step.actions) == [act("collection_paused", "corporation"),
                                   act("casusregie_assigned", "social_team")]
    assert case.stage == Stage.debt_help
    assert "early_signal_submitted" not in case.action_names()


def test_r2_self_referral_while_awaiting_the_reminder_stops_waiting():
    case = opened()
    case.advance_to(SIGNAL_DUE)
    case.send("self_referral", at=ams(2025, 4, 1, 10), source="woonbron")
    step = case.send("reminder_sent", at=ams(2025, 4, 2), tenant_objects_to_signal=False)
    assert step.actions == []
    assert "early_signal_submitted" not in case.action_names()


def test_r2_self_referral_opens_a_case_without_a_tenant_notice():
    case = CaseDriver.dordrecht()
    at = ams(2025, 3, 10, 9)
    step = case.send("self_referral", at=at, source="sdd")
    assert step.actions == []
    assert case.state.opened and case.stage == Stage.arrears and case.track == Track.spoor_1
    assert case.deadlines == {HELP_PLAN_DEADLINE: to_utc(at) + timedelta(days=28)}
    # arrears reported later: the notice goes then, the signal stays skipped
    step = open_with_arrears(case, at=ams(2025, 3, 12), since=SINCE)
    assert shape(step.actions) == [act("tenant_notice_sent", "corporation")]
    assert EARLY_SIGNAL_DUE not in case.deadlines
    assert case.deadlines[MPZO_MONTHS_THRESHOLD] == MONTHS_DUE


def test_r2_signal_while_in_care_keeps_stage_care():
    """By size the MPZO is involved at once; the early signal still goes at 30 days."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=OPEN_AT, since=SINCE, months=2)
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    assert shape(case.advance_to(SIGNAL_DUE)) == [
        # A1: the MPZO reported no plan within 10 working days of the report
        act("escalation_raised", "mpzo", reason="mpzo_plan_overdue"),
        act("early_signal_submitted", *SIGNAL_TO),
    ]
    assert case.stage == Stage.care and case.track == Track.spoor_2
    assert fired_detail(case, "early_signal_submitted") == {"arrears_months": 2}


def test_r2_no_signal_when_arrears_cleared_before_it_is_due():
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.send("payment_received", at=ams(2025, 3, 20), amount_cents=RENT, arrears_cents=0)
    case.advance_to(SIGNAL_DUE + timedelta(days=1))
    assert "early_signal_submitted" not in case.action_names()
    assert case.stage == Stage.aftercare


def fired_detail(case: CaseDriver, action: str) -> dict:
    [planned] = [a for a in case.actions if a.action == action]
    return planned.detail


def test_deadlines_due_at_the_same_moment_fire_in_a_fixed_order():
    """61 days after 1 March is 1 May, the same moment as the 2-month threshold: the signal
    timer goes first (RULES order of the deadline names), then the MPZO report."""
    from vangnet.policy import Policy

    case = CaseDriver.dordrecht(policy=Policy(early_signal_after_days=61))
    open_with_arrears(case, at=OPEN_AT, since=SINCE)
    assert case.deadlines == {EARLY_SIGNAL_DUE: MONTHS_DUE, MPZO_MONTHS_THRESHOLD: MONTHS_DUE}
    assert case.status()["next_deadline"]["kind"] == EARLY_SIGNAL_DUE
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    assert shape(case.advance_to(MONTHS_DUE)) == [
        act("early_signal_submitted", *SIGNAL_TO),
        mpzo_first("arrears_months"),
    ]
    assert case.stage == Stage.care
