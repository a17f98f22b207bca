"""Batch import (JSON array and NDJSON), inbox paging and acknowledgement, health and OpenAPI."""

from __future__ import annotations

import json

import structlog

from starter.schemas import MAX_BATCH
from tests.api.conftest import arrears, event, new_ref


async def test_batch_answers_every_item_in_order_and_applies_good_ones_once(api):
    ref_a, ref_b, ref_c = new_ref(), new_ref(), new_ref()
    items = [
        arrears(ref_a),                                                            # 0 opens A
        event("reminder_sent", ref_a, tenant_objects_to_signal=False),             # 1 A, after 0
        {**arrears(ref_b), "arrears_cents": -1},                                   # 2 malformed
        event("payment_received", ref_c, amount_cents=5, arrears_cents=10),        # 3 no open case
        arrears(ref_b, corporation="poort6"),                                      # 4 not woonbron's
        arrears(ref_c),                                                            # 5 opens C
        "not an event",                                                            # 6
        event("rent_forgiven", ref_a),                                             # 7 unknown type
        arrears(ref_a, municipality="atlantis"),                                   # 8 unknown municipality
    ]
    items.append(dict(items[1]))                                                   # 9 duplicate of 1
    r = await api.post("/v1/events/batch", "woonbron", json=items)
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    assert [x["index"] for x in results] == list(range(len(items)))
    assert [x["status"] for x in results] == [202, 202, 422, 404, 403, 202, 422, 422, 422, 202]
    assert results[0]["case_id"] == f"case-woonbron-{ref_a}" and results[0]["duplicate"] is False
    assert results[9]["duplicate"] is True
    assert results[2]["error"]["field"] == "arrears_cents"
    assert results[3]["error"]["code"] == "no_open_case"
    assert results[4]["error"]["code"] == "forbidden"
    assert results[8]["error"]["code"] == "unknown_municipality"
    assert "case_id" not in results[2]
    assert (body["count"], body["accepted"], body["duplicates"], body["rejected"]) == (10, 4, 1, 6)

    case_a = f"case-woonbron-{ref_a}"
    await api.settled(case_a, items[1]["event_id"])
    timeline = await api.timeline(case_a)
    assert [t["kind"] for t in timeline if t["category"] == "event"] == ["arrears_reported", "reminder_sent"]
    # Repeating the whole batch (a retried month-end run) applies nothing again; item 3 now finds
    # the case that item 5 opened.
    again = (await api.post("/v1/events/batch", "woonbron", json=items)).json()["results"]
    assert [x["status"] for x in again] == [202, 202, 422, 202, 403, 202, 422, 422, 422, 202]
    assert [x["index"] for x in again if x.get("duplicate")] == [0, 1, 5, 9]
    await api.settled(case_a)
    assert await api.timeline(case_a) == timeline


async def test_batch_as_ndjson_with_a_broken_line(api):
    ref = new_ref()
    lines = [json.dumps(arrears(ref)), "", "{broken", json.dumps(event("reminder_sent", ref, tenant_objects_to_signal=True))]
    r = await api.post("/v1/events/batch", "woonbron", content="\n".join(lines).encode() + b"\n",
                       headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["index"], x["status"]) for x in results] == [(0, 202), (1, 422), (2, 202)]
    assert results[1]["error"] == {"code": "invalid_json", "message": "line 3 is not valid JSON"}


async def test_batch_shape_and_size_limits(api, monkeypatch):
    r = await api.post("/v1/events/batch", "woonbron", json={"events": []})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_batch"
    r = await api.post("/v1/events/batch", "woonbron", json=[{}] * (MAX_BATCH + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
    r = await api.post("/v1/events/batch", "woonbron", json=[])
    assert r.status_code == 200 and r.json()["results"] == []
    import starter.api

    monkeypatch.setattr(starter.api, "MAX_BODY_BYTES", 1000)
    r = await api.post("/v1/events/batch", "woonbron", json=[arrears(new_ref()) for _ in range(10)])
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


async def test_long_batches_log_progress(api, monkeypatch):
    import starter.service.batch as batch_module

    monkeypatch.setattr(batch_module, "PROGRESS_EVERY_ITEMS", 3)
    items = [{"type": "nothing"}] * 7
    with structlog.testing.capture_logs() as logs:
        r = await api.post("/v1/events/batch", "woonbron", json=items)
    assert r.status_code == 200
    progress = [e for e in logs if e["event"] == "batch_progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 7
    assert progress[-1]["party"] == "woonbron" and progress[-1]["rejected"] == 7


async def test_inbox_pages_with_a_cursor_and_acknowledges(api):
    cases = [await api.open_case() for _ in range(3)]
    page1 = (await api.get("/v1/inbox?limit=2", "woonbron")).json()
    assert [m["case_id"] for m in page1["messages"]] == cases[:2]
    assert page1["has_more"] is True
    page2 = (await api.get(f"/v1/inbox?after={page1['next_cursor']}&limit=2", "woonbron")).json()
    assert [m["case_id"] for m in page2["messages"]] == cases[2:]
    assert page2["has_more"] is False
    page3 = (await api.get(f"/v1/inbox?after={page2['next_cursor']}", "woonbron")).json()
    assert page3 == {"messages": [], "next_cursor": page2["next_cursor"], "has_more": False}

    message = page1["messages"][0]
    assert message["action"] == "tenant_notice_sent" and message["acked_at"] is None
    assert message["payload"]["text"].startswith("Huurachterstand geregistreerd")
    for _ in range(2):  # acknowledging is idempotent
        r = await api.post(f"/v1/inbox/{message['id']}/ack", "woonbron")
        assert r.status_code == 200 and r.json() == {"message_id": message["id"], "acked": True}
    again = (await api.get("/v1/inbox?limit=1", "woonbron")).json()["messages"][0]
    assert again["id"] == message["id"] and again["acked_at"] is not None
    # Another party cannot acknowledge (or see) woonbron's message.
    r = await api.post(f"/v1/inbox/{page2['messages'][0]['id']}/ack", "poort6")
    assert r.status_code == 404 and r.json()["error"]["code"] == "message_not_found"


async def test_healthz_and_openapi(api):
    r = await api.http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "temporal": "ok", "database": "ok"}
    doc = (await api.http.get("/openapi.json")).json()
    assert set(doc["paths"]) >= {"/v1/events", "/v1/events/batch", "/v1/cases/{case_id}",
                                 "/v1/cases/{case_id}/timeline", "/v1/inbox",
                                 "/v1/inbox/{message_id}/ack", "/healthz"}
    mapping = doc["components"]["schemas"]["IntakeEvent"]["discriminator"]["mapping"]
    from vangnet.domain import EVENT_MODELS

    assert set(mapping) == set(EVENT_MODELS)  # one definition: the domain's events
    arrears_schema = doc["components"]["schemas"]["ArrearsReportedEvent"]
    assert "source" not in arrears_schema["properties"]
    assert {"tenancy_ref", "corporation", "municipality", "event_id"} <= set(arrears_schema["required"])
    post = doc["paths"]["/v1/events"]["post"]
    assert {"401", "403", "404", "409", "422"} <= set(post["responses"])
    assert post["security"] == [{"HTTPBearer": []}]


async def test_a_batch_of_10000_refused_items_is_a_few_log_lines(api):
    from starter.service.batch import REFUSALS_LOGGED

    items = [arrears(f"R-{i}") for i in range(MAX_BATCH)]  # woonbron's tenancies, sent by poort6
    with structlog.testing.capture_logs() as logs:
        r = await api.post("/v1/events/batch", "poort6", json=items)
    assert r.status_code == 200
    assert r.json()["rejected"] == MAX_BATCH
    assert {x["status"] for x in r.json()["results"]} == {403}
    refused = [e for e in logs if e["event"] == "request_refused"]
    assert len(refused) == REFUSALS_LOGGED
    [summary] = [e for e in logs if e["event"] == "batch_refusals"]
    assert summary["by_code"] == {"403 forbidden": MAX_BATCH} and summary["refused"] == MAX_BATCH
    assert len(logs) <= REFUSALS_LOGGED + 15  # plus progress lines (one per 1,000) and the end


async def test_a_batch_item_temporal_did_not_take_in_time_is_tried_again(api, monkeypatch):
    import starter.service.batch as batch_module
    from starter.service.errors import temporal_unavailable

    monkeypatch.setattr(batch_module, "TEMPORAL_RETRY_PAUSES", (0.0, 0.0))
    cases = api.service.cases
    real, calls = cases.submit, []

    async def slow_twice(event, **kw):
        calls.append(event.event_id)
        if len(calls) <= 2:
            raise temporal_unavailable()
        return await real(event, **kw)

    monkeypatch.setattr(cases, "submit", slow_twice)
    body = arrears(new_ref())
    r = await api.post("/v1/events/batch", "woonbron", json=[body])
    assert [x["status"] for x in r.json()["results"]] == [202]
    assert calls == [body["event_id"]] * 3  # the same event (update id) each time
    calls.clear()
    monkeypatch.setattr(cases, "submit", lambda event, **kw: (calls.append(1), _raise())[1])
    r = await api.post("/v1/events/batch", "woonbron", json=[arrears(new_ref())])
    assert [(x["status"], x["error"]["code"]) for x in r.json()["results"]] == [(503, "temporal_unavailable")]
    assert len(calls) == 3  # then the sender hears it


async def _raise():
    from starter.service.errors import temporal_unavailable

    raise temporal_unavailable()
