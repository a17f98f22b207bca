"""Metrics end to end (issue 13): the real worker (`python -m workers`) and the real intake
(`python -m starter serve`) as their own processes, on the real dev server, scraped over HTTP
during a short scenario. Every project series is checked for the value the scenario makes; the
Temporal SDK's own series are present on both; no label value names a tenancy or a case.

The scenario: woonbron opens case A over HTTP (its repeat is a duplicate), poort6 sends an event
for it that it may not send, woonbron sends an event of a type that does not exist (the type
string is a tenancy reference, on purpose), a batch opens case B and carries one bad item,
poort6 opens case C. woonbron's webhook refuses every message for good (410), poort6's answers
503 (retried). Case A's clock moves 21 days: its early-signal deadline fires by its timer with no
reminder recorded, so the case escalates (R2 reminder_missing). woonbron acknowledges one message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from starter.service import IntakeService
from vangnet import metrics
from vangnet.scenarios import wait_settled
from vangnet.settings import Settings
from vangnet.store import Store
from vangnet.store.models import Party
from vangnet.webhooks import new_secret

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0  # two processes starting on two busy cores
SETTLE_TIMEOUT = 90.0
REF_A, REF_B, REF_C = (f"HC-OPS-{uuid.uuid4().hex[:6].upper()}-{n}" for n in "ABC")
HOSTILE_TYPE = f"{REF_A}-BSN-123456782"


def free_port() -> int:
    return metrics.free_loopback_port()


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Scrape:
    samples: list[Sample] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls([Sample(s.name, dict(s.labels), s.value)
                    for family in text_string_to_metric_families(text) for s in family.samples])

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples named `name` whose labels include `labels` (0 when none)."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def families(self) -> set[str]:
        """Series names without the histogram/summary suffixes."""
        out = set()
        for name in self.names():
            for suffix in ("_bucket", "_count", "_sum"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
            out.add(name)
        return out


class Refusing:
    """A party's webhook endpoint (a real local HTTP server) that always answers `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers: dict[str, str] = {}
            await reader.readline()
            while (line := (await reader.readline()).decode().strip()):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests += 1
            writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()


class Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def tail(self, lines: int = 40) -> str:
        self._out.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


async def wait_ready(http: httpx.AsyncClient, url: str, process: Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        if process.proc.poll() is not None:
            raise AssertionError(f"{process.name} exited ({process.proc.returncode}):\n{process.tail()}")
        try:
            if (await http.get(url, timeout=5)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if loop.time() > deadline:
            raise AssertionError(f"{process.name} not ready at {url}:\n{process.tail()}")
        await asyncio.sleep(0.2)


async def until(predicate: Any, what: str, timeout: float = SETTLE_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def arrears(ref: str, corporation: str, municipality: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "arrears_reported", "tenancy_ref": ref, "corporation": corporation,
            "municipality": municipality, "event_id": event_id, "arrears_cents": 85_000,
            "monthly_rent_cents": 85_000,
            "arrears_since": (date.today() - timedelta(days=10)).isoformat(), **extra}


@dataclass
class Outcome:
    intake: Scrape
    worker: Scrape
    responses: dict[str, httpx.Response]
    stages: dict[str, int]
    probes: dict[str, httpx.Response]
    exit_codes: dict[str, int]
    webhook_requests: dict[str, int]


@pytest_asyncio.fixture(scope="module")
async def scenario(temporal_env, tmp_path_factory) -> AsyncIterator[Outcome]:
    tmp = tmp_path_factory.mktemp("ops")
    database_url = f"sqlite+aiosqlite:///{tmp}/vangnet.db"
    task_queue = f"ops-{uuid.uuid4().hex[:10]}"
    store = await Store.open(Settings(DATABASE_URL=database_url))
    refusing, retrying = Refusing(410), Refusing(503)
    servers = [await asyncio.start_server(r.handle, "127.0.0.1", 0) for r in (refusing, retrying)]
    for receiver, server in zip((refusing, retrying), servers, strict=False):
        receiver.port = server.sockets[0].getsockname()[1]
    async with store.sessions() as session, session.begin():
        for code, receiver in (("woonbron", refusing), ("poort6", retrying)):
            await session.execute(sa.update(Party).where(Party.code == code).values(
                webhook_url=f"http://127.0.0.1:{receiver.port}/hook"))
    keys_service = IntakeService(store, temporal_env.client, task_queue)
    keys = {code: (await keys_service.create_key(code)).key for code in ("woonbron", "poort6")}

    api_port, worker_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=temporal_env.client.namespace,
        DATABASE_URL=database_url,
        VANGNET_TASK_QUEUE=task_queue,
        VANGNET_LOG_FORMAT="json",
        VANGNET_API_HOST="127.0.0.1",
        VANGNET_API_PORT=str(api_port),
        VANGNET_WORKER_METRICS_PORT=str(worker_port),
        PYTHONUNBUFFERED="1",
        # The worker's webhook outbox dispatcher (issue 10): loopback receivers, secrets from env.
        VANGNET_WEBHOOK_ALLOW_HTTP_LOOPBACK="true",
        VANGNET_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
        VANGNET_WEBHOOK_SECRET_WOONBRON=new_secret(),
        VANGNET_WEBHOOK_SECRET_POORT6=new_secret(),
    )
    worker = Process("worker", [sys.executable, "-m", "workers"], env, tmp / "worker.log")
    intake = Process("intake", [sys.executable, "-m", "starter", "serve"], env, tmp / "intake.log")
    processes = {"worker": worker, "intake": intake}
    base = f"http://127.0.0.1:{api_port}"
    worker_base = f"http://127.0.0.1:{worker_port}"
    responses: dict[str, httpx.Response] = {}
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await asyncio.gather(wait_ready(http, f"{worker_base}/readyz", worker),
                                 wait_ready(http, f"{base}/readyz", intake))

            def auth(code: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {keys[code]}"}

            async def post(name: str, as_: str, body: Any, path: str = "/v1/events") -> None:
                responses[name] = await http.post(f"{base}{path}", json=body, headers=auth(as_))

            await post("open_a", "woonbron", arrears(REF_A, "woonbron", "dordrecht", "a-1"))
            await post("repeat_a", "woonbron", arrears(REF_A, "woonbron", "dordrecht", "a-1"))
            await post("forbidden", "poort6", {
                "type": "payment_received", "tenancy_ref": REF_A, "corporation": "woonbron",
                "municipality": "dordrecht", "event_id": "p6-1", "amount_cents": 100, "arrears_cents": 0})
            await post("unknown_type", "woonbron", {
                "type": HOSTILE_TYPE, "tenancy_ref": REF_A, "corporation": "woonbron",
                "municipality": "dordrecht", "event_id": "a-x"})
            await post("batch", "woonbron", [
                arrears(REF_B, "woonbron", "dordrecht", "b-1"),
                arrears(REF_B, "woonbron", "dordrecht", "b-2", arrears_cents=-5),
            ], path="/v1/events/batch")
            await post("open_c", "poort6", arrears(REF_C, "poort6", "gorinchem", "c-1"))
            # A path that matches no route, holding a tenancy reference: its route label is `unmatched`.
            responses["unmatched"] = await http.get(f"{base}/{REF_A}/{HOSTILE_TYPE}", headers=auth("woonbron"))

            client = temporal_env.client
            handle_a = client.get_workflow_handle(responses["open_a"].json()["case_id"])
            handle_c = client.get_workflow_handle(responses["open_c"].json()["case_id"])

            async def pushed(receiver: Refusing, n: int) -> bool:
                return receiver.requests >= n

            # A's notice and B's notice are refused (410); C's is retried (503).
            await until(lambda: pushed(refusing, 2), "woonbron's webhook to be tried twice")
            await until(lambda: pushed(retrying, 1), "poort6's webhook to be tried")
            await wait_settled(handle_a, timeout=SETTLE_TIMEOUT)
            await temporal_env.fast_forward(handle_a, timedelta(days=21))

            async def escalated() -> bool:
                timeline = await handle_a.query("timeline")
                return any(t["kind"] == "escalation_raised" for t in timeline)

            await until(escalated, "case A to escalate")
            await wait_settled(handle_a, timeout=SETTLE_TIMEOUT)
            await until(lambda: pushed(refusing, 3), "the escalation's push")
            inbox = (await http.get(f"{base}/v1/inbox?limit=10", headers=auth("woonbron"))).json()
            responses["ack"] = await http.post(f"{base}/v1/inbox/{inbox['messages'][0]['id']}/ack",
                                               headers=auth("woonbron"))
            stages: dict[str, int] = {}
            for case_id, who in ((handle_a.id, "woonbron"), (responses["batch"].json()["results"][0]["case_id"], "woonbron"),
                                 (handle_c.id, "poort6")):
                stage = (await http.get(f"{base}/v1/cases/{case_id}", headers=auth(who))).json()["stage"]
                stages[stage] = stages.get(stage, 0) + 1
            metrics_text = {}
            for name, url in (("intake", f"{base}/metrics"), ("worker", f"{worker_base}/metrics")):
                r = await http.get(url)
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
                metrics_text[name] = r.text
            probes = {
                "intake_livez": await http.get(f"{base}/livez"),
                "intake_readyz": await http.get(f"{base}/readyz"),
                "intake_healthz": await http.get(f"{base}/healthz"),
                "worker_livez": await http.get(f"{worker_base}/livez"),
                "worker_readyz": await http.get(f"{worker_base}/readyz"),
            }
    except BaseException:
        for process in processes.values():
            process.stop(5)
            print(f"--- {process.name} ---\n{process.tail(60)}")
        raise
    finally:
        for server in servers:
            server.close()
        await store.close()
    exit_codes = {name: p.stop() for name, p in processes.items()}
    yield Outcome(Scrape.parse(metrics_text["intake"]), Scrape.parse(metrics_text["worker"]),
                  responses, stages, probes, exit_codes,
                  {"woonbron": refusing.requests, "poort6": retrying.requests})


def code_of(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


async def test_the_intake_counts_events_by_type_party_outcome_and_code(scenario):
    s, r = scenario.intake, scenario.responses
    assert r["open_a"].status_code == 202 and r["open_c"].status_code == 202
    events = "vangnet_intake_events_total"
    assert s.value(events, type="arrears_reported", party="woonbron", outcome="accepted") == 2  # A, B
    assert s.value(events, type="arrears_reported", party="woonbron", outcome="duplicate") == 1
    assert s.value(events, type="arrears_reported", party="poort6", outcome="accepted") == 1
    assert r["forbidden"].status_code in (403, 404)
    assert s.value(events, type="payment_received", party="poort6", outcome="refused",
                   code=code_of(r["forbidden"])) == 1
    assert r["unknown_type"].status_code == 422
    assert s.value(events, type="unknown", party="woonbron", outcome="refused",
                   code=code_of(r["unknown_type"])) == 1
    bad_item = r["batch"].json()["results"][1]
    assert bad_item["status"] == 422
    assert s.value(events, type="arrears_reported", party="woonbron", outcome="refused",
                   code=bad_item["error"]["code"]) == 1
    assert s.value(events) == 7  # every event answered, once


async def test_the_intake_times_its_requests_by_route_template(scenario):
    s = scenario.intake
    count = "vangnet_intake_request_duration_seconds_count"
    assert s.value(count, method="POST", route="/v1/events", status="202") == 3  # A, A again, C
    assert s.value(count, method="POST", route="/v1/events", status="422") == 1
    assert s.value(count, method="POST", route="/v1/events/batch", status="200") == 1
    assert s.value(count, method="GET", route="/v1/cases/{case_id}", status="200") == 3
    assert s.value(count, method="POST", route="/v1/inbox/{message_id}/ack", status="200") == 1
    assert scenario.responses["unmatched"].status_code == 404
    assert s.value(count, method="GET", route="unmatched", status="404") == 1
    assert s.value("vangnet_intake_request_duration_seconds_sum", route="/v1/events") > 0


async def test_the_intake_serves_the_case_store_figures(scenario):
    s = scenario.intake
    assert s.value("vangnet_store_snapshot_up") == 1
    for stage in metrics.STAGES - {"closed"}:
        assert s.value("vangnet_open_cases", stage=stage) == scenario.stages.get(stage, 0), stage
    assert sum(scenario.stages.values()) == 3
    # woonbron: two notices and the escalation, one of them acknowledged; poort6: C's notice.
    assert scenario.responses["ack"].status_code == 200
    assert s.value("vangnet_inbox_unacked_messages", party="woonbron") == 2
    assert s.value("vangnet_inbox_unacked_messages", party="poort6") == 1
    assert s.value("vangnet_inbox_unacked_messages", party="mpzo") == 0  # every party has a series
    assert s.value("vangnet_inbox_oldest_unacked_age_seconds", party="woonbron") > 0
    # woonbron refused all three pushes for good (two still unread); poort6's is being retried.
    assert s.value("vangnet_webhook_pushes_failed", party="woonbron") == 2
    assert s.value("vangnet_webhook_pushes_pending", party="woonbron") == 0
    assert s.value("vangnet_webhook_pushes_pending", party="poort6") == 1
    assert s.value("vangnet_webhook_pushes_failed", party="poort6") == 0


async def test_the_worker_counts_actions_escalations_pushes_and_deadlines(scenario):
    w = scenario.worker
    assert w.value("vangnet_actions_total", action="tenant_notice_sent") == 3
    assert w.value("vangnet_actions_total", action="escalation_raised") == 1
    assert w.value("vangnet_actions_total") == 4
    assert w.value("vangnet_escalations_total", reason="reminder_missing") == 1
    assert w.value("vangnet_escalations_total") == 1
    assert w.value("vangnet_webhook_attempts_total", party="woonbron", result="failed") == 3
    assert scenario.webhook_requests["woonbron"] == 3
    retried = w.value("vangnet_webhook_attempts_total", party="poort6", result="retrying")
    assert 1 <= retried <= scenario.webhook_requests["poort6"]
    # R2: the early signal's deadline fired by its timer, once, close to its due time.
    assert w.value("vangnet_deadlines_fired_total", deadline="early_signal_due", via="timer") == 1
    assert w.value("vangnet_deadlines_fired_total", via="event") == 0
    assert w.value("vangnet_deadline_lateness_seconds_count", deadline="early_signal_due") == 1
    assert w.value("vangnet_deadline_lateness_seconds_sum") < 60
    assert w.value("vangnet_deadline_lateness_seconds_bucket", deadline="early_signal_due", le="+Inf") == 1


async def test_both_processes_export_the_sdk_metrics_and_the_worker_the_documented_ones(scenario):
    assert scenario.worker.value("vangnet_temporal_sdk_metrics_up") == 1
    assert scenario.intake.value("vangnet_temporal_sdk_metrics_up") == 1
    missing = metrics.SDK_METRICS - scenario.worker.families()
    assert not missing, f"the worker does not export {sorted(missing)}"
    assert scenario.intake.value("temporal_request_total") > 0  # the intake's client calls
    # Every series the project documents is on one of the two endpoints.
    exported = scenario.worker.families() | scenario.intake.families()
    assert metrics.PROJECT_METRICS <= exported, sorted(metrics.PROJECT_METRICS - exported)


async def test_no_label_value_names_a_tenancy_or_a_case(scenario):
    """RULES §3: no tenancy reference or case id in a metric label, even when a party sends one
    where a code belongs (the event type of `unknown_type`)."""
    case_ids = {f"case-woonbron-{REF_A}", f"case-woonbron-{REF_B}", f"case-poort6-{REF_C}"}
    forbidden = {REF_A, REF_B, REF_C, HOSTILE_TYPE, *case_ids}
    checked = 0
    for scrape in (scenario.intake, scenario.worker):
        for sample in scrape.samples:
            for name, value in sample.labels.items():
                checked += 1
                assert not any(f.lower() in value.lower() for f in forbidden), (sample.name, name, value)
                assert "case-" not in value, (sample.name, name, value)
                assert "HC-OPS" not in value.upper(), (sample.name, name, value)
    assert checked > 500  # the scrapes were not empty


async def test_probes_answer_and_both_processes_stop_cleanly(scenario):
    p = scenario.probes
    assert p["intake_livez"].json() == {"status": "ok"}
    assert p["intake_readyz"].status_code == 200 == p["intake_healthz"].status_code
    assert p["intake_readyz"].json() == p["intake_healthz"].json() == {
        "status": "ok", "temporal": "ok", "database": "ok"}
    assert p["worker_livez"].json() == {"status": "ok"}
    assert p["worker_readyz"].json() == {"status": "ok", "worker": "running", "temporal": "ok",
                                         "database": "ok"}
    assert scenario.exit_codes["worker"] == 0
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to itself.
    assert scenario.exit_codes["intake"] in (0, -signal.SIGTERM)
