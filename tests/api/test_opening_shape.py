"""What one case opening costs the server (docs/benchmarks.md, patch lean-steps-v1): a case opened
through the intake takes two workflow tasks, one activity task (the tenant notice), the case
context and the projection as local activities, and one upsert of its own search attributes —
without the two the intake set at start."""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import EventType

from tests.api.conftest import event, new_ref
from vangnet.scenarios import wait_settled


async def test_an_opening_is_two_workflow_tasks_one_activity_and_one_upsert(api):
    case_id = await api.open_case()
    handle = api.client.get_workflow_handle(case_id)
    await wait_settled(handle)  # no workflow task or activity in flight
    history = await handle.fetch_history()
    counts = Counter(e.event_type for e in history.events)
    assert counts[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED] == 2
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled == ["tenant_notice_sent"]
    markers = [e.marker_recorded_event_attributes.marker_name
               for e in history.events if e.HasField("marker_recorded_event_attributes")]
    # the patches lean-steps-v1, no-case-falls-through-v1 and case-list-v1 (issue 10), decided
    # as the run starts
    assert Counter(markers) == {"core_patch": 3, "core_local_activity": 2}

    upserted = [set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
                for e in history.events
                if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    own = [keys for keys in upserted if keys != {"TemporalChangeVersion"}]
    assert len(own) == 1, upserted
    assert own[0] == {"CaseStage", "CaseTrack", "SocialService", "ArrearsMonths", "NextDeadline"}


async def test_an_event_that_changes_no_search_attribute_upserts_nothing(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    handle = api.client.get_workflow_handle(case_id)

    def upserts(history) -> int:
        return sum(1 for e in history.events
                   if e.HasField("upsert_workflow_search_attributes_event_attributes"))

    await wait_settled(handle)
    before = upserts(await handle.fetch_history())
    # The corporation's reminder (R2): recorded on the timeline; stage, track, months and the
    # next deadline (the early signal) stay as they are.
    r = await api.send("woonbron", event("reminder_sent", ref, tenant_objects_to_signal=False))
    assert r.status_code == 202, r.text
    await wait_settled(handle)
    after = await handle.fetch_history()
    # (The intake sends it as the update `submit_event`, RULES §12 I1.)
    accepted = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input
                for e in after.events
                if e.HasField("workflow_execution_update_accepted_event_attributes")]
    # (payloads encrypted, issue 12: read as the worker reads them)
    decode = api.client.data_converter.decode
    assert [(i.name, (await decode(i.args.payloads))[0]["type"]) for i in accepted] == [
        ("submit_event", "arrears_reported"), ("submit_event", "reminder_sent")]
    assert upserts(after) == before
