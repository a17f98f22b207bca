"""Every error of RULES §10 with its JSON body: 401, 403, 404, 409, 422 (and nothing half-applied)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api.conftest import arrears, event, new_event_id, new_ref
from vangnet.store.models import IntakeEvent


async def intake_rows(store) -> int:
    async with store.sessions() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(IntakeEvent))).scalar_one()


# -- 401 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_key"),
        ({"Authorization": "Basic d29vbmJyb246eA=="}, "missing_key"),
        ({"Authorization": "Bearer "}, "missing_key"),
        ({"Authorization": "Bearer vn_not-a-key"}, "invalid_key"),
    ],
)
async def test_401_without_a_valid_key(api, headers, code):
    for method, path in (("POST", "/v1/events"), ("GET", "/v1/cases/case-woonbron-X"),
                         ("GET", "/v1/inbox"), ("POST", "/v1/inbox/1/ack"),
                         ("POST", "/v1/events/batch")):
        r = await api.http.request(method, path, headers=headers, json=arrears(new_ref()))
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"]["code"] == code
        assert set(r.json()["error"]) == {"code", "message"}


async def test_401_after_the_key_is_revoked(api):
    created = await api.service.create_key("woonbron")
    headers = {"Authorization": f"Bearer {created.key}"}
    assert (await api.http.get("/v1/inbox", headers=headers)).status_code == 200
    await api.service.revoke_key(created.row.id)
    r = await api.http.get("/v1/inbox", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "invalid_key", "message": "unknown or revoked API key"}}


# -- 403 -----------------------------------------------------------------------------------


async def test_403_body(api, store):
    before = await intake_rows(store)
    r = await api.send("poort6", arrears(new_ref()))
    assert r.status_code == 403
    assert r.json() == {"error": {"code": "forbidden", "message":
                                  "poort6 may send events only for its own tenancies, not for corporation 'woonbron'"}}
    assert await intake_rows(store) == before


# -- 404 -----------------------------------------------------------------------------------


async def test_404_event_without_an_open_case_that_cannot_open_one(api, store):
    ref = new_ref()
    before = await intake_rows(store)
    r = await api.send("woonbron", event("reminder_sent", ref, tenant_objects_to_signal=False))
    assert r.status_code == 404
    assert r.json() == {"error": {
        "code": "no_open_case",
        "message": f"there is no open case case-woonbron-{ref}; a case opens with "
                   "arrears_reported, concern_reported, self_referral",
    }}
    assert await intake_rows(store) == before  # the claim was released: nothing half-applied
    desc = await api.service.cases.describe(f"case-woonbron-{ref}")
    assert desc is None  # and no workflow was started


async def test_404_reads_of_unknown_things(api):
    r = await api.get("/v1/cases/case-woonbron-nothing-here", "woonbron")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "case_not_found")
    r = await api.get("/v1/cases/case-woonbron-nothing-here/timeline", "auditor")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "case_not_found")
    r = await api.post("/v1/inbox/987654/ack", "woonbron")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "message_not_found", "message": "woonbron has no message 987654"}}
    r = await api.get("/v1/nothing", "woonbron")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


# -- 409 -----------------------------------------------------------------------------------


async def test_409_event_for_a_closed_case_names_case_and_outcome(api, store):
    ref = new_ref()
    case_id = await api.open_case(ref)
    r = await api.send("woonbron", event("tenancy_ended", ref, reason="moved_out"))
    assert r.status_code == 202
    await api.client.get_workflow_handle(case_id).result()
    before = await intake_rows(store)
    r = await api.send("woonbron", event("payment_received", ref, amount_cents=100, arrears_cents=0))
    assert r.status_code == 409
    assert r.json() == {"error": {
        "code": "case_closed",
        "message": f"case {case_id} is closed (outcome: tenancy_ended): it accepts no further events; "
                   "new arrears, a self-referral or a concern open a new case",
        "case_id": case_id,
    }}
    assert await intake_rows(store) == before
    # The same event_id may be sent again once it means something: the claim was released.


async def test_opening_event_after_close_starts_a_new_episode(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    first_run = (await api.client.get_workflow_handle(case_id).describe()).run_id
    await api.send("operator", event("case_closed", ref, reason="test"))
    await api.client.get_workflow_handle(case_id).result()
    r = await api.send("woonbron", arrears(ref))
    assert r.status_code == 202 and r.json()["duplicate"] is False
    desc = await api.client.get_workflow_handle(case_id).describe()
    assert desc.run_id != first_run and desc.status.name == "RUNNING"
    assert (await desc.static_summary()) == f"woonbron · dordrecht · contract {ref}"
    status = (await api.get(f"/v1/cases/{case_id}", "woonbron")).json()
    assert (status["stage"], status["closed"]) == ("arrears", False)


# -- 422 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "field", "phrase"),
    [
        ({"type": "rent_forgiven"}, "unknown_event_type", "type", "unknown event type 'rent_forgiven'"),
        ({"type": None}, "invalid_event", "type", "type: field required"),
        ({"arrears_cents": None}, "invalid_event", "arrears_cents", "arrears_cents: Field required"),
        ({"arrears_cents": -5}, "invalid_event", "arrears_cents", "greater than 0"),
        ({"arrears_since": "2025-02-30"}, "invalid_event", "arrears_since", "day value is outside expected range"),
        ({"arrears_since": "yesterday"}, "invalid_event", "arrears_since", "valid date"),
        ({"municipality": "rotterdam"}, "unknown_municipality", "municipality",
         "municipality 'rotterdam' is not a municipality in the registry"),
        ({"corporation": "vestia"}, "unknown_corporation", "corporation",
         "corporation 'vestia' is not a housing corporation in the registry"),
        ({"municipality": "sdd"}, "unknown_municipality", "municipality", "not a municipality"),
        ({"tenancy_ref": "has spaces"}, "invalid_event", "tenancy_ref", "tenancy_ref: String should match"),
        ({"tenancy_ref": None}, "invalid_event", "tenancy_ref", "tenancy_ref: field required"),
        ({"event_id": ""}, "invalid_event", "event_id", "at least 1 character"),
        ({"colour": "red"}, "invalid_event", "colour", "colour: field not allowed for arrears_reported"),
        ({"occurred_at": "not a time"}, "invalid_event", "occurred_at", "occurred_at"),
    ],
)
async def test_422_malformed_events(api, store, change, code, field, phrase):
    body = arrears(new_ref())
    for k, v in change.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    before = await intake_rows(store)
    r = await api.send("woonbron", body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert (err["code"], err.get("field")) == (code, field), err
    assert phrase in err["message"], err["message"]
    assert await intake_rows(store) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "the body is not valid JSON"), (b"[1, 2]", "an event must be a JSON object"),
     (b'"arrears"', "an event must be a JSON object")],
)
async def test_422_body_that_is_not_an_event(api, content, message):
    r = await api.post("/v1/events", "woonbron", content=content,
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == message


async def test_422_other_event_types_check_their_own_fields(api):
    ref = new_ref()
    await api.open_case(ref)
    cases = [
        (event("reminder_sent", ref, tenant_objects_to_signal="perhaps"), "tenant_objects_to_signal"),
        (event("payment_received", ref, amount_cents=0, arrears_cents=1), "amount_cents"),
        (event("concern_reported", ref, kind="noise"), "kind"),
        (event("summons_served", ref, hearing_date="2025-13-01"), "hearing_date"),
        (event("eviction_postponed", ref), "new_eviction_date"),
    ]
    for body, field in cases:
        r = await api.send("woonbron", body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field


async def test_422_event_id_reused_for_another_event(api):
    ref = new_ref()
    event_id = new_event_id()
    await api.open_case(ref, event_id=event_id)
    r = await api.send("woonbron", event("reminder_sent", ref, event_id=event_id, tenant_objects_to_signal=False))
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "event_id_reused",
        "message": f"woonbron already used event_id {event_id!r} for arrears_reported on case-woonbron-{ref}",
        "field": "event_id",
    }


async def test_422_bad_query_and_path_parameters(api):
    r = await api.get("/v1/inbox?limit=0", "woonbron")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request" and r.json()["error"]["field"] == "limit"
    r = await api.get("/v1/inbox?after=abc", "woonbron")
    assert (r.status_code, r.json()["error"]["field"]) == (422, "after")
    r = await api.post("/v1/inbox/abc/ack", "woonbron")
    assert (r.status_code, r.json()["error"]["field"]) == (422, "message_id")


# -- duplicates ----------------------------------------------------------------------------


async def test_a_repeated_event_is_a_duplicate_and_applied_once(api):
    ref = new_ref()
    body = arrears(ref)
    first = await api.send("woonbron", body)
    again = await api.send("woonbron", body)
    assert first.status_code == again.status_code == 202
    assert first.json()["duplicate"] is False
    assert again.json() == {"case_id": f"case-woonbron-{ref}", "event_id": body["event_id"], "duplicate": True}
    reminder = event("reminder_sent", ref, tenant_objects_to_signal=False)
    for _ in range(3):
        r = await api.send("woonbron", reminder)
        assert r.status_code == 202
    case_id = first.json()["case_id"]
    await api.settled(case_id)
    timeline = await api.timeline(case_id)
    assert sum(1 for t in timeline if t["detail"].get("event_id") == body["event_id"]) == 1
    assert sum(1 for t in timeline if t["detail"].get("event_id") == reminder["event_id"]) == 1
    inbox = (await api.get("/v1/inbox", "woonbron")).json()["messages"]
    assert [m["action"] for m in inbox if m["case_id"] == case_id] == ["tenant_notice_sent"]


async def test_the_same_event_id_from_two_senders_is_two_events(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    shared = new_event_id()
    r1 = await api.send("dordrecht", event("help_accepted", ref, event_id=shared))
    r2 = await api.send("sdd", event("debt_help_started", ref, event_id=shared))
    assert r1.json()["duplicate"] is False and r2.json()["duplicate"] is False
    sources = [t["detail"]["source"] for t in await api.timeline(case_id) if t["detail"].get("event_id") == shared]
    assert sorted(sources) == ["dordrecht", "sdd"]
