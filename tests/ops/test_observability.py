"""The intake's and the worker's operations side, in process (issue 13): request ids, the access
log, probes, /metrics, label vocabularies, the case-store figures, the worker's port, and
workflow metrics that stay silent on replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.worker import Replayer

from starter.api import create_app
from starter.observability import request_id_from
from starter.service import IntakeService
from tests.api.conftest import arrears, new_ref
from tests.histories import HISTORIES
from vangnet import metrics
from vangnet.audit import read_history_file
from vangnet.settings import Settings
from vangnet.store.inbox import (
    PUSH_DELIVERED,
    PUSH_FAILED,
    PUSH_RETRYING,
    NewMessage,
    ack,
    deliver_in,
    mark_push_pending,
    record_push,
)
from vangnet.store.models import CaseRecord, InboxMessage
from vangnet.store.operations import operations_snapshot
from vangnet.temporal_client import project_data_converter
from workers.observability import WorkerProbe, listen, serving
from workflows import TenantCaseWorkflow


def samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


# -- request ids and the access log ------------------------------------------------------------


def test_a_sane_request_id_is_kept_anything_else_replaced():
    assert request_id_from("abc-123._:X") == "abc-123._:X"
    for bad in (None, "", "a" * 129, "has space", "new\nline", "<script>", "ünï"):
        made = request_id_from(bad)
        assert made != bad and len(made) == 32 and int(made, 16) >= 0


async def test_every_response_echoes_its_request_id(api):
    r = await api.http.get("/livez", headers={"X-Request-ID": "ops-1"})
    assert r.headers["X-Request-ID"] == "ops-1"
    r = await api.http.get("/v1/inbox")  # 401: errors carry it too
    assert r.status_code == 401 and len(r.headers["X-Request-ID"]) == 32
    r = await api.http.get("/nowhere", headers={"X-Request-ID": "bad id with spaces"})
    assert r.status_code == 404 and r.headers["X-Request-ID"] != "bad id with spaces"


async def test_one_access_line_per_request_with_its_request_id(api, logs):
    ref = new_ref()
    r = await api.post("/v1/events?debug=1", "woonbron", json=arrears(ref),
                       headers={"X-Request-ID": "ops-access-1"})
    assert r.status_code == 202
    await api.http.get("/livez", headers={"X-Request-ID": "ops-access-2"})
    lines = [e for e in logs.events if e.get("event") == "http_request"]
    mine = [e for e in lines if e.get("request_id") == "ops-access-1"]
    assert len(mine) == 1, lines
    line = mine[0]
    assert line["_level"] == "INFO" and line["logger"] == "vangnet.access"
    assert (line["method"], line["route"], line["path"], line["status"], line["party"]) == (
        "POST", "/v1/events", "/v1/events", 202, "woonbron")
    assert line["duration_ms"] > 0
    assert "debug=1" not in str(line) and "Bearer" not in str(line)  # no query string, no headers
    # Every other line the request wrote carries the same request id.
    during = [e for e in logs.events if e.get("request_id") == "ops-access-1"]
    assert len(during) >= 1 and all(e["request_id"] == "ops-access-1" for e in during)
    probe = [e for e in lines if e.get("request_id") == "ops-access-2"]
    assert len(probe) == 1 and probe[0]["_level"] == "DEBUG"  # probes are quiet when fine


# -- probes and /metrics -------------------------------------------------------------------------


async def test_livez_readyz_and_healthz(api):
    assert (await api.http.get("/livez")).json() == {"status": "ok"}
    ready, health = await api.http.get("/readyz"), await api.http.get("/healthz")
    assert ready.status_code == health.status_code == 200
    assert ready.json() == health.json() == {"status": "ok", "temporal": "ok", "database": "ok"}
    doc = (await api.http.get("/openapi.json")).json()
    assert {"/livez", "/readyz", "/healthz"} <= set(doc["paths"])
    assert "/metrics" not in doc["paths"]


async def test_readyz_says_503_and_which_part_is_down(store, task_queue):
    dead = await Client.connect("127.0.0.1:1", lazy=True, data_converter=pydantic_data_converter)
    app = create_app(IntakeService(store, dead, task_queue))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as http:
        assert (await http.get("/livez")).status_code == 200  # alive all the same
        for path in ("/readyz", "/healthz"):
            r = await http.get(path)
            assert r.status_code == 503, path
            body = r.json()
            assert body["status"] == "unavailable" and body["database"] == "ok"
            assert body["temporal"].startswith("unavailable")


async def test_metrics_endpoint_serves_the_intake_series(api):
    ref = new_ref()
    before = metrics.INTAKE_EVENTS.labels("arrears_reported", "woonbron", "accepted", "none")._value.get()
    assert (await api.post("/v1/events", "woonbron", json=arrears(ref))).status_code == 202
    r = await api.http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples(r.text)}
    key = ("vangnet_intake_events_total", (("code", "none"), ("outcome", "accepted"),
                                           ("party", "woonbron"), ("type", "arrears_reported")))
    assert found[key] == before + 1
    names = {name for name, _ in found}
    assert {"vangnet_store_snapshot_up", "vangnet_open_cases", "vangnet_inbox_unacked_messages",
            "vangnet_intake_request_duration_seconds_count"} <= names
    assert not any(name.endswith("_created") for name in names)


# -- labels: codes only ---------------------------------------------------------------------------


def test_label_values_are_codes_from_closed_vocabularies():
    assert metrics.event_type_label("arrears_reported") == "arrears_reported"
    assert metrics.event_type_label("progress_reported") == "progress_reported"  # RULES §11 A1
    for hostile in ("HC-2026-0042", "case-woonbron-HC-2026-0042", "arrears_reported ", None, 7,
                    "j.de.vries", "a" * 70):
        assert metrics.event_type_label(hostile) == "unknown"
        assert metrics.label(hostile) == "other"
    assert metrics.party_label("sociale-wijkteams-dordrecht") == "sociale-wijkteams-dordrecht"
    assert metrics.party_label("HC-2026-0042") == "other"
    assert metrics.label("case_stalled", metrics.ESCALATION_REASONS) == "case_stalled"
    assert metrics.label("some_new_reason", metrics.ESCALATION_REASONS) == "other"
    assert {"case_stalled", "mpzo_plan_overdue", "eviction_outcome_unknown", "moratorium_ended",
            "moratorium_breached"} <= metrics.ESCALATION_REASONS  # RULES §11
    assert {"tenant_notice_sent", "referral_forwarded"} <= metrics.ACTION_NAMES


# -- the case-store figures -----------------------------------------------------------------------


async def test_operations_snapshot_counts_stages_backlog_and_pushes(store):
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=2)
    async with store.sessions() as session, session.begin():
        for i, (stage, closed) in enumerate([("arrears", False), ("arrears", False), ("crisis", False),
                                             ("closed", True)]):
            session.add(CaseRecord(case_id=f"case-rhiant-T{i}", run_id="r", corporation="rhiant",
                                   municipality="dordrecht", stage=stage, track="spoor_1",
                                   opened_at=now, closed_at=now if closed else None, updated_at=now))
        msgs = await deliver_in(session, [
            NewMessage("rhiant", f"k{i}", f"case-rhiant-T{i}", "tenant_notice_sent") for i in range(6)
        ], now=now)
        old = await deliver_in(session, [NewMessage("rhiant", "k-old", "case-rhiant-T0", "tenant_notice_sent")],
                               now=long_ago)
        await deliver_in(session, [NewMessage("mpzo", "k-m", "case-rhiant-T0", "mpzo_notified")], now=now)
        await mark_push_pending(session, [m.message_id for m in msgs + old])
    ids = [m.message_id for m in msgs]
    await record_push(store.sessions, ids[0], PUSH_DELIVERED)
    await record_push(store.sessions, ids[1], PUSH_RETRYING)
    await record_push(store.sessions, ids[2], PUSH_FAILED)
    await record_push(store.sessions, ids[3], PUSH_FAILED)
    await ack(store.sessions, "rhiant", ids[3])  # failed, but the party read it in its inbox
    # ids[4], ids[5] pending; the old message pending for more than a day: given up.
    await record_push(store.sessions, ids[0], PUSH_RETRYING)  # a late retry report: stays delivered

    snap = await operations_snapshot(store.sessions, give_up_after=timedelta(days=1), now=now)
    assert snap.open_cases["arrears"] == 2 and snap.open_cases["crisis"] == 1
    assert snap.open_cases["debt_help"] == 0 and "closed" not in snap.open_cases
    assert snap.inbox_unacked["rhiant"] == 6 and snap.inbox_unacked["mpzo"] == 1
    assert snap.inbox_unacked["woonbron"] == 0  # every registry party has a figure
    assert snap.inbox_oldest_age["rhiant"] == pytest.approx(2 * 86400, abs=5)
    assert snap.pushes_pending == {"rhiant": 3}  # ids[1] retrying, ids[4], ids[5]
    assert snap.pushes_failed == {"rhiant": 2}  # ids[2] refused, the old one given up
    async with store.sessions() as session:
        row = await session.get(InboxMessage, ids[0])
    assert row.push_state == PUSH_DELIVERED and row.push_attempts == 1


def test_store_collector_reports_a_failed_read():
    collector = metrics.StoreCollector()
    collector.update(None, ok=False)
    families = {f.name: f for f in collector.collect()}
    assert families["vangnet_store_snapshot_up"].samples[0].value == 0
    assert "vangnet_open_cases" not in families


# -- the worker's port ----------------------------------------------------------------------------


async def test_worker_serves_metrics_livez_and_readyz(temporal_env, store, worker):
    port = metrics.free_loopback_port()
    settings = Settings(VANGNET_WORKER_METRICS_PORT=str(port))
    probe = WorkerProbe(temporal_env.client, store, worker)
    base = f"http://127.0.0.1:{port}"
    async with serving(settings, probe), httpx.AsyncClient(timeout=10) as http:
        for _ in range(100):  # the server starts in the background
            try:
                await http.get(f"{base}/livez")
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        assert (await http.get(f"{base}/livez")).json() == {"status": "ok"}
        r = await http.get(f"{base}/readyz")
        assert r.status_code == 503 and r.json()["worker"] == "stopped"  # not marked running yet
        probe.running = True
        r = await http.get(f"{base}/readyz")
        assert r.status_code == 200, r.json()
        assert r.json() == {"status": "ok", "worker": "running", "temporal": "ok", "database": "ok"}
        m = await http.get(f"{base}/metrics")
        assert m.status_code == 200 and "vangnet_actions_total" in m.text
        with pytest.raises(OSError, match="VANGNET_WORKER_METRICS_PORT"):
            listen("127.0.0.1", port)  # a busy port is a clear error


async def test_no_port_no_server():
    async with serving(Settings(), WorkerProbe(None, None)):
        pass  # nothing to bind, nothing to stop


# -- workflow metrics are not recorded on replay --------------------------------------------------


async def test_replaying_a_history_records_no_deadline_metrics():
    path = HISTORIES / "reminder_missing.json"
    text = path.read_text(encoding="utf-8")
    assert "EVENT_TYPE_TIMER_FIRED" in text  # a deadline fired by its timer in this history
    buffer = MetricBuffer(10_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    replayer = Replayer(workflows=[TenantCaseWorkflow], data_converter=project_data_converter(read_only=True),
                        runtime=runtime)
    await replayer.replay_workflow(WorkflowHistory.from_json(read_history_file(path).case_id, text))
    names = {u.metric.name for u in buffer.retrieve_updates()}
    assert not names & {metrics.DEADLINES_FIRED, metrics.DEADLINE_LATENESS}, names


def test_deadline_metrics_record_kind_via_and_lateness():
    class Meter:
        def __init__(self) -> None:
            self.recorded: list[tuple[str, float, dict[str, str]]] = []

        def create_counter(self, name: str, *_: Any) -> Any:
            return Instrument(self, name)

        def create_histogram_float(self, name: str, *_: Any) -> Any:
            return Instrument(self, name)

    class Instrument:
        def __init__(self, meter: Meter, name: str) -> None:
            self.meter, self.name = meter, name

        def add(self, value: float, attrs: dict[str, str]) -> None:
            self.meter.recorded.append((self.name, value, attrs))

        record = add

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    meter = Meter()
    metrics.record_deadlines_fired(meter, [("early_signal_due", now - timedelta(seconds=3))], now)
    metrics.record_deadlines_fired(meter, [("help_plan_deadline", now - timedelta(days=9))], now, "event")
    metrics.record_deadlines_fired(meter, [], now)
    assert meter.recorded == [
        ("vangnet_deadlines_fired", 1, {"deadline": "early_signal_due", "via": "timer"}),
        ("vangnet_deadline_lateness", 3.0, {"deadline": "early_signal_due"}),
        ("vangnet_deadlines_fired", 1, {"deadline": "help_plan_deadline", "via": "event"}),
    ]
