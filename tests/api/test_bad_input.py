"""RULES §12 I6 and §11 A12 at the intake: bad input is a 4xx with the documented body, never a
5xx; a database that is locked or gone is a 503 that /healthz confirms; keys expire."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import structlog

from starter.api import create_app
from starter.service import IntakeService
from starter.service.parsing import MAX_JSON_DEPTH, nests_deeper_than
from tests.api.conftest import arrears, event, new_ref
from tests.conftest import free_port
from vangnet.settings import Settings
from vangnet.store import Store, apikeys
from vangnet.store.models import IntakeEvent

# -- nesting (I6) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "deeper"),
    [(b"{}", False), (b'{"a": [1, {"b": [2]}]}', False),
     (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
     (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
     (b'{"x": "' + b"[" * 100 + b'"}', False),  # brackets in a string are text
     (b'["\\"' + b"[" * 100 + b'"]', False),  # … escaped quotes included
     (b"[" * 100_000, False),  # unbalanced: the parser's to report (and it is refused as deep)
     (b"[" * 50 + b"1" + b"]" * 50, True)],
)
def test_nesting_is_measured_without_parsing(text, deeper):
    assert nests_deeper_than(text) is deeper


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
async def test_a_deeply_nested_body_is_422(api, depth):
    body = b'{"type": "arrears_reported", "x": ' + b"[" * depth + b"]" * depth + b"}"
    r = await api.post("/v1/events", "woonbron", content=body,
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {"code": "json_too_deep", "message":
                                 f"the body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep"}


async def test_an_unbalanced_deep_body_is_422_too(api):
    r = await api.post("/v1/events", "woonbron", content=b"[" * 100_000,
                       headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "json_too_deep")


async def test_a_deep_ndjson_line_refuses_that_item_only(api):
    ref = new_ref()
    deep = b'{"type": "reminder_sent", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    good = event("reminder_sent", ref, tenant_objects_to_signal=False)
    import json

    lines = [json.dumps(arrears(ref)).encode(), deep, json.dumps(good).encode()]
    r = await api.post("/v1/events/batch", "woonbron", content=b"\n".join(lines),
                       headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [202, 422, 202]
    assert results[1]["error"] == {"code": "json_too_deep", "message":
                                   f"line 2 nests arrays or objects more than {MAX_JSON_DEPTH} levels deep"}


# -- size (I6) -------------------------------------------------------------------------------


async def test_a_chunked_body_over_the_limit_is_413_before_it_is_read_whole(api, monkeypatch):
    import starter.api

    monkeypatch.setattr(starter.api, "MAX_BODY_BYTES", 10_000)
    sent = 0

    async def chunks():  # no Content-Length: the body comes in chunks
        nonlocal sent
        for _ in range(1_000):
            sent += 1
            yield b" " * 1_000

    r = await api.post("/v1/events", "woonbron", content=chunks(),
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"
    assert sent <= 12  # refused at the 11th chunk, not after all 1,000


# -- amounts and dates (A12; the event models are issue 8's) ---------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"amount_cents": "100"}, "amount_cents"), ({"amount_cents": True}, "amount_cents"),
     ({"amount_cents": 100.0}, "amount_cents"), ({"arrears_cents": "0"}, "arrears_cents"),
     ({"occurred_at": "9999-01-01T00:00:00Z"}, "occurred_at"),
     ({"occurred_at": "1999-12-31T00:00:00Z"}, "occurred_at")],
)
async def test_a12_strict_amounts_and_plausible_dates_are_422(api, fields, field):
    ref = new_ref()
    await api.open_case(ref)
    body = event("payment_received", ref, amount_cents=100, arrears_cents=84_900)
    body.update(fields)
    r = await api.send("woonbron", body)
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("invalid_event", field)


async def test_a12_dates_far_ahead_are_422(api):
    ref = new_ref()
    await api.open_case(ref)
    far = (date.today() + timedelta(days=6 * 366)).isoformat()
    r = await api.send("woonbron", event("summons_served", ref, hearing_date=far))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "hearing_date")


# -- the database (I6) -----------------------------------------------------------------------


async def test_a_locked_database_is_503_and_healthz_says_so(temporal_env, store, task_queue, worker):
    path = store.engine.url.database
    quick = await Store.open(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{path}"), timeout=0.3)
    service = IntakeService(quick, temporal_env.client, task_queue)
    key = (await service.create_key("woonbron")).key
    headers = {"Authorization": f"Bearer {key}"}
    app = create_app(service)
    locker = sqlite3.connect(path)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake.test") as http:
            opening = arrears(new_ref())
            assert (await http.post("/v1/events", json=opening, headers=headers)).status_code == 202
            message = None
            while message is None:  # the tenant notice reaches woonbron's inbox
                page = (await http.get("/v1/inbox", headers=headers)).json()["messages"]
                message = page[0]["id"] if page else await asyncio.sleep(0.05)
            locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            # What must write is refused, at once and plainly.
            r = await http.post(f"/v1/inbox/{message}/ack", headers=headers)
            assert r.status_code == 503, r.text
            assert r.json()["error"] == {"code": "database_unavailable", "message":
                                         "the case store (database) did not answer; retry later "
                                         "with the same event_id"}
            health = await http.get("/healthz")
            assert health.status_code == 503
            assert health.json() == {"status": "unavailable", "temporal": "ok",
                                     "database": "unavailable: locked"}
            # An event still reaches its case (reads work in WAL mode), so the 202 is true (I1);
            # only the intake's note of the verdict waits for the repeat.
            body = arrears(new_ref())
            with structlog.testing.capture_logs() as logs:
                r = await http.post("/v1/events", json=body, headers=headers)
            assert r.status_code == 202, r.text
            assert "intake_record_failed" in [e["event"] for e in logs]
            locker.rollback()
            assert (await http.get("/healthz")).status_code == 200
            r = await http.post("/v1/events", json=body, headers=headers)
            assert r.status_code == 202
            async with quick.sessions() as session:
                recorded = await session.get(IntakeEvent, ("woonbron", body["event_id"]))
            assert recorded is not None and recorded.verdict == "applied"
    finally:
        locker.close()
        await quick.close()


async def test_an_unreachable_postgresql_is_503_and_healthz_says_so(temporal_env, task_queue):
    gone = Store.from_url(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/vangnet", timeout=1.0)
    service = IntakeService(gone, temporal_env.client, task_queue)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service)),
                                     base_url="http://intake.test") as http:
            for method, path in (("GET", "/v1/inbox"), ("POST", "/v1/events")):
                r = await http.request(method, path, json=arrears(new_ref()),
                                       headers={"Authorization": "Bearer vn_whatever-key-it-is"})
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "database_unavailable"
            health = await http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["database"].startswith("unavailable: ")
            assert health.json()["temporal"] == "ok"
    finally:
        await gone.close()


# -- keys expire -----------------------------------------------------------------------------


async def test_an_expired_key_is_401_key_expired(api, store):
    key, row = await apikeys.create_key(store.sessions, "woonbron", "party",
                                        expires_at=datetime.now(UTC) - timedelta(minutes=1))
    r = await api.http.get("/v1/inbox", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "key_expired", "message":
                                  f"API key {row.id} expired on {row.expires_at.date().isoformat()}: "
                                  "ask for a new one (`keys create`)"}}
    fresh = await api.service.create_key("woonbron", lifetime=timedelta(days=1))
    assert fresh.row.expires_at > datetime.now(UTC)
    r = await api.http.get("/v1/inbox", headers={"Authorization": f"Bearer {fresh.key}"})
    assert r.status_code == 200
    forever = await api.service.create_key("woonbron", lifetime=None)
    assert forever.row.expires_at is None


async def test_the_intake_waits_for_a_locked_store_only_briefly(tmp_path, monkeypatch):
    """503 quickly (I6): the intake's store gives up after VANGNET_INTAKE_DB_TIMEOUT (2 s by
    default), not after SQLite's 10 s busy timeout the worker keeps."""
    from starter.service import open_service

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/v.db")
    service, close = await open_service(Settings(), temporal=False)
    try:
        async with service.store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 2000
    finally:
        await close()
