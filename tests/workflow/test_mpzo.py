"""Spoor 2: the MPZO is notified when the signal is not taken up or the arrears reach two months
(RULES R2 tenant objection, R5 b and c, decisions 3 and 7); the first report of a stretch tells the
social team (A9(b)) and the MPZO then owes a plan (A1)."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar

SOCIAL_TEAM = "sociale-wijkteams-dordrecht"


async def _reports(case, party="mpzo"):
    """The MPZO reports in a party's inbox (its plan reminders aside)."""
    return [a for a in await case.inbox_actions(party) if a[0] == "mpzo_notified"]


async def _plan_due(case):
    """A1: the MPZO's plan is due 10 working days after the first report of the stretch."""
    first = (await case.action_entries("mpzo_notified"))[0]
    return calendar.working_days_deadline(when(first["at"]), 10)


async def _signalled_case(cases):
    """A case whose early signal went out at 30 days; returns (case, arrears_since)."""
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))
    assert (await case.status())["stage"] == "early_signal"
    return case, since


async def test_signal_bounced_notifies_mpzo_once_and_collection_continues(cases):
    case, since = await _signalled_case(cases)
    months_due = calendar.start_of_day(calendar.add_months(since, 2))

    await case.send("signal_bounced", "dordrecht", reason="help_refused_before")
    timeline = await case.timeline()
    bounced = only(entries(timeline, "event", "signal_bounced"))
    assert bounced["detail"]["reason"] == "help_refused_before"
    assert timeline[-1]["kind"] == "mpzo_notified"
    assert timeline[-1]["detail"]["reason"] == "signal_not_taken_up"
    assert timeline[-1]["detail"]["delivered_to"] == ["mpzo", SOCIAL_TEAM]  # A9(b)
    status = await case.status()
    assert status["stage"] == "care"
    assert status["track"] == "spoor_2"
    assert status["collection"] == "active"
    assert status["mpzo_reasons"] == ["signal_not_taken_up"]
    # The help plan deadline is gone; the months rule is still armed; first the MPZO owes a plan.
    plan_due = await _plan_due(case)
    assert when((await case.state())["deadlines"]["mpzo_months_threshold"]) == months_due
    assert status["next_deadline"] == {"kind": "mpzo_plan_deadline",
                                       "due_at": plan_due.isoformat()}
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["CaseTrack"], sa["NextDeadline"]) == ("care", "spoor_2", plan_due)
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "signal_not_taken_up")]
    assert await _reports(case, SOCIAL_TEAM) == [("mpzo_notified", None)]  # A9(b): codes only

    # Each reason is reported once: another "not taken up" changes nothing.
    await case.send("no_contact", "sdd")
    assert (await case.timeline())[-1]["kind"] == "no_contact"
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "signal_not_taken_up")]

    # R5(c) is another reason: at two months the MPZO hears of the arrears too (the social
    # team knows of spoor 2 already).
    await case.advance_past(months_due)
    assert (await case.actions())[-1] == ("mpzo_notified", "arrears_months")
    assert await _reports(case) == [
        ("mpzo_notified", "signal_not_taken_up"), ("mpzo_notified", "arrears_months"),
    ]
    assert await _reports(case, SOCIAL_TEAM) == [("mpzo_notified", None)]  # A9(b): codes only
    # no plan came: the MPZO was reminded (A1)
    assert ("escalation_raised", "mpzo_plan_overdue") in await case.inbox_actions("mpzo")
    status = await case.status()
    assert (status["stage"], status["collection"], status["months_in_arrears"]) == ("care", "active", 2)
    assert status["next_deadline"]["kind"] == "mpzo_plan_deadline"
    assert (await case.search_attributes())["ArrearsMonths"] == 2


async def test_help_plan_deadline_passing_counts_as_not_taken_up(cases):
    case, since = await _signalled_case(cases)
    signal = only(await case.action_entries("early_signal_submitted"))
    help_due = when(signal["at"]) + timedelta(days=28)
    assert (await case.status())["next_deadline"] == {"kind": "help_plan_deadline",
                                                      "due_at": help_due.isoformat()}

    # A day before the deadline nothing has happened.
    await case.advance_past(help_due - timedelta(days=1))
    assert (await case.status())["track"] == "spoor_1"

    await case.advance_past(help_due)
    timeline = await case.timeline()
    fired = only(entries(timeline, "deadline", "help_plan_deadline"))
    assert fired["detail"]["due_at"] == help_due.isoformat()
    assert timeline[-1]["category"] == "action"
    assert (timeline[-1]["kind"], timeline[-1]["detail"]["reason"]) == (
        "mpzo_notified", "signal_not_taken_up")
    status = await case.status()
    assert (status["stage"], status["track"], status["collection"]) == ("care", "spoor_2", "active")
    months_due = calendar.start_of_day(calendar.add_months(since, 2))
    assert when((await case.state())["deadlines"]["mpzo_months_threshold"]) == months_due
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "signal_not_taken_up")]
    assert [k for k, _ in await case.actions()] == [
        "tenant_notice_sent", "early_signal_submitted", "mpzo_notified",
    ]


async def test_tenant_objection_blocks_the_signal_but_the_months_rule_fires(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("reminder_sent", tenant_objects_to_signal=True)

    early_due = calendar.start_of_day(since + timedelta(days=30))
    months_due = calendar.start_of_day(calendar.add_months(since, 2))
    await case.advance_past(early_due)
    fired = only(entries(await case.timeline(), "deadline", "early_signal_due"))
    assert fired["detail"]["result"] == "early_signal_blocked"
    assert await case.actions() == [("tenant_notice_sent", None)]
    assert await case.inbox("dordrecht") == []
    status = await case.status()
    assert (status["stage"], status["track"]) == ("arrears", "spoor_1")
    assert status["next_deadline"] == {"kind": "mpzo_months_threshold",
                                       "due_at": months_due.isoformat()}

    await case.advance_past(months_due)
    fired = only(entries(await case.timeline(), "deadline", "mpzo_months_threshold"))
    assert fired["detail"]["due_at"] == months_due.isoformat()
    assert await case.actions() == [("tenant_notice_sent", None), ("mpzo_notified", "arrears_months")]
    status = await case.status()
    assert (status["stage"], status["track"], status["collection"]) == ("care", "spoor_2", "active")
    assert status["months_in_arrears"] == 2
    # A1: the MPZO owes a plan; nothing else is due
    assert status["next_deadline"] == {"kind": "mpzo_plan_deadline",
                                       "due_at": (await _plan_due(case)).isoformat()}
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["CaseTrack"], sa["ArrearsMonths"]) == ("care", "spoor_2", 2)
    assert sa["NextDeadline"] == await _plan_due(case)
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "arrears_months")]
    assert await case.inbox("dordrecht") == []


async def test_two_months_of_arrears_by_size_notify_the_mpzo_at_once(cases):
    case = await cases.open(arrears_cents=170_000, monthly_rent_cents=85_000,
                            arrears_since=today_nl())
    assert await case.actions() == [("tenant_notice_sent", None), ("mpzo_notified", "arrears_months")]
    status = await case.status()
    assert (status["stage"], status["track"], status["months_in_arrears"]) == ("care", "spoor_2", 2)
    assert status["next_deadline"]["kind"] == "mpzo_plan_deadline"  # A1
    assert {"early_signal_due", "mpzo_plan_deadline", "case_review_due"} == set(
        (await case.state())["deadlines"])  # no months timer
    assert (await case.search_attributes())["ArrearsMonths"] == 2


async def test_case_opened_by_a_concern_starts_in_care(cases):
    case = await cases.open("concern_reported", source="dordrecht", kind="care_and_safety")
    assert await case.actions() == [("mpzo_notified", "concern_care_and_safety")]
    status = await case.status()
    assert (status["stage"], status["track"], status["collection"]) == ("care", "spoor_2", "active")
    assert status["arrears_cents"] == 0
    assert status["next_deadline"] == {"kind": "mpzo_plan_deadline",
                                       "due_at": (await _plan_due(case)).isoformat()}
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "concern_care_and_safety")]
    assert await case.inbox("woonbron") == []

    # Arrears reported later: the tenant notice goes now (R1), the signal clock starts, the
    # stage stays care.
    since = today_nl()
    await case.send("arrears_reported", arrears_cents=60_000, monthly_rent_cents=85_000,
                    arrears_since=since)
    assert (await case.actions())[-1] == ("tenant_notice_sent", None)
    status = await case.status()
    assert status["stage"] == "care"
    assert when((await case.state())["deadlines"]["early_signal_due"]) == (
        calendar.start_of_day(since + timedelta(days=30)))
