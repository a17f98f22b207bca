"""RULES §12 I1, I2 and I4 over HTTP: a 202 is an event in its case's history, the sender hears
the case's own verdict, races end with a clear answer, and a new episode is a new case for §7."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import sqlalchemy as sa

from tests.api.conftest import arrears, event, new_event_id, new_ref
from vangnet.case_messages import update_id_for
from vangnet.store.models import IntakeEvent

DORDRECHT_TEAM = "sociale-wijkteams-dordrecht"
GORINCHEM_TEAM = "sociaal-team-gorinchem"


async def row(store, source: str, event_id: str) -> IntakeEvent | None:
    async with store.sessions() as session:
        return await session.get(IntakeEvent, (source, event_id))


async def updates_in_history(api, case_id: str) -> list[tuple[str, str]]:
    """(update id, event type) of every submit_event the case accepted, in order, all runs."""
    out = []
    history = await api.client.get_workflow_handle(case_id).fetch_history()
    for e in history.events:
        if e.HasField("workflow_execution_update_accepted_event_attributes"):
            request = e.workflow_execution_update_accepted_event_attributes.accepted_request
            [submission] = await api.client.data_converter.decode(request.input.args.payloads)
            out.append((request.meta.update_id, submission["type"]))
    return out


async def test_a_202_is_an_event_in_history_with_its_verdict_recorded_after(api, store):
    ref = new_ref()
    body = arrears(ref)
    r = await api.send("woonbron", body)
    case_id = r.json()["case_id"]
    assert r.status_code == 202 and r.json()["duplicate"] is False
    assert await updates_in_history(api, case_id) == [
        (update_id_for("woonbron", body["event_id"]), "arrears_reported")]
    recorded = await row(store, "woonbron", body["event_id"])
    assert (recorded.case_id, recorded.type, recorded.verdict) == (case_id, "arrears_reported", "applied")
    # A repeat is answered from that record (the event is in history): nothing goes to the case.
    again = await api.send("woonbron", body)
    assert again.json() == {"case_id": case_id, "event_id": body["event_id"], "duplicate": True}
    assert len(await updates_in_history(api, case_id)) == 1


async def test_a_repeat_without_a_record_is_answered_by_temporal_and_the_case(api, store):
    ref = new_ref()
    case_id = await api.open_case(ref)
    body = event("reminder_sent", ref, tenant_objects_to_signal=False)
    assert (await api.send("woonbron", body)).status_code == 202
    # The intake died after the case's verdict and before writing it down (I1): the repeat goes
    # to the case with the same update id; Temporal answers with the first call's result.
    async with store.sessions() as session, session.begin():
        await session.execute(sa.delete(IntakeEvent).where(IntakeEvent.event_id == body["event_id"]))
    again = await api.send("woonbron", body)
    assert again.status_code == 202, again.text
    timeline = await api.timeline(case_id)
    assert sum(1 for t in timeline if t["detail"].get("event_id") == body["event_id"]) == 1
    assert (await row(store, "woonbron", body["event_id"])).verdict == "applied"


async def test_an_event_the_case_ignores_is_422_with_its_reason_and_stays_so(api, store):
    ref = new_ref()
    case_id = await api.open_case(ref)
    body = event("moratorium_granted", ref, until=(date.today() + timedelta(days=200)).isoformat())
    r = await api.send("sdd", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "event_ignored", "case_id": case_id,
        "message": f"case {case_id} recorded this event as ignored: no eviction announced: the case "
                   "is not in crisis"}
    ignored = [t for t in await api.timeline(case_id) if t["detail"].get("event_id") == body["event_id"]]
    assert [t["category"] for t in ignored] == ["ignored"]
    assert (await row(store, "sdd", body["event_id"])).verdict == "ignored"
    again = await api.send("sdd", body)  # the same event again: the same answer, nothing recorded twice
    assert (again.status_code, again.json()) == (422, r.json())
    assert len([t for t in await api.timeline(case_id) if t["detail"].get("event_id") == body["event_id"]]) == 1


async def test_a_case_that_accepted_an_event_but_is_slow_to_apply_it_is_still_a_202(api, store):
    ref = new_ref()
    case_id = await api.open_case(ref)
    api.service.cases.verdict_wait = 0.0  # the verdict never arrives in time
    body = event("reminder_sent", ref, tenant_objects_to_signal=False)
    r = await api.send("woonbron", body)
    assert (r.status_code, r.json()["duplicate"]) == (202, False)
    assert (await row(store, "woonbron", body["event_id"])).verdict == "accepted"
    api.service.cases.verdict_wait = 5.0
    again = await api.send("woonbron", body)  # asks the case again, and learns the verdict
    assert again.status_code == 202
    assert (await row(store, "woonbron", body["event_id"])).verdict == "applied"
    assert sum(1 for t in await api.timeline(case_id) if t["detail"].get("event_id") == body["event_id"]) == 1


async def test_events_racing_a_close_are_applied_first_or_told_409_case_closed(api):
    for _ in range(3):
        ref = new_ref()
        case_id = await api.open_case(ref)
        close = event("case_closed", ref, reason="dubbel geregistreerd")
        late = event("payment_received", ref, amount_cents=100, arrears_cents=84_900)
        closed, payment = await asyncio.gather(api.send("operator", close, settle=False),
                                               api.send("woonbron", late, settle=False))
        assert closed.status_code == 202, closed.text
        await api.client.get_workflow_handle(case_id).result()
        kinds = [t["kind"] for t in await api.timeline(case_id) if t["category"] == "event"]
        if payment.status_code == 202:  # it came first
            assert kinds == ["arrears_reported", "payment_received", "case_closed"]
        else:  # never silently dropped: said so, with the case
            assert payment.status_code == 409, payment.text
            assert (payment.json()["error"]["code"], payment.json()["error"]["case_id"]) == (
                "case_closed", case_id)
            assert kinds == ["arrears_reported", "case_closed"]


async def test_two_openings_for_two_municipalities_at_once_the_loser_is_told_409_conflict(api):
    for _ in range(3):
        ref = new_ref()
        case_id = f"case-woonbron-{ref}"
        dordrecht = event("self_referral", ref, municipality="dordrecht")
        gorinchem = event("self_referral", ref, municipality="gorinchem")
        answers = await asyncio.gather(api.send(DORDRECHT_TEAM, dordrecht, settle=False),
                                       api.send(GORINCHEM_TEAM, gorinchem, settle=False))
        assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
        winner, loser = sorted(answers, key=lambda a: a.status_code)
        assert loser.json()["error"]["code"] == "conflict"
        assert loser.json()["error"]["case_id"] == case_id
        await api.settled(case_id)
        status = (await api.get(f"/v1/cases/{case_id}", "woonbron")).json()
        won = dordrecht if winner is answers[0] else gorinchem
        assert status["municipality"] == won["municipality"]
        timeline = await api.timeline(case_id)
        assert [(t["category"], t["detail"].get("event_id")) for t in timeline
                if t["category"] in ("event", "ignored")] == [("event", won["event_id"])]


async def test_two_openings_for_the_same_tenancy_and_municipality_are_both_applied(api):
    ref = new_ref()
    case_id = f"case-woonbron-{ref}"
    first, second = arrears(ref), event("concern_reported", ref, kind="care_and_safety")
    answers = await asyncio.gather(api.send("woonbron", first, settle=False),
                                   api.send("mpzo", second, settle=False))
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    await api.settled(case_id)
    events = {t["detail"]["event_id"] for t in await api.timeline(case_id) if t["category"] == "event"}
    assert events == {first["event_id"], second["event_id"]}


async def test_an_opening_event_for_another_municipality_than_the_open_case(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    r = await api.send("woonbron", arrears(ref, municipality="gorinchem"))
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "municipality_mismatch", "field": "municipality",
                                 "message": f"case {case_id} is in municipality 'dordrecht', not 'gorinchem'"}


async def test_a_new_episode_is_a_new_case_for_section_7(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    first_run = (await api.client.get_workflow_handle(case_id).describe()).run_id
    await api.send("operator", event("case_closed", ref, reason="test"))
    await api.client.get_workflow_handle(case_id).result()
    # Parties of another municipality cannot open the next episode in theirs (I4) …
    for sender, body in (
        ("gorinchem", event("concern_reported", ref, municipality="gorinchem", kind="nuisance")),
        (GORINCHEM_TEAM, event("self_referral", ref, municipality="gorinchem")),
        ("woonbron", arrears(ref, municipality="gorinchem")),
    ):
        r = await api.send(sender, body)
        assert r.status_code == 422, (sender, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("municipality_mismatch",
                                                                             "municipality")
    # … nor in the tenancy's own, which they do not serve (§7, exactly as for a first case).
    r = await api.send(GORINCHEM_TEAM, event("self_referral", ref))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    assert (await api.client.get_workflow_handle(case_id).describe()).run_id == first_run
    # The tenancy's own social team opens it.
    r = await api.send(DORDRECHT_TEAM, event("self_referral", ref, event_id=new_event_id()))
    assert r.status_code == 202, r.text
    desc = await api.client.get_workflow_handle(case_id).describe()
    assert desc.run_id != first_run and desc.status.name == "RUNNING"
