"""Reads of a run that cannot answer queries yet: its first workflow task has not run. The server
holds back the first task of a run that continued as new in quick succession (about a second);
a start delay holds it back the same way, on demand."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tests.api.conftest import arrears, new_ref
from vangnet import search_attributes as sa
from vangnet.domain import CaseInput, case_id_for


async def _start_held_back(api, task_queue: str, delay: timedelta) -> str:
    ref = new_ref()
    case_id = case_id_for("woonbron", ref)
    body = arrears(ref)
    payload = {k: v for k, v in body.items()
               if k not in ("type", "tenancy_ref", "corporation", "municipality")}
    await api.client.start_workflow(
        "TenantCaseWorkflow",
        CaseInput(tenancy_ref=ref, corporation="woonbron", municipality="dordrecht"),
        id=case_id, task_queue=task_queue,
        start_signal="arrears_reported", start_signal_args=[{**payload, "source": "woonbron"}],
        start_delay=delay,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.MUNICIPALITY, "dordrecht"),
            SearchAttributePair(sa.HOUSING_CORPORATION, "woonbron"),
        ]),
    )
    return case_id


async def test_a_read_waits_briefly_for_the_first_workflow_task(api, task_queue):
    case_id = await _start_held_back(api, task_queue, timedelta(seconds=1))
    r = await api.get(f"/v1/cases/{case_id}", "woonbron")
    assert r.status_code == 200, r.text
    assert r.json()["case_id"] == case_id  # (its stage may still be on the way: 202 is async)
    await api.settled(case_id)
    timeline = await api.get(f"/v1/cases/{case_id}/timeline", "woonbron")
    assert timeline.status_code == 200, timeline.text
    assert [t["kind"] for t in timeline.json()][:2] == ["arrears_reported", "tenant_notice_sent"]


async def test_a_run_that_stays_not_ready_is_a_503_that_says_so(api, task_queue):
    case_id = await _start_held_back(api, task_queue, timedelta(minutes=5))
    api.service.not_ready_wait = 0.5  # (5 s in service; the answer is the same, sooner)
    r = await api.get(f"/v1/cases/{case_id}", "woonbron")
    assert r.status_code == 503
    body = r.json()
    assert body["error"]["code"] == "case_not_ready", body
    assert case_id in body["error"]["message"] and "try again" in body["error"]["message"]
