"""The submit_event update on a real case: safe across continue-as-new and the close, and a timeline
that stays bounded in the case while the intake reads it whole (RULES §12)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import sqlalchemy as sa
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tests.api.conftest import arrears, event, new_ref
from vangnet import search_attributes as sa_keys
from vangnet.domain import CaseInput, case_id_for
from vangnet.store.models import CaseTimelineEntry
from workflows.case import INTAKE_PATCH, archive_batch


async def start_case(api, task_queue: str, **case_input) -> tuple[str, str]:
    """A case opened as the intake would, with internal input values set for the test."""
    ref = new_ref()
    case_id = case_id_for("woonbron", ref)
    body = arrears(ref, arrears_cents=9_000_000, monthly_rent_cents=90_000_000,
                   arrears_since=(date.today() - timedelta(days=2)).isoformat())
    payload = {k: v for k, v in body.items() if k not in ("type", "tenancy_ref", "corporation", "municipality")}
    await api.client.start_workflow(
        "TenantCaseWorkflow",
        CaseInput(tenancy_ref=ref, corporation="woonbron", municipality="dordrecht", **case_input),
        id=case_id, task_queue=task_queue,
        start_signal="arrears_reported", start_signal_args=[{**payload, "source": "woonbron"}],
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa_keys.MUNICIPALITY, "dordrecht"),
            SearchAttributePair(sa_keys.HOUSING_CORPORATION, "woonbron")]))
    await api.settled(case_id, body["event_id"], source="woonbron")
    return ref, case_id


def payments(ref: str, n: int, start: int = 9_000_000) -> list[dict]:
    return [event("payment_received", ref, amount_cents=1, arrears_cents=start - i - 1) for i in range(n)]


async def runs_of(api, case_id: str) -> list:
    for _ in range(50):
        runs = [r async for r in api.client.list_workflows(f"WorkflowId = '{case_id}'")]
        if any(r.status.name == "RUNNING" for r in runs):
            return runs
        await asyncio.sleep(0.1)
    return runs


async def test_the_timeline_is_archived_past_its_limit_and_read_whole(api, store, task_queue):
    limit = 9  # archived 3 at a time at least
    ref, case_id = await start_case(api, task_queue, timeline_limit=limit, history_limit=60)
    sent = payments(ref, 24)
    r = await api.post("/v1/events/batch", "woonbron", json=sent)
    assert r.status_code == 200 and r.json()["accepted"] == len(sent), r.text
    await api.settled(case_id, sent[-1]["event_id"])

    whole = (await api.get(f"/v1/cases/{case_id}/timeline", "woonbron")).json()
    assert [(t["category"], t["kind"]) for t in whole] == [
        ("event", "arrears_reported"), ("action", "tenant_notice_sent"),
        *[("event", "payment_received")] * len(sent)]
    assert [t["detail"]["event_id"] for t in whole[2:]] == [e["event_id"] for e in sent]

    handle = api.client.get_workflow_handle(case_id)
    live = await handle.query("timeline")  # what the case itself holds (and carries on)
    assert len(live) < limit + archive_batch(limit) and live == whole[len(whole) - len(live):]
    async with store.sessions() as session:
        stored = (await session.execute(
            sa.select(CaseTimelineEntry.seq).where(CaseTimelineEntry.case_id == case_id)
            .order_by(CaseTimelineEntry.seq))).scalars().all()
    assert stored == list(range(len(whole) - len(live)))  # every position once, across runs
    assert len(await runs_of(api, case_id)) >= 2  # the archive count rode along continue-as-new

    markers = set()
    for run in await runs_of(api, case_id):
        history = await api.client.get_workflow_handle(case_id, run_id=run.run_id).fetch_history()
        markers |= {json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
                    for e in history.events if e.HasField("marker_recorded_event_attributes")
                    and e.marker_recorded_event_attributes.marker_name == "core_patch"}
    assert INTAKE_PATCH in markers


async def test_events_keep_coming_while_the_case_continues_as_new(api, task_queue):
    ref, case_id = await start_case(api, task_queue, history_limit=40)
    sent = payments(ref, 30)
    answers = await asyncio.gather(*(api.send("woonbron", body, settle=False) for body in sent))
    assert [a.status_code for a in answers] == [202] * len(sent), [a.text for a in answers if a.status_code != 202]
    await api.settled(case_id, sent[-1]["event_id"])
    timeline = (await api.get(f"/v1/cases/{case_id}/timeline", "woonbron")).json()
    ids = [t["detail"].get("event_id") for t in timeline if t["kind"] == "payment_received"]
    assert sorted(ids) == sorted(e["event_id"] for e in sent)  # each once, none lost
    assert len(await runs_of(api, case_id)) >= 2
    # A repeat after continue-as-new: Temporal's update-id memory is per run, the case's is not.
    first = sent[0]
    async with api.store.sessions() as session, session.begin():
        await session.execute(sa.text("DELETE FROM intake_event WHERE event_id = :e"), {"e": first["event_id"]})
    again = await api.send("woonbron", first)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    assert (await api.get(f"/v1/cases/{case_id}/timeline", "woonbron")).json() == timeline


async def test_every_event_racing_the_close_gets_an_answer(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    close = event("case_closed", ref, reason="test")
    late = payments(ref, 8, start=85_000)
    answers = await asyncio.gather(api.send("operator", close, settle=False),
                                   *(api.send("woonbron", body, settle=False) for body in late))
    assert answers[0].status_code == 202
    codes = [(a.status_code, a.json().get("error", {}).get("code")) for a in answers[1:]]
    assert set(codes) <= {(202, None), (409, "case_closed")}, codes
    result = await api.client.get_workflow_handle(case_id).result()
    assert result["outcome"] == "withdrawn"
    timeline = await api.timeline(case_id)
    applied = {t["detail"]["event_id"] for t in timeline
               if t["kind"] == "payment_received" and t["category"] == "event"}
    assert applied == {body["event_id"] for body, a in zip(late, answers[1:], strict=False) if a.status_code == 202}
    # Those queued behind the close are on the timeline as ignored, and were told 409.
    behind = {t["detail"]["event_id"] for t in timeline
              if t["kind"] == "payment_received" and t["category"] == "ignored"}
    assert behind <= {body["event_id"] for body, a in zip(late, answers[1:], strict=False) if a.status_code == 409}
