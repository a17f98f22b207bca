"""RULES.md §11 end to end, on the dev server with per-workflow time skipping and the real policy
values: help that ends without result (A2), a crisis response for every eviction date (A4), an
eviction during a moratorium (A7), and bad input that never stops a case (A12)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar, rules

SOCIAL_TEAM = "sociale-wijkteams-dordrecht"


async def _alive(case) -> dict:
    """The case runs and owes something by a date (A1)."""
    assert (await case.handle.describe()).status == WorkflowExecutionStatus.RUNNING
    status = await case.status()
    assert status["next_deadline"] is not None, status
    return status


async def test_a2_debt_help_that_ends_resumes_collection_and_tells_the_mpzo(cases):
    since = today_nl() - timedelta(days=40)  # the early signal was due ten days ago
    case = await cases.open(arrears_since=since)
    assert (await case.actions())[-1] == ("escalation_raised", "reminder_missing")
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    assert (await case.actions())[-1] == ("early_signal_submitted", None)
    await case.send("help_accepted", "dordrecht")
    await case.send("debt_help_started", "sdd")
    status = await _alive(case)
    assert (status["stage"], status["collection"]) == ("debt_help", "paused")
    assert status["next_deadline"]["kind"] == "case_review_due"  # A1: 90 days from help

    # 25 days later the arrears are 65 days old: past two months. The tenant drops out.
    await case.advance(timedelta(days=25))
    await case.send("debt_help_ended", "sdd", reason="dropped_out")
    timeline = await case.timeline()
    assert [(t["kind"], t["detail"].get("reason")) for t in timeline[-3:]] == [
        ("debt_help_ended", "dropped_out"),
        ("collection_resumed", None),
        ("mpzo_notified", "help_ended"),
    ]
    assert timeline[-1]["detail"]["delivered_to"] == ["mpzo", SOCIAL_TEAM]
    status = await _alive(case)
    assert (status["stage"], status["track"], status["collection"]) == (
        "care", "spoor_2", "active")
    assert status["mpzo_reasons"] == ["help_ended"]
    plan_due = calendar.working_days_deadline(when(timeline[-1]["at"]), 10)
    assert status["next_deadline"] == {"kind": "mpzo_plan_deadline",
                                       "due_at": plan_due.isoformat()}

    # The corporation's last collection message is true (A3), and says so in Dutch.
    woonbron = await case.inbox("woonbron")
    assert [m.action for m in woonbron if m.action.startswith("collection_")] == [
        "collection_paused", "collection_paused", "collection_resumed"]
    assert woonbron[-1].action == "collection_resumed"
    assert woonbron[-1].payload["text"].startswith("Incasso hervatten voor ")
    mpzo = only(await case.inbox("mpzo"))
    assert mpzo.payload["text"] == (
        f"Melding aan het MPZO voor {case.id} (reden: hulp beëindigd bij 2 maanden achterstand).")

    # No plan from the MPZO within 10 working days: it is reminded, and again after 10 more.
    await case.advance_past(plan_due)
    assert (await case.inbox_actions("mpzo"))[-1] == ("escalation_raised", "mpzo_plan_overdue")
    await case.send("mpzo_plan_ready", "mpzo")
    status = await _alive(case)
    assert status["next_deadline"]["kind"] == "case_review_due"


async def test_a4_every_eviction_date_gets_a_crisis_response(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
    assert (await case.status())["stage"] == "aftercare"

    # An eviction announced during aftercare: a crisis, with the working-day meeting deadline.
    first_date = since + timedelta(days=30)
    await case.send("eviction_announced", eviction_date=first_date)
    announced = only(entries(await case.timeline(), "event", "eviction_announced"))
    status = await _alive(case)
    assert status["stage"] == "crisis"
    assert "aftercare_end" not in (await case.state())["deadlines"]
    meeting_due = calendar.working_days_deadline(when(announced["at"]), 3)
    assert status["next_deadline"] == {"kind": "crisis_meeting_deadline",
                                       "due_at": meeting_due.isoformat()}
    await case.send("crisis_meeting_held", "sdd", result="postponement_agreed")
    await case.send("mpzo_plan_ready", "mpzo")  # (the MPZO's plan: no reminders to it below)

    # A new date after the meeting: the crisis protocol again, for that date.
    second_date = since + timedelta(days=60)
    await case.send("eviction_postponed", new_eviction_date=second_date)
    # The same date again changes nothing.
    await case.send("eviction_announced", eviction_date=second_date)
    invoked = await case.action_entries("crisis_protocol_invoked")
    assert [e["detail"]["eviction_date"] for e in invoked] == [
        first_date.isoformat(), second_date.isoformat()]
    assert invoked[-1]["detail"]["protocol"] == "Crisisprotocol"
    assert (await case.search_attributes())["EvictionDate"] == calendar.start_of_day(second_date)

    # The meeting asks for a moratorium; the court grants it for 60 days.
    await case.send("crisis_meeting_held", "woonbron", result="moratorium_needed")
    until = since + timedelta(days=100)
    await case.send("moratorium_granted", "sdd", until=until)
    # Its end is escalated to the social service and the corporation; the crisis stays.
    await case.advance_past(calendar.start_of_day(until + timedelta(days=1)))
    ended = (await case.action_entries("escalation_raised"))[-1]
    assert (ended["detail"]["reason"], ended["detail"]["delivered_to"]) == (
        "moratorium_ended", ["sdd", "woonbron"])
    status = await _alive(case)
    assert status["stage"] == "crisis"

    # The next date announced gets a crisis response again.
    third_date = until + timedelta(days=21)
    await case.send("eviction_announced", eviction_date=third_date)
    assert (await case.actions())[-1] == ("crisis_protocol_invoked", None)
    assert [a for a in await case.inbox_actions("sdd") if a[0] != "escalation_raised"] == [
        ("crisis_protocol_invoked", None), ("crisis_protocol_invoked", None),
        ("moratorium_requested", None), ("crisis_protocol_invoked", None),
    ]
    sdd_text = (await case.inbox("sdd"))[-1].payload["text"]
    assert sdd_text.startswith("Crisisprotocol gestart voor ")
    assert third_date.isoformat() in sdd_text and "binnen 3 werkdagen" in sdd_text

    # A1: two days after the date with nothing reported, the corporation is asked.
    await case.send("crisis_meeting_held", "sdd", result="postponement_agreed")
    await case.advance_past(calendar.start_of_day(third_date + timedelta(days=2)))
    assert (await case.inbox_actions("woonbron"))[-1] == (
        "escalation_raised", "eviction_outcome_unknown")


async def test_a7_an_eviction_during_a_moratorium_is_escalated_and_closes_the_case(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("summons_served", hearing_date=since + timedelta(days=20))
    await case.send("eviction_announced", eviction_date=since + timedelta(days=30))
    await case.send("crisis_meeting_held", "sdd", result="moratorium_needed")
    moratorium = (await case.inbox("sdd"))[-1]
    assert moratorium.action == "moratorium_requested"
    assert "art. 287b Faillissementswet" in moratorium.payload["text"]  # A11
    until = since + timedelta(days=120)
    await case.send("moratorium_granted", "sdd", until=until)

    await case.advance(timedelta(days=31))
    await case.send("eviction_executed")
    result = await case.handle.result()
    assert (result["outcome"], result["closed"]) == ("evicted", True)
    actions = await case.actions()
    assert actions[-3:] == [
        ("escalation_raised", "moratorium_breached"),
        ("mpzo_notified", "evicted"),
        ("case_closed", "evicted"),
    ]
    breach = (await case.action_entries("escalation_raised"))[-1]
    assert breach["detail"]["delivered_to"] == ["sdd", "mpzo"]
    assert breach["detail"]["moratorium_until"] == until.isoformat()
    for party in ("sdd", "mpzo"):
        assert ("escalation_raised", "moratorium_breached") in await case.inbox_actions(party)
    text = next(m for m in await case.inbox("mpzo")
                if m.payload.get("reason") == "moratorium_breached").payload["text"]
    assert "moratorium (art. 287b Fw) nog liep" in text


async def test_a12_bad_input_never_stops_a_case(cases, monkeypatch):
    since = today_nl()
    case = await cases.open(arrears_since=since)

    # Implausible dates and amounts that are not integers: ignored with the reason.
    await case.send("eviction_announced", event_id="e-9999", eviction_date="9999-12-31")
    await case.send("payment_received", event_id="e-text", amount_cents="85000", arrears_cents=0)
    await case.send("summons_served", event_id="e-0001", hearing_date="0001-01-01")
    await case.send("reminder_sent", event_id="bad id!", tenant_objects_to_signal=False)
    ignored = entries(await case.timeline(), "ignored")
    assert [(t["kind"], t["detail"]["event_id"]) for t in ignored] == [
        ("eviction_announced", "e-9999"), ("payment_received", "e-text"),
        ("summons_served", "e-0001"), ("reminder_sent", "bad id!")]
    reasons = [t["detail"]["reason"] for t in ignored]
    assert reasons[0].startswith("malformed event: eviction_date: must be at most 5 years ahead")
    assert reasons[1] == "malformed event: amount_cents: Input should be a whole number, not text"
    assert reasons[2] == "malformed event: hearing_date: must not be before 2000-01-01"
    assert reasons[3].startswith("malformed event: event_id: must be 1 to 128 letters")
    status = await _alive(case)
    assert (status["stage"], status["arrears_cents"]) == ("arrears", 85_000)

    # An error no rule foresaw, in a handler: that event is ignored, the next one applied.
    def broken(work, event):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(rules.step.HANDLERS, "judgment_given", broken)
    await case.send("judgment_given", event_id="j-1", eviction_granted=True)
    last = (await case.timeline())[-1]
    assert (last["category"], last["kind"], last["detail"]["reason"]) == (
        "ignored", "judgment_given", "internal_error: ZeroDivisionError")

    # ... and outside any handler (the workflow's own net).
    real = rules.apply_payload

    def failing(state, name, payload, now):
        if name == "concern_reported":
            raise RuntimeError("boom")
        return real(state, name, payload, now)

    monkeypatch.setattr(rules, "apply_payload", failing)
    await case.send("concern_reported", event_id="c-1", kind="nuisance")
    last = (await case.timeline())[-1]
    assert (last["category"], last["kind"], last["detail"]) == (
        "ignored", "concern_reported",
        {"event_id": "c-1", "source": "woonbron", "reason": "internal_error: RuntimeError"})

    # A deadline whose handler fails is recorded and dropped; the others still fire.
    def broken_deadline(work):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(rules.step.DEADLINE_HANDLERS, "early_signal_due", broken_deadline)
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))
    last = (await case.timeline())[-1]
    assert (last["category"], last["kind"], last["detail"]["reason"]) == (
        "ignored", "early_signal_due", "internal_error: ZeroDivisionError")
    monkeypatch.undo()

    # The case goes on: the next valid event is applied, the months rule still fires.
    await case.send("payment_received", amount_cents=5_000, arrears_cents=80_000)
    assert (await case.status())["arrears_cents"] == 80_000
    await case.advance_past(calendar.start_of_day(calendar.add_months(since, 2)))
    assert ("mpzo_notified", "arrears_months") in await case.actions()
    await _alive(case)
    # No workflow task ever failed: the history holds no WorkflowTaskFailed event.
    history = await case.handle.fetch_history()
    assert not [e for e in history.events if e.HasField("workflow_task_failed_event_attributes")]
