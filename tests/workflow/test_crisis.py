"""Crisis: an announced eviction (R8), the moratorium (R9) and an executed eviction (R11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar


@pytest.mark.parametrize(
    ("corporation", "municipality", "social_service", "protocol"),
    [
        ("woonbron", "dordrecht", "sdd", "Crisisprotocol"),
        ("poort6", "gorinchem", "avres", "Traject Crisis"),
    ],
)
async def test_crisis_protocol_of_the_municipality_and_overdue_meeting(
        cases, corporation, municipality, social_service, protocol):
    since = today_nl()
    case = await cases.open(corporation=corporation, municipality=municipality, arrears_since=since)
    eviction_date = since + timedelta(days=21)

    now = await case.now()
    await case.send("eviction_announced", eviction_date=eviction_date)
    announced_at = when(only(entries(await case.timeline(), "event", "eviction_announced"))["at"])
    assert calendar.local_date(announced_at) == calendar.local_date(now)
    due = calendar.working_days_deadline(now, 3)

    # R8: stage crisis, the protocol at once; R5(e): the MPZO was not involved yet.
    assert await case.actions() == [
        ("tenant_notice_sent", None),
        ("mpzo_notified", "eviction_announced"),
        ("crisis_protocol_invoked", None),
    ]
    invoked = only(await case.action_entries("crisis_protocol_invoked"))
    assert invoked["detail"]["protocol"] == protocol
    assert invoked["detail"]["delivered_to"] == [social_service]
    assert invoked["detail"]["eviction_date"] == eviction_date.isoformat()
    status = await case.status()
    assert (status["stage"], status["track"]) == ("crisis", "spoor_2")
    assert status["eviction_date"] == eviction_date.isoformat()
    assert status["next_deadline"] == {"kind": "crisis_meeting_deadline", "due_at": due.isoformat()}
    sa = await case.search_attributes()
    assert sa["CaseStage"] == "crisis"
    assert sa["CaseTrack"] == "spoor_2"
    assert sa["Municipality"] == municipality
    assert sa["HousingCorporation"] == corporation
    assert sa["SocialService"] == social_service
    assert sa["NextDeadline"] == due
    assert sa["EvictionDate"] == calendar.start_of_day(eviction_date)
    message = only(await case.inbox(social_service))
    assert (message.action, message.payload["protocol"]) == ("crisis_protocol_invoked", protocol)
    assert message.payload["text"].startswith(protocol)
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "eviction_announced")]

    # Three working days pass without a crisis meeting: escalation to service and corporation.
    await case.advance_past(due - timedelta(hours=2))
    assert ("escalation_raised", "crisis_meeting_overdue") not in await case.actions()
    await case.advance_past(due)
    timeline = await case.timeline()
    assert only(entries(timeline, "deadline", "crisis_meeting_deadline"))["detail"]["due_at"] == (
        due.isoformat())
    escalation = timeline[-1]
    assert (escalation["kind"], escalation["detail"]["reason"]) == (
        "escalation_raised", "crisis_meeting_overdue")
    assert escalation["detail"]["delivered_to"] == [social_service, corporation]
    status = await case.status()
    assert status["stage"] == "crisis"
    assert status["next_deadline"]["kind"] == "mpzo_plan_deadline"  # A1: the MPZO owes a plan
    assert await case.inbox_actions(social_service) == [
        ("crisis_protocol_invoked", None), ("escalation_raised", "crisis_meeting_overdue"),
    ]


async def test_moratorium_requested_granted_and_eviction_postponed(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    eviction_date = since + timedelta(days=14)
    await case.send("eviction_announced", eviction_date=eviction_date)
    crisis_due = when((await case.status())["next_deadline"]["due_at"])

    await case.send("crisis_meeting_held", "sdd", result="moratorium_needed")
    requested = (await case.timeline())[-1]
    assert requested["kind"] == "moratorium_requested"
    assert requested["detail"]["delivered_to"] == ["sdd"]
    assert requested["detail"]["eviction_date"] == eviction_date.isoformat()
    assert "crisis_meeting_deadline" not in (await case.state())["deadlines"]
    assert await case.inbox_actions("sdd") == [
        ("crisis_protocol_invoked", None), ("moratorium_requested", None),
    ]

    # A second "no solution" meeting does not ask the court twice.
    await case.send("crisis_meeting_held", "woonbron", result="no_solution")
    assert [k for k, _ in await case.actions()].count("moratorium_requested") == 1

    until = since + timedelta(days=60)
    await case.send("moratorium_granted", "sdd", until=until)
    state = await case.state()
    assert state["moratorium_until"] == until.isoformat()
    assert when(state["deadlines"]["moratorium_end"]) == calendar.start_of_day(
        until + timedelta(days=1))

    # The meeting was held: its deadline passing raises nothing.
    await case.advance_past(crisis_due)
    assert entries(await case.timeline(), "deadline", "crisis_meeting_deadline") == []
    assert not [a for a in await case.actions() if a[0] == "escalation_raised"]
    assert (await case.status())["stage"] == "crisis"

    # A4: a new date after the meeting gets a crisis response of its own.
    new_date = since + timedelta(days=90)
    await case.send("eviction_postponed", new_eviction_date=new_date)
    assert (await case.status())["eviction_date"] == new_date.isoformat()
    assert (await case.search_attributes())["EvictionDate"] == calendar.start_of_day(new_date)
    again = (await case.action_entries("crisis_protocol_invoked"))[-1]
    assert again["detail"]["eviction_date"] == new_date.isoformat()
    assert await case.inbox_actions("sdd") == [
        ("crisis_protocol_invoked", None), ("moratorium_requested", None),
        ("crisis_protocol_invoked", None),
    ]


async def test_moratorium_excluded_when_nuisance_was_reported(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("concern_reported", "dordrecht", kind="nuisance")
    assert (await case.actions())[-1] == ("mpzo_notified", "concern_nuisance")
    assert (await case.status())["stage"] == "care"

    await case.send("eviction_announced", eviction_date=since + timedelta(days=10))
    # R5(e) only when the MPZO is not yet involved: no second notification.
    assert (await case.actions())[-1] == ("crisis_protocol_invoked", None)
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "concern_nuisance")]

    await case.send("crisis_meeting_held", "sdd", result="no_solution")
    last = (await case.timeline())[-1]
    assert (last["kind"], last["detail"]["reason"]) == (
        "escalation_raised", "moratorium_excluded_nuisance")
    assert last["detail"]["delivered_to"] == ["sdd", "woonbron"]
    assert "moratorium_requested" not in [k for k, _ in await case.actions()]
    assert await case.inbox_actions("sdd") == [
        ("crisis_protocol_invoked", None), ("escalation_raised", "moratorium_excluded_nuisance"),
    ]
    assert (await case.status())["stage"] == "crisis"


async def test_eviction_executed_notifies_mpzo_and_closes_as_evicted(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("summons_served", hearing_date=since + timedelta(days=20))
    await case.send("judgment_given", eviction_granted=True)
    await case.send("eviction_announced", eviction_date=since + timedelta(days=5))
    await case.send("eviction_executed")

    assert await case.actions() == [
        ("tenant_notice_sent", None),
        ("mpzo_notified", "summons_served"),
        ("crisis_protocol_invoked", None),
        ("mpzo_notified", "evicted"),
        ("case_closed", "evicted"),
    ]
    closed = only(await case.action_entries("case_closed"))
    assert closed["detail"]["delivered_to"] == ["woonbron", "mpzo", "sociale-wijkteams-dordrecht",
                                                "sdd"]
    result = await case.handle.result()
    assert (result["stage"], result["closed"], result["outcome"]) == ("closed", True, "evicted")
    assert result["track"] == "spoor_2"
    assert result["next_deadline"] is None
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["CaseOutcome"]) == ("closed", "evicted")
    assert "NextDeadline" not in sa
    assert await case.inbox_actions("mpzo") == [
        ("mpzo_notified", "summons_served"), ("mpzo_notified", "evicted"), ("case_closed", "evicted"),
    ]
    assert "ontruimd" in (await case.inbox("mpzo"))[-1].payload["text"]
    record = only(await cases.case_records(case.id))
    assert (record.stage, record.outcome, record.track) == ("closed", "evicted", "spoor_2")


async def test_paying_in_full_takes_the_eviction_off_the_table(cases):
    """Decision 8: payment in full at any stage leads to aftercare and cancels a running crisis."""
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("eviction_announced", eviction_date=since + timedelta(days=10))
    crisis_due = when((await case.status())["next_deadline"]["due_at"])
    assert "EvictionDate" in await case.search_attributes()

    await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
    assert (await case.actions())[-1] == ("aftercare_started", None)
    status = await case.status()
    assert (status["stage"], status["collection"], status["eviction_date"]) == (
        "aftercare", "active", None)
    assert status["next_deadline"]["kind"] == "aftercare_end"
    sa = await case.search_attributes()
    assert sa["CaseStage"] == "aftercare"
    assert "EvictionDate" not in sa

    # The crisis meeting's deadline is gone with the crisis.
    await case.advance_past(crisis_due)
    assert not [a for a in await case.actions() if a[0] == "escalation_raised"]
    # A late crisis event is out of place now.
    await case.send("crisis_meeting_held", "sdd", result="no_solution")
    last = (await case.timeline())[-1]
    assert (last["category"], last["detail"]["reason"]) == (
        "ignored", "no eviction announced: the case is not in crisis")
