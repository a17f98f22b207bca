"""Spoor 1 (debt help) from the first arrears to a resolved case (RULES R1-R3, R10, R11)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar

SOCIAL_TEAM = "sociale-wijkteams-dordrecht"


async def test_spoor1_from_arrears_to_resolved(cases):
    since = today_nl()
    case = await cases.open(arrears_cents=85_000, monthly_rent_cents=85_000, arrears_since=since)

    # R1: open in stage arrears, track 1, collection active, tenant notice to the corporation.
    early_due = calendar.start_of_day(since + timedelta(days=30))
    months_due = calendar.start_of_day(calendar.add_months(since, 2))
    status = await case.status()
    assert status["stage"] == "arrears"
    assert status["track"] == "spoor_1"
    assert status["collection"] == "active"
    assert status["arrears_cents"] == 85_000
    assert status["months_in_arrears"] == 1  # by size: one month's rent
    assert status["next_deadline"] == {"kind": "early_signal_due", "due_at": early_due.isoformat()}
    assert status["closed"] is False and status["outcome"] is None
    assert (await case.state())["deadlines"] == {
        "early_signal_due": early_due.isoformat().replace("+00:00", "Z"),
        "mpzo_months_threshold": months_due.isoformat().replace("+00:00", "Z"),
    }
    assert await case.actions() == [("tenant_notice_sent", None)]
    assert await case.search_attributes() | {"BuildIds": None} == {
        "BuildIds": None,
        "CaseStage": "arrears",
        "CaseTrack": "spoor_1",
        "Municipality": "dordrecht",
        "HousingCorporation": "woonbron",
        "SocialService": "sdd",
        "ArrearsMonths": 1,
        "NextDeadline": early_due,
        # Set by the SDK for each patch a run took: operators can find cases by code version.
        "TemporalChangeVersion": ["case-list-v1", "lean-steps-v1", "no-case-falls-through-v1"],
    }

    # R2: the reminder is recorded; at 30 days the early signal goes to the municipality by RIS.
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    assert await case.actions() == [("tenant_notice_sent", None)]
    await case.advance_past(early_due)
    timeline = await case.timeline()
    fired = only(entries(timeline, "deadline", "early_signal_due"))
    assert fired["detail"]["due_at"] == early_due.isoformat()
    signal = only(entries(timeline, "action", "early_signal_submitted"))
    assert signal["detail"]["channel"] == "RIS"
    # A9(a): the municipality's partners are told as well
    assert signal["detail"]["receivers"] == ["municipality", "social_service", "social_team"]
    assert signal["detail"]["delivered_to"] == ["dordrecht", "sdd", SOCIAL_TEAM]
    assert signal["detail"]["arrears_months"] == 1
    help_due = when(signal["at"]) + timedelta(days=28)
    status = await case.status()
    assert status["stage"] == "early_signal"
    assert status["track"] == "spoor_1"
    assert status["next_deadline"] == {"kind": "help_plan_deadline", "due_at": help_due.isoformat()}
    sa = await case.search_attributes()
    assert sa["CaseStage"] == "early_signal"
    assert sa["NextDeadline"] == help_due
    message = only(await case.inbox("dordrecht"))
    assert message.action == "early_signal_submitted"
    assert message.payload["channel"] == "RIS"

    # R3: help accepted -> collection paused for 30 days and casusregie to the social team.
    await case.send("help_accepted", "dordrecht")
    timeline = await case.timeline()
    accepted_at = when(only(entries(timeline, "event", "help_accepted"))["at"])
    pause_end = accepted_at + timedelta(days=30)
    assert [(t["kind"], t["detail"]["delivered_to"]) for t in timeline[-2:]] == [
        ("collection_paused", ["woonbron"]),
        ("casusregie_assigned", [SOCIAL_TEAM]),
    ]
    assert when(timeline[-2]["detail"]["until"]) == pause_end
    status = await case.status()
    assert status["stage"] == "debt_help"
    assert status["collection"] == "paused"
    assert when(status["collection_paused_until"]) == pause_end
    assert status["next_deadline"] == {"kind": "collection_pause_end", "due_at": pause_end.isoformat()}
    assert (await case.search_attributes())["NextDeadline"] == pause_end
    casusregie = (await case.inbox(SOCIAL_TEAM))[-1]
    assert casusregie.action == "casusregie_assigned"
    assert casusregie.payload["casusregie_party"] == SOCIAL_TEAM
    assert casusregie.payload["youth_care_requested"] is False

    # Debt help extends the pause until an arrangement is agreed or breached, and the corporation
    # is told (A3); the review clock of the stage is what remains due (A1).
    await case.send("debt_help_started", "sdd")
    status = await case.status()
    assert status["stage"] == "debt_help"
    assert status["collection"] == "paused"
    assert status["collection_paused_until"] is None
    review_due = accepted_at + timedelta(days=90)
    assert status["next_deadline"] == {"kind": "case_review_due", "due_at": review_due.isoformat()}
    assert (await case.search_attributes())["NextDeadline"] == review_due
    extended = (await case.inbox("woonbron"))[-1]
    assert (extended.action, extended.payload["detail"]) == (
        "collection_paused", {"until": None, "basis": "debt_help"})
    assert extended.payload["text"].endswith("zolang de schuldhulp loopt.")

    await case.send("payment_arrangement_agreed", "sdd", monthly_amount_cents=10_000, months=9)
    status = await case.status()
    assert status["stage"] == "arrangement"
    assert status["collection"] == "paused"
    assert status["next_deadline"]["kind"] == "case_review_due"
    assert (await case.search_attributes())["CaseStage"] == "arrangement"
    assert [k for k, _ in await case.actions()] == [
        "tenant_notice_sent", "early_signal_submitted", "collection_paused", "casusregie_assigned",
        "collection_paused", "collection_paused",
    ]

    # R10: paid to zero -> aftercare for 6 months, collection active with nothing to collect.
    await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
    timeline = await case.timeline()
    assert timeline[-1]["kind"] == "aftercare_started"
    aftercare_end = calendar.start_of_day(
        calendar.add_months(calendar.local_date(when(timeline[-1]["at"])), 6))
    status = await case.status()
    assert status["stage"] == "aftercare"
    assert status["collection"] == "active"
    assert status["arrears_cents"] == 0
    assert status["months_in_arrears"] == 0
    assert status["next_deadline"] == {"kind": "aftercare_end", "due_at": aftercare_end.isoformat()}
    sa = await case.search_attributes()
    assert sa["CaseStage"] == "aftercare"
    assert sa["ArrearsMonths"] == 0
    assert sa["NextDeadline"] == aftercare_end

    # Five months on nothing has happened yet; past six months the case closes as resolved.
    await case.advance(timedelta(days=150))
    assert (await case.status())["stage"] == "aftercare"
    await case.advance_past(aftercare_end)
    assert (await case.actions())[-2:] == [("aftercare_completed", None), ("case_closed", "resolved")]
    closed = (await case.action_entries("case_closed"))[0]
    assert closed["detail"]["delivered_to"] == ["woonbron", "dordrecht", "sdd", SOCIAL_TEAM]

    result = await case.handle.result()
    assert result["stage"] == "closed"
    assert result["closed"] is True
    assert result["outcome"] == "resolved"
    assert result["track"] == "spoor_1"
    assert result["next_deadline"] is None
    assert (await case.handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    sa = await case.search_attributes()
    assert sa["CaseStage"] == "closed"
    assert sa["CaseOutcome"] == "resolved"
    assert "NextDeadline" not in sa

    assert [k for k, _ in await case.actions()] == [
        "tenant_notice_sent", "early_signal_submitted", "collection_paused", "casusregie_assigned",
        "collection_paused", "collection_paused",
        "aftercare_started", "aftercare_completed", "case_closed",
    ]
    assert await case.inbox_actions("woonbron") == [
        ("tenant_notice_sent", None), ("collection_paused", None), ("collection_paused", None),
        ("collection_paused", None), ("case_closed", "resolved"),
    ]
    assert await case.inbox_actions("dordrecht") == [
        ("early_signal_submitted", None), ("case_closed", "resolved"),
    ]
    assert await case.inbox_actions(SOCIAL_TEAM) == [
        ("early_signal_submitted", None), ("casusregie_assigned", None),
        ("aftercare_started", None), ("aftercare_completed", None), ("case_closed", "resolved"),
    ]
    assert "opgelost" in (await case.inbox("woonbron"))[-1].payload["text"]
    assert await case.inbox_actions("sdd") == [
        ("early_signal_submitted", None), ("case_closed", "resolved")]
    assert await case.inbox("mpzo") == []

    record = only(await cases.case_records(case.id))
    assert (record.run_id, record.stage, record.outcome) == (case.first_run_id, "closed", "resolved")
    assert record.closed_at == when(result["closed_at"])

    # R11: a closed case accepts no further events.
    with pytest.raises(RPCError) as err:
        await case.handle.signal("payment_received", {
            "event_id": "late", "source": "woonbron", "amount_cents": 1, "arrears_cents": 0})
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert "completed" in err.value.message


async def test_self_referral_skips_the_early_signal(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("self_referral", "sdd")
    timeline = await case.timeline()
    referral_at = when(only(entries(timeline, "event", "self_referral"))["at"])
    help_due = referral_at + timedelta(days=28)
    status = await case.status()
    assert status["stage"] == "arrears"
    assert status["next_deadline"] == {"kind": "help_plan_deadline", "due_at": help_due.isoformat()}
    assert "early_signal_due" not in (await case.state())["deadlines"]

    await case.send("help_accepted", SOCIAL_TEAM)
    assert await case.actions() == [
        ("tenant_notice_sent", None), ("collection_paused", None), ("casusregie_assigned", None),
    ]
    status = await case.status()
    assert status["stage"] == "debt_help"
    assert status["collection"] == "paused"
    assert status["next_deadline"]["kind"] == "collection_pause_end"

    # The day the early signal would have been due passes without a signal or an escalation.
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))
    assert entries(await case.timeline(), "deadline") == []
    assert await case.inbox("dordrecht") == []
    assert (await case.status())["stage"] == "debt_help"
