"""Events that change nothing (R12, duplicates, malformed payloads) and starts that must fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.workflow.driver import entries, today_nl
from vangnet import calendar

SOCIAL_TEAM = "sociale-wijkteams-dordrecht"


async def _snapshot(case, cases):
    """Everything an ignored event must leave alone (the timeline aside)."""
    state = await case.state()
    for key in ("timeline", "seen_event_ids"):
        state.pop(key)
    messages = [(m.party_code, m.action, m.idempotency_key)
                for m in await cases.case_messages(case.id)]
    return state, await case.status(), messages, await case.search_attributes()


@pytest.mark.parametrize(
    ("event", "source", "fields", "reason"),
    [
        ("moratorium_granted", "sdd", {"until": "2029-01-01"},
         "no eviction announced: the case is not in crisis"),
        ("crisis_meeting_held", "sdd", {"result": "no_solution"},
         "no eviction announced: the case is not in crisis"),
        ("judgment_given", "woonbron", {"eviction_granted": True}, "no summons was served"),
        ("arrangement_breached", "woonbron", {}, "no payment arrangement is running"),
        ("mpzo_plan_ready", "mpzo", {}, "the MPZO has not been notified for this case"),
        ("signal_bounced", "dordrecht", {"reason": "unknown"},
         "no early signal was submitted and the tenant did not refer themselves"),
        ("help_accepted", "woonbron", {},
         "a corporation may not send help_accepted "
         "(allowed: municipality, social_service, social_team)"),
        ("help_accepted", "avres", {}, "source 'avres' is not a party to this case"),
    ],
)
async def test_event_that_makes_no_sense_is_recorded_as_ignored(cases, event, source, fields,
                                                                 reason):
    case = await cases.open(arrears_since=today_nl())
    before = await _snapshot(case, cases)
    length = len(await case.timeline())

    event_id = await case.send(event, source, **fields)
    timeline = await case.timeline()
    assert len(timeline) == length + 1
    ignored = timeline[-1]
    assert (ignored["category"], ignored["kind"]) == ("ignored", event)
    assert ignored["detail"]["reason"] == reason
    assert (ignored["detail"]["event_id"], ignored["detail"]["source"]) == (event_id, source)
    assert await _snapshot(case, cases) == before

    # The case lives on.
    await case.send("help_accepted", "dordrecht")
    status = await case.status()
    assert (status["stage"], status["collection"]) == ("debt_help", "paused")


async def test_duplicate_event_id_changes_nothing(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("reminder_sent", event_id="rem-1", tenant_objects_to_signal=False)
    timeline = await case.timeline()
    state = await case.state()

    # Same sender, same event_id, a different body: a repeat, ignored without a trace.
    await case.send("reminder_sent", event_id="rem-1", recorded=False,
                    tenant_objects_to_signal=True)
    assert await case.timeline() == timeline
    assert await case.state() == state

    # The first reminder stands: the signal goes at 30 days.
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))
    assert (await case.actions())[-1] == ("early_signal_submitted", None)

    await case.send("help_accepted", "dordrecht", event_id="h-1")
    timeline = await case.timeline()
    messages = await cases.case_messages(case.id)
    await case.send("help_accepted", "dordrecht", event_id="h-1", recorded=False)
    assert await case.timeline() == timeline
    assert len(await cases.case_messages(case.id)) == len(messages)
    assert [k for k, _ in await case.actions()].count("casusregie_assigned") == 1

    # The same event_id from another sender is another event (here: help already accepted).
    await case.send("help_accepted", SOCIAL_TEAM, event_id="h-1")
    last = (await case.timeline())[-1]
    assert (last["category"], last["detail"]["source"], last["detail"]["reason"]) == (
        "ignored", SOCIAL_TEAM, "help was already accepted")


async def test_malformed_payload_is_recorded_as_ignored_and_the_case_lives_on(cases):
    case = await cases.open(arrears_since=today_nl())
    state = await case.state()
    status = await case.status()

    await case.send("payment_received", recorded=False, amount_cents=1_000, arrears_cents="abc")
    await case.send_raw("arrears_forgiven", {"event_id": "x1", "source": "woonbron"})
    await case.send_raw("payment_received", "not an object")
    await case.send("reminder_sent", recorded=False, tenant_objects_to_signal=False,
                    colour="blue")

    ignored = entries(await case.timeline(), "ignored")
    assert [t["kind"] for t in ignored] == [
        "payment_received", "arrears_forgiven", "payment_received", "reminder_sent",
    ]
    reasons = [t["detail"]["reason"] for t in ignored]
    assert reasons[0].startswith("malformed event: arrears_cents: ")
    assert reasons[1].startswith("malformed event: unknown event type 'arrears_forgiven'")
    assert reasons[2] == "malformed event: event payload must be a JSON object"
    assert reasons[3] == "malformed event: colour: field not allowed for reminder_sent"
    after = await case.state()
    assert len(after["timeline"]) == len(state["timeline"]) + 4
    assert {k: v for k, v in after.items() if k != "timeline"} == (
        {k: v for k, v in state.items() if k != "timeline"})
    assert await case.status() == status

    # The case lives on: a valid payment is applied.
    await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
    assert (await case.status())["stage"] == "aftercare"
    assert (await case.handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_first_event_that_cannot_open_a_case_fails_with_no_open_case(cases):
    case = await cases.open("help_accepted", source="dordrecht")
    with pytest.raises(WorkflowFailureError) as err:
        await case.handle.result()
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "NoOpenCase"
    assert cause.non_retryable
    assert "no open case for this tenancy" in cause.message
    assert "arrears_reported, self_referral or concern_reported" in cause.message
    assert (await case.handle.describe()).status == WorkflowExecutionStatus.FAILED
    # Nothing was sent to anyone, and nothing was projected.
    assert await cases.case_messages(case.id) == []
    assert await cases.case_records(case.id) == []


async def test_unknown_municipality_at_open_fails_with_unknown_party(cases):
    case = await cases.open(municipality="utrecht", arrears_since=today_nl())
    with pytest.raises(WorkflowFailureError) as err:
        await case.handle.result()
    # The case context is a local activity: its non-retryable failure fails the run as it is.
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.non_retryable
    assert cause.type == "UnknownParty"
    assert "utrecht" in cause.message
    assert (await case.handle.describe()).status == WorkflowExecutionStatus.FAILED
    assert await cases.case_messages(case.id) == []
