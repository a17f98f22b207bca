"""Continue-as-new: a long case carries on in new runs with its status, timeline, deadlines and
exactly-once messages intact."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from tests.workflow.driver import only, today_nl
from vangnet import calendar

HISTORY_LIMIT = 40


async def _runs(cases, case) -> list:
    """Every run of the case's workflow id (visibility is eventually consistent: wait a bit)."""
    query = f"WorkflowId = '{case.id}'"
    for _ in range(50):
        runs = [r async for r in cases.env.client.list_workflows(query)]
        if any(r.status is None or r.status.name == "RUNNING" for r in runs):
            return runs
        await asyncio.sleep(0.1)
    return runs


async def test_continue_as_new_keeps_status_timeline_and_messages(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since, history_limit=HISTORY_LIMIT)
    first_run = await case.run_id()
    assert first_run == case.first_run_id
    timelines = [await case.timeline()]

    async def step(event_type, source=None, **fields):
        await case.send(event_type, source, **fields)
        timelines.append(await case.timeline())

    await step("reminder_sent", tenant_objects_to_signal=False)
    arrears = 85_000
    for _ in range(8):
        arrears -= 5_000
        await step("payment_received", amount_cents=5_000, arrears_cents=arrears)
    assert await case.run_id() != first_run, "the history limit was crossed without a new run"

    # A deadline set in an earlier run fires in a later one.
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))
    timelines.append(await case.timeline())
    await step("help_accepted", "dordrecht")
    await step("debt_help_started", "sdd")
    await step("payment_arrangement_agreed", "sdd", monthly_amount_cents=5_000, months=9)
    # A repeat of an event from the first run is still recognised as a repeat.
    first_payment = next(t for t in timelines[-1] if t["kind"] == "payment_received")
    await case.send("payment_received", event_id=first_payment["detail"]["event_id"],
                    recorded=False, amount_cents=45_000, arrears_cents=0)
    assert await case.timeline() == timelines[-1]
    await step("payment_received", amount_cents=arrears, arrears_cents=0)

    runs = await _runs(cases, case)
    assert len(runs) >= 3
    assert Counter(r.status.name for r in runs)["CONTINUED_AS_NEW"] == len(runs) - 1
    assert await case.run_id() not in (first_run,)

    # The timeline only ever grew: each snapshot is a prefix of the next, across runs.
    for earlier, later in zip(timelines, timelines[1:], strict=False):
        assert later[: len(earlier)] == earlier
    timeline = timelines[-1]
    assert [(t["category"], t["kind"]) for t in timeline] == [
        ("event", "arrears_reported"), ("action", "tenant_notice_sent"),
        ("event", "reminder_sent"),
        *[("event", "payment_received")] * 8,
        ("deadline", "early_signal_due"), ("action", "early_signal_submitted"),
        ("event", "help_accepted"), ("action", "collection_paused"),
        ("action", "casusregie_assigned"),
        ("event", "debt_help_started"), ("action", "collection_paused"),  # A3
        ("event", "payment_arrangement_agreed"), ("action", "collection_paused"),  # A3
        ("event", "payment_received"), ("action", "aftercare_started"),
    ]

    status = await case.status()
    assert (status["stage"], status["track"], status["collection"]) == (
        "aftercare", "spoor_1", "active")
    assert status["arrears_cents"] == 0
    assert status["next_deadline"]["kind"] == "aftercare_end"
    sa = await case.search_attributes()
    assert (sa["CaseStage"], sa["Municipality"], sa["HousingCorporation"], sa["SocialService"]) == (
        "aftercare", "dordrecht", "woonbron", "sdd")
    assert sa["NextDeadline"].isoformat() == status["next_deadline"]["due_at"]

    # Every action delivered exactly once, under the first run's keys, in sequence.
    actions = [t for t in timeline if t["category"] == "action"]
    # (Actions of one step are delivered concurrently: order the messages by their key's seq.)
    messages = sorted(await cases.case_messages(case.id),
                      key=lambda m: int(m.idempotency_key.rsplit("/", 1)[1]))
    assert [(m.idempotency_key, m.action, m.party_code) for m in messages] == [
        (f"{case.id}/{first_run}/{a['detail']['seq']}", a["kind"], party)
        for a in actions for party in a["detail"]["delivered_to"]
    ]
    assert [a["detail"]["seq"] for a in actions] == list(range(1, len(actions) + 1))
    # One episode in the store, under its first run.
    record = only(await cases.case_records(case.id))
    assert (record.run_id, record.stage) == (first_run, "aftercare")

    # And the chain ends as any case does; the result follows the runs.
    await case.advance_past(status["next_deadline"]["due_at"])
    result = await case.handle.result()
    assert (result["outcome"], result["closed"]) == ("resolved", True)
    final = await case.timeline()
    assert final[: len(timeline)] == timeline
    assert [t["kind"] for t in final[len(timeline):]] == [
        "aftercare_end", "aftercare_completed", "case_closed",
    ]
    assert len({m.idempotency_key + m.party_code for m in await cases.case_messages(case.id)}) == (
        len(await cases.case_messages(case.id)))
