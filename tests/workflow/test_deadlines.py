"""Deadlines that pass with nothing done: the missing reminder (R2), the collection pause (R4) and
new arrears during aftercare (R10 relapse)."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar

SOCIAL_TEAM = "sociale-wijkteams-dordrecht"


async def test_missing_reminder_escalates_and_the_signal_goes_with_the_reminder(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    early_due = calendar.start_of_day(since + timedelta(days=30))
    months_due = calendar.start_of_day(calendar.add_months(since, 2))

    await case.advance_past(early_due)
    timeline = await case.timeline()
    assert only(entries(timeline, "deadline", "early_signal_due"))["detail"]["due_at"] == (
        early_due.isoformat())
    escalation = timeline[-1]
    assert (escalation["kind"], escalation["detail"]["reason"]) == (
        "escalation_raised", "reminder_missing")
    assert escalation["detail"]["delivered_to"] == ["woonbron"]
    status = await case.status()
    assert (status["stage"], status["track"]) == ("arrears", "spoor_1")
    assert status["next_deadline"] == {"kind": "mpzo_months_threshold",
                                       "due_at": months_due.isoformat()}
    assert await case.inbox_actions("woonbron") == [
        ("tenant_notice_sent", None), ("escalation_raised", "reminder_missing"),
    ]
    assert await case.inbox("dordrecht") == []

    # A partial payment does not re-arm the signal clock while the reminder is awaited.
    await case.send("payment_received", amount_cents=5_000, arrears_cents=80_000)
    assert "early_signal_due" not in (await case.state())["deadlines"]

    # The reminder arrives a week late: the signal goes at once.
    await case.advance(timedelta(days=7))
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    timeline = await case.timeline()
    reminder = only(entries(timeline, "event", "reminder_sent"))
    signal = timeline[-1]
    assert signal["kind"] == "early_signal_submitted"
    assert signal["at"] == reminder["at"]
    assert (signal["detail"]["channel"], signal["detail"]["delivered_to"]) == (
        "RIS", ["dordrecht", "sdd", SOCIAL_TEAM])  # A9(a)
    help_due = when(signal["at"]) + timedelta(days=28)
    status = await case.status()
    assert status["stage"] == "early_signal"
    assert when((await case.state())["deadlines"]["help_plan_deadline"]) == help_due
    # The late signal's 28 days end after the two months: the months rule comes first.
    assert status["next_deadline"] == {"kind": "mpzo_months_threshold",
                                       "due_at": months_due.isoformat()}
    assert await case.inbox_actions("dordrecht") == [("early_signal_submitted", None)]
    assert [k for k, _ in await case.actions()].count("escalation_raised") == 1


async def test_pause_expiry_resumes_collection_and_escalates(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("self_referral", SOCIAL_TEAM)
    await case.send("help_accepted", SOCIAL_TEAM)
    accepted_at = when(only(entries(await case.timeline(), "event", "help_accepted"))["at"])
    pause_end = accepted_at + timedelta(days=30)
    status = await case.status()
    assert (status["stage"], status["collection"]) == ("debt_help", "paused")
    assert status["next_deadline"] == {"kind": "collection_pause_end", "due_at": pause_end.isoformat()}

    await case.advance_past(pause_end - timedelta(days=1))
    assert (await case.status())["collection"] == "paused"

    await case.advance_past(pause_end)
    timeline = await case.timeline()
    fired = only(entries(timeline, "deadline", "collection_pause_end"))
    assert fired["detail"]["due_at"] == pause_end.isoformat()
    assert [(t["kind"], t["detail"].get("reason"), t["detail"]["delivered_to"])
            for t in timeline[-2:]] == [
        ("collection_resumed", None, ["woonbron"]),
        ("escalation_raised", "pause_expired", [SOCIAL_TEAM, "woonbron"]),
    ]
    status = await case.status()
    assert status["stage"] == "arrears"
    assert status["collection"] == "active"
    assert status["collection_paused_until"] is None
    assert status["track"] == "spoor_1"
    # The months rule applies again now that no help is accepted.
    months_due = calendar.start_of_day(calendar.add_months(since, 2))
    assert status["next_deadline"] == {"kind": "mpzo_months_threshold",
                                       "due_at": months_due.isoformat()}
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["NextDeadline"]) == ("arrears", months_due)
    assert await case.inbox_actions("woonbron") == [
        ("tenant_notice_sent", None), ("collection_paused", None),
        ("collection_resumed", None), ("escalation_raised", "pause_expired"),
    ]
    assert await case.inbox_actions(SOCIAL_TEAM) == [
        ("casusregie_assigned", None), ("escalation_raised", "pause_expired"),
    ]


async def test_pause_expiry_after_two_months_of_arrears_reports_to_the_mpzo(cases):
    """After a signal at 30 days and help a few days later, the pause ends past the two months:
    collection resumes, the expiry is escalated and the months rule fires in the same step."""
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))
    await case.advance(timedelta(days=5))
    await case.send("help_accepted", "dordrecht")
    pause_end = when((await case.status())["next_deadline"]["due_at"])
    assert pause_end > calendar.start_of_day(calendar.add_months(since, 2))

    await case.advance_past(pause_end)
    assert (await case.actions())[-3:] == [
        ("collection_resumed", None),
        ("escalation_raised", "pause_expired"),
        ("mpzo_notified", "arrears_months"),
    ]
    status = await case.status()
    assert (status["stage"], status["track"], status["collection"]) == ("care", "spoor_2", "active")
    assert status["months_in_arrears"] == 2
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "arrears_months")]


async def test_new_arrears_in_aftercare_are_a_relapse(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
    assert (await case.status())["stage"] == "aftercare"

    await case.advance(timedelta(days=40))
    assert (await case.status())["stage"] == "aftercare"
    relapse_since = calendar.local_date(await case.now())
    await case.send("arrears_reported", arrears_cents=90_000, monthly_rent_cents=90_000,
                    arrears_since=relapse_since)
    timeline = await case.timeline()
    escalation = timeline[-1]
    assert (escalation["kind"], escalation["detail"]["reason"]) == ("escalation_raised", "relapse")
    assert escalation["detail"]["delivered_to"] == [SOCIAL_TEAM, "woonbron"]
    early_due = calendar.start_of_day(relapse_since + timedelta(days=30))
    status = await case.status()
    assert status["stage"] == "arrears"
    assert status["arrears_cents"] == 90_000
    assert status["months_in_arrears"] == 1
    assert status["next_deadline"] == {"kind": "early_signal_due", "due_at": early_due.isoformat()}
    assert "aftercare_end" not in (await case.state())["deadlines"]
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["ArrearsMonths"], sa["NextDeadline"]) == ("arrears", 1, early_due)
    # The tenant was told once, when the case opened.
    assert [k for k, _ in await case.actions()].count("tenant_notice_sent") == 1
    assert await case.inbox_actions(SOCIAL_TEAM) == [
        ("aftercare_started", None), ("escalation_raised", "relapse"),
    ]

    # R2 again: the earlier reminder counts, so the signal goes when it is due.
    await case.advance_past(early_due)
    assert (await case.actions())[-1] == ("early_signal_submitted", None)
    assert (await case.status())["stage"] == "early_signal"
    assert await case.inbox_actions("dordrecht") == [("early_signal_submitted", None)]
