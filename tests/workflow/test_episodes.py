"""Closing a case (R11) and a new episode for the same tenancy (RULES §3: relapse pointer)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.workflow.driver import entries, only, today_nl, when
from vangnet import calendar
from vangnet.domain import CaseProjection, Outcome, Stage, Track
from vangnet.store.cases import upsert_case


async def _resolved_case(cases, **open_fields):
    since = today_nl()
    case = await cases.open(arrears_since=since, **open_fields)
    await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
    await case.advance_past((await case.status())["next_deadline"]["due_at"])
    result = await case.handle.result()
    assert result["outcome"] == "resolved"
    return case, result


async def test_new_episode_after_close_is_a_new_run_pointing_to_the_previous_one(cases):
    first, result = await _resolved_case(cases)

    second = await cases.open(tenancy_ref=first.tenancy_ref, arrears_cents=40_000,
                              monthly_rent_cents=85_000, arrears_since=today_nl())
    assert second.id == first.id
    assert second.first_run_id != first.first_run_id
    assert (await second.handle.describe()).status == WorkflowExecutionStatus.RUNNING

    status = await second.status()
    assert status["relapse_of"] == first.first_run_id
    assert (status["stage"], status["track"], status["closed"]) == ("arrears", "spoor_1", False)
    assert status["arrears_cents"] == 40_000
    # The new run's timeline is the new episode only, with the pointer on its opening event.
    timeline = await second.timeline()
    assert [(t["category"], t["kind"]) for t in timeline] == [
        ("event", "arrears_reported"), ("action", "tenant_notice_sent"),
    ]
    assert timeline[0]["detail"]["relapse_of"] == first.first_run_id
    assert timeline[0]["detail"]["previous_outcome"] == "resolved"
    sa = await second.search_attributes()
    assert (sa["CaseStage"], sa["CaseTrack"]) == ("arrears", "spoor_1")
    assert "CaseOutcome" not in sa

    # The store holds both episodes, keyed by their first run.
    records = {r.run_id: r for r in await cases.case_records(first.id)}
    assert set(records) == {first.first_run_id, second.first_run_id}
    assert (records[first.first_run_id].outcome, records[first.first_run_id].closed_at) == (
        "resolved", when(result["closed_at"]))
    assert (records[second.first_run_id].stage, records[second.first_run_id].outcome) == (
        "arrears", None)
    # Each episode's messages carry its own run in their idempotency key.
    notices = [m for m in await cases.inbox("woonbron", first.id) if m.action == "tenant_notice_sent"]
    assert [m.idempotency_key for m in notices] == [
        f"{first.id}/{first.first_run_id}/1", f"{first.id}/{second.first_run_id}/1",
    ]

    # The previous run is untouched: still completed, with its own result.
    old = cases.env.client.get_workflow_handle(first.id, run_id=first.first_run_id)
    assert (await old.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (await old.result())["outcome"] == "resolved"


async def test_previous_episode_outside_the_relapse_window_is_not_a_relapse(cases):
    closed_at = datetime.now(UTC) - timedelta(days=400)
    tenancy_ref = f"OLD{uuid.uuid4().hex[:8]}"
    await upsert_case(cases.store.sessions, CaseProjection(
        case_id=f"case-woonbron-{tenancy_ref}", run_id="run-of-2025", corporation="woonbron",
        municipality="dordrecht", stage=Stage.closed, track=Track.spoor_1,
        outcome=Outcome.resolved, opened_at=closed_at - timedelta(days=300), closed_at=closed_at,
    ))
    assert calendar.add_months(calendar.local_date(closed_at), 12) < today_nl()

    case = await cases.open(tenancy_ref=tenancy_ref, arrears_since=today_nl())
    status = await case.status()
    assert status["relapse_of"] is None
    opened = only(entries(await case.timeline(), "event", "arrears_reported"))
    assert opened["detail"]["previous_episode"] == "run-of-2025"
    assert "relapse_of" not in opened["detail"]


@pytest.mark.parametrize(
    ("event", "source", "fields", "outcome", "closed_detail"),
    [
        ("case_closed", "operator", {"reason": "registered twice"}, "withdrawn", {}),
        ("tenancy_ended", "woonbron", {"reason": "moved_out"}, "tenancy_ended", {"why": "moved_out"}),
    ],
)
async def test_closing_by_operator_or_end_of_tenancy(cases, event, source, fields, outcome,
                                                      closed_detail):
    case = await cases.open(arrears_since=today_nl())
    await case.send("help_accepted", "sdd")
    await case.send(event, source, **fields)

    closed = only(await case.action_entries("case_closed"))
    assert closed["detail"]["reason"] == outcome
    assert closed["detail"]["delivered_to"] == ["woonbron", "sociale-wijkteams-dordrecht"]
    for key, value in closed_detail.items():
        assert closed["detail"][key] == value
    result = await case.handle.result()
    assert (result["stage"], result["closed"], result["outcome"]) == ("closed", True, outcome)
    assert result["next_deadline"] is None
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["CaseOutcome"]) == ("closed", outcome)
    assert "NextDeadline" not in sa
    assert (await case.inbox_actions("sociale-wijkteams-dordrecht"))[-1] == ("case_closed", outcome)
    record = only(await cases.case_records(case.id))
    assert (record.stage, record.outcome) == ("closed", outcome)


async def test_case_closed_from_a_party_other_than_an_operator_is_ignored(cases):
    case = await cases.open(arrears_since=today_nl())
    await case.send("case_closed", "woonbron", reason="we want it gone")
    last = (await case.timeline())[-1]
    assert (last["category"], last["kind"]) == ("ignored", "case_closed")
    assert last["detail"]["reason"] == (
        "a corporation may not send case_closed (allowed: operator)")
    assert (await case.status())["closed"] is False
