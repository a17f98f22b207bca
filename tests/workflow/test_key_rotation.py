"""Payload keys rotate (issue 12): a case started under key 1 continues under key 2, and its
history replays with both keys held (and with neither alone)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.worker import Replayer

from tests.histories.rotation import NEW_KEY, OLD_KEY, rotation_keyrings, run_rotated_case
from vangnet import codec
from vangnet.audit import CaseReplayer, fetch_episode
from workflows import TenantCaseWorkflow


async def test_a_case_started_under_key_1_continues_under_key_2_and_replays_under_both(
        temporal_env, store, task_queue):
    handle = await run_rotated_case(temporal_env, store, task_queue, f"R-{uuid.uuid4().hex[:8]}")
    history = await handle.fetch_history()
    events = list(history.events)
    key_ids = [codec.key_id_of(p) for e in events for p in codec.payloads_in(e)
               if codec.is_encrypted(p)]
    assert set(key_ids) == {OLD_KEY, NEW_KEY}
    start = events[0].workflow_execution_started_event_attributes
    assert codec.key_id_of(start.input.payloads[0]) == OLD_KEY
    signals = [e.workflow_execution_signaled_event_attributes for e in events
               if e.HasField("workflow_execution_signaled_event_attributes")]
    assert [codec.key_id_of(s.input.payloads[0]) for s in signals] == [OLD_KEY] * 2 + [NEW_KEY] * 4
    # the case's result, written after the rotation
    completed = events[-1].workflow_execution_completed_event_attributes
    assert codec.key_id_of(completed.result.payloads[0]) == NEW_KEY
    # every payload names the case it belongs to (for the codec server's log)
    assert {codec.workflow_id_of(p) for e in events for p in codec.payloads_in(e)
            if codec.is_encrypted(p)} == {handle.id}

    old, both = rotation_keyrings()
    await Replayer(workflows=[TenantCaseWorkflow],
                   data_converter=codec.data_converter(both)).replay_workflow(history)
    new_only = codec.Keyring(both.keys[1:])
    for partial in (old, new_only):
        result = await Replayer(workflows=[TenantCaseWorkflow],
                                data_converter=codec.data_converter(partial)
                                ).replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is not None, f"replayed holding only {partial.ids}"

    # The audit (this process holds both test keys) replays it and reads its state.
    episode = await CaseReplayer(quiet=True).replay(await fetch_episode(temporal_env.client, handle.id))
    assert episode.deterministic, episode.failures
    assert episode.state and episode.state["outcome"] == "resolved"


def test_a_payload_under_a_key_not_held_names_the_key():
    old, both = rotation_keyrings()
    from temporalio.api.common.v1 import Payload

    sealed = both.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=b"{}"), "case-x")
    with pytest.raises(codec.CodecKeyError, match="'test-2', which this process does not hold"):
        old.decrypt(sealed)
