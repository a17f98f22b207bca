"""Tracing (issue 13): one trace from a party's HTTP call to the activity it caused.

In-process, on the real dev server: the intake app with the FastAPI instrumentation, a Temporal
client with the SDK's TracingInterceptor (from vangnet.tracing, as `connect()` builds it) and the
real worker on that client; spans go to OpenTelemetry's in-memory exporter. The log lines written
inside the request and inside the activity carry the same trace id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from starter.api import create_app
from starter.service import IntakeService
from tests.api.conftest import Api, arrears, event, new_ref
from vangnet import tracing
from vangnet.scenarios import wait_settled
from workers import build_worker

CLIENT_CALLS = ("SignalWithStartWorkflow:", "StartUpdateWithStartWorkflow:", "StartWorkflow:",
                "SignalWorkflow:", "StartWorkflowUpdate:")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


@pytest_asyncio.fixture
async def traced_api(temporal_env, store, task_queue, spans) -> AsyncIterator[Api]:
    # The client as vangnet.temporal_client.connect() builds it when OTEL_* asks for traces.
    client = Client(**{**temporal_env.client.config(), "interceptors": tracing.client_interceptors()})
    service = IntakeService(store, client, task_queue)
    async with build_worker(client, store, task_queue):
        app = create_app(service)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as http:
            yield Api(http, service, store)


def trace_of(exporter: InMemorySpanExporter, trace_id: int) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


def server_span(exporter: InMemorySpanExporter, request_id: str) -> Any:
    """The HTTP server span of the request that carried `request_id`."""
    found = [s for s in exporter.get_finished_spans()
             if s.kind is SpanKind.SERVER and s.attributes.get("vangnet.request_id") == request_id]
    assert len(found) == 1, [(s.name, dict(s.attributes)) for s in exporter.get_finished_spans()
                             if s.kind is SpanKind.SERVER]
    return found[0]


async def test_one_trace_from_the_http_call_to_the_activity_it_caused(traced_api, spans, logs):
    ref = new_ref()
    r = await traced_api.post("/v1/events", "woonbron", json=arrears(ref),
                              headers={"X-Request-ID": "trace-test-open"})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await wait_settled(traced_api.client.get_workflow_handle(case_id))

    http_span = server_span(spans, "trace-test-open")
    assert http_span.parent is None, "the HTTP call starts the trace"
    trace_id = http_span.context.trace_id
    names = [s.name for s in trace_of(spans, trace_id)]
    assert any(n.startswith(CLIENT_CALLS) for n in names), names
    assert "RunWorkflow:TenantCaseWorkflow" in names, names
    assert "StartActivity:tenant_notice_sent" in names, names
    assert "RunActivity:tenant_notice_sent" in names, names
    run_activity = next(s for s in trace_of(spans, trace_id) if s.name == "RunActivity:tenant_notice_sent")
    assert run_activity.attributes.get("temporalWorkflowID") == case_id

    # The request's access line and the activity's delivery line carry the same trace id.
    hex_id = format(trace_id, "032x")
    access = [e for e in logs.events if e.get("event") == "http_request" and e.get("request_id") == "trace-test-open"]
    assert len(access) == 1 and access[0]["trace_id"] == hex_id, access
    delivered = [e for e in logs.events if e.get("event") == "inbox_message_delivered"
                 and e.get("case_id") == case_id and e.get("action") == "tenant_notice_sent"]
    assert delivered and all(e.get("trace_id") == hex_id for e in delivered), delivered


async def test_a_later_event_reaches_its_handler_in_the_case_s_trace_linked_to_the_call(traced_api, spans):
    """A case is one long-running trace (its RunWorkflow span); the handler of a later event is
    recorded there, linked to the HTTP call that sent the event (TracingInterceptor's design)."""
    case_id = await traced_api.open_case()
    r = await traced_api.post("/v1/events", "woonbron", json=event(
        "reminder_sent", case_id.removeprefix("case-woonbron-"), tenant_objects_to_signal=False),
        headers={"X-Request-ID": "trace-test-reminder"})
    assert r.status_code == 202, r.text
    await traced_api.settled(case_id, r.json()["event_id"], source="woonbron")
    call_trace = server_span(spans, "trace-test-reminder").context.trace_id
    names = [s.name for s in trace_of(spans, call_trace)]
    assert any(n.startswith(CLIENT_CALLS) for n in names), names
    handlers = [s for s in spans.get_finished_spans()
                if s.name == "HandleSignal:reminder_sent" or s.name.startswith("HandleUpdate:")]
    linked = [s for s in handlers if any(link.context.trace_id == call_trace for link in s.links)]
    assert len(linked) == 1, [(s.name, [link.context.trace_id for link in s.links]) for s in handlers]
    assert linked[0].attributes.get("temporalWorkflowID") == case_id


async def test_without_otel_settings_there_is_no_tracing(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
                 "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.tracing_requested()
    assert tracing.configure_tracing("vangnet-test") is None
    assert not tracing.enabled() and tracing.client_interceptors() == []
    assert tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                                          "OTEL_SDK_DISABLED": "true"})
    assert not tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                                          "OTEL_TRACES_EXPORTER": "none"})
