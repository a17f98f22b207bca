"""Spoor 2: the MPZO is notified when the signal is not taken up or the arrears reach two months
(RULES R2 tenant objection, R5 b and c, decisions 3 and 7)."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar


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
    assert timeline[-1]["detail"]["delivered_to"] == ["mpzo"]
    status = await case.status()
    assert status["stage"] == "care"
    assert status["track"] == "spoor_2"
    assert status["collection"] == "active"
    assert status["mpzo_reasons"] == ["signal_not_taken_up"]
    # The help plan deadline is gone; the months rule is still armed.
    assert status["next_deadline"] == {"kind": "mpzo_months_threshold",
                                       "due_at": months_due.isoformat()}
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["CaseTrack"], sa["NextDeadline"]) == ("care", "spoor_2", months_due)
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "signal_not_taken_up")]

    # Each reason is reported once: another "not taken up" changes nothing.
    await case.send("no_contact", "sdd")
    assert (await case.timeline())[-1]["kind"] == "no_contact"
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "signal_not_taken_up")]

    # R5(c) is another reason: at two months the MPZO hears of the arrears too.
    await case.advance_past(months_due)
    assert (await case.actions())[-1] == ("mpzo_notified", "arrears_months")
    assert await case.inbox_actions("mpzo") == [
        ("mpzo_notified", "signal_not_taken_up"), ("mpzo_notified", "arrears_months"),
    ]
    status = await case.status()
    assert (status["stage"], status["collection"], status["months_in_arrears"]) == ("care", "active", 2)
    assert status["next_deadline"] is None
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
    assert status["next_deadline"] == {"kind": "mpzo_months_threshold",
                                       "due_at": months_due.isoformat()}
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
    assert status["next_deadline"] is None
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["CaseTrack"], sa["ArrearsMonths"]) == ("care", "spoor_2", 2)
    assert "NextDeadline" not in sa
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "arrears_months")]
    assert await case.inbox("dordrecht") == []


async def test_two_months_of_arrears_by_size_notify_the_mpzo_at_once(cases):
    case = await cases.open(arrears_cents=170_000, monthly_rent_cents=85_000,
                            arrears_since=today_nl())
    assert await case.actions() == [("tenant_notice_sent", None), ("mpzo_notified", "arrears_months")]
    status = await case.status()
    assert (status["stage"], status["track"], status["months_in_arrears"]) == ("care", "spoor_2", 2)
    assert status["next_deadline"]["kind"] == "early_signal_due"
    assert "mpzo_months_threshold" not in (await case.state())["deadlines"]
    assert (await case.search_attributes())["ArrearsMonths"] == 2


async def test_case_opened_by_a_concern_starts_in_care(cases):
    case = await cases.open("concern_reported", source="dordrecht", kind="care_and_safety")
    assert await case.actions() == [("mpzo_notified", "concern_care_and_safety")]
    status = await case.status()
    assert (status["stage"], status["track"], status["collection"]) == ("care", "spoor_2", "active")
    assert (status["arrears_cents"], status["next_deadline"]) == (0, None)
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
    assert status["next_deadline"] == {
        "kind": "early_signal_due",
        "due_at": calendar.start_of_day(since + timedelta(days=30)).isoformat(),
    }
