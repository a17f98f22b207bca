"""OpenTelemetry tracing for the intake and the worker (issue 13): off unless OTEL_* says so.

One trace runs from a party's HTTP call (the FastAPI instrumentation, starter/observability.py)
through the Temporal client call it makes (signal, signal-with-start or update), into the
workflow task and the activities it schedules (Temporal's `TracingInterceptor`, on every client
`vangnet.temporal_client.connect` builds and so on the worker). Log lines written while a span is
current carry its `trace_id` and `span_id` (`add_trace_context`, in vangnet/logging.py).

Configuration is OpenTelemetry's own environment:

- `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns tracing on and says
  where spans go, over OTLP/HTTP (`http://collector:4318`); `OTEL_EXPORTER_OTLP_HEADERS`,
  `OTEL_EXPORTER_OTLP_CERTIFICATE`, … as documented by OpenTelemetry;
- `OTEL_TRACES_EXPORTER=console` prints spans instead (for a look on a development machine);
  `none`, or `OTEL_SDK_DISABLED=true`, keeps tracing off whatever else is set;
- `OTEL_SERVICE_NAME` (default `vangnet-intake` / `vangnet-worker`), `OTEL_RESOURCE_ATTRIBUTES`,
  `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.

Spans carry ids and codes only (workflow id = case id, activity type, HTTP route); no payloads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

_provider: Any = None  # the TracerProvider in use, when tracing is on


def tracing_requested(env: Mapping[str, str] = os.environ) -> bool:
    """Does the OpenTelemetry environment ask for traces?"""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter in ("otlp", "console"):
        return True
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service_name: str, env: Mapping[str, str] = os.environ) -> Any:
    """Once at process start: a TracerProvider exporting as the environment says, or None (and
    nothing changes) when it asks for no traces. Spans are flushed when the process exits."""
    if not tracing_requested(env):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    use_provider(provider)
    return provider


def use_provider(provider: Any) -> None:
    """Trace with `provider` from now on in this process (None: tracing off). Tests pass one with
    an in-memory exporter; `configure_tracing` passes the configured one."""
    global _provider
    _provider = provider


def provider() -> Any:
    return _provider


def enabled() -> bool:
    return _provider is not None


def client_interceptors() -> list[Any]:
    """Temporal client interceptors: the SDK's TracingInterceptor when tracing is on. On a client
    a worker uses, it traces the workflow tasks and activities too."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("vangnet.temporal"))]


def add_trace_context(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the current span's trace and span ids on the log line."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


__all__ = [
    "tracing_requested",
    "configure_tracing",
    "use_provider",
    "provider",
    "enabled",
    "client_interceptors",
    "add_trace_context",
]
