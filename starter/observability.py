"""The intake's operations side (issue 13): probes, `/metrics`, request ids, the access log, event
counters and tracing. `create_app()` calls `install(app)`; `python -m starter serve` calls
`setup_process()` once before it builds the app.

- `GET /livez`: the process answers (no dependency checked): restart it when this fails.
- `GET /readyz`: Temporal and the case store answer (200, or 503 with the one that does not);
  `GET /healthz` (RULES §10) answers the same, body and status.
- `GET /metrics`: Prometheus text: the intake's own series, the case-store figures (refreshed at
  most every 10 s) and the Temporal SDK's metrics of the intake's client (vangnet/metrics.py).
  No key needed: keep it off the public side of the reverse proxy (deploy/caddy/Caddyfile).
- Every request gets an id: a sane incoming `X-Request-ID` (1–128 of `A-Za-z0-9._:-`) is kept,
  otherwise a new one is made; the response echoes it, and every log line written while the
  request runs carries it as `request_id`. One `http_request` line per request (method, route,
  path, status, duration, party, client address; never the query string, headers or body);
  probes and /metrics log at DEBUG when they succeed.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter as Tally
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.schemas import Health
from starter.service import IntakeError
from vangnet import metrics, tracing

log = structlog.get_logger("vangnet.intake")
access_log = structlog.get_logger("vangnet.access")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
QUIET_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
UNMATCHED = "unmatched"
_METHOD = re.compile(r"^[A-Z]{1,10}$")


def request_id_from(value: str | None) -> str:
    """The caller's X-Request-ID when it is sane, else a new one (32 hex digits)."""
    if value and _REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class RequestMiddleware:
    """Request id, access log line and `vangnet_intake_request_duration_seconds` (pure ASGI, so
    it runs inside the OpenTelemetry server span and its log line carries the trace id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(_header(scope, b"x-request-id"))
        span = trace.get_current_span()
        if span.is_recording():  # the request's server span: findable by the request id
            span.set_attribute("vangnet.request_id", rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._done(scope, status, time.perf_counter() - started)

    @staticmethod
    def _done(scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope.get("method", "")
        metrics.INTAKE_REQUEST_DURATION.labels(
            metrics.label(method, pattern=_METHOD), route, str(status)
        ).observe(seconds)
        path = scope.get("path", "")
        principal = scope.get("state", {}).get("principal")
        client = scope.get("client")
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "party": getattr(principal, "label", None),
            "client": client[0] if client else None,
        }
        quiet = path in QUIET_PATHS and status < 400
        (access_log.debug if quiet else access_log.info)("http_request", **fields)


# ---------------------------------------------------------------------------------------------
# Probes and /metrics
# ---------------------------------------------------------------------------------------------

router = APIRouter()
_snapshot_lock = asyncio.Lock()


@router.get("/livez", operation_id="getLiveness", summary="Liveness: the intake process answers", tags=["operations"],
            responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="getReadiness", response_model=Health, tags=["operations"],
            summary="Readiness: Temporal and the case store answer (also at /healthz)",
            responses={503: {"model": Health}})
async def readyz(request: Request) -> Any:
    result = await request.app.state.service.health()
    return JSONResponse(result, status_code=200 if result["status"] == "ok" else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    service = getattr(request.app.state, "service", None)
    if service is not None:
        await refresh_store_figures(service.store)
    body = await asyncio.to_thread(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def refresh_store_figures(store: Any, *, force: bool = False) -> None:
    """Read the case-store figures again when they are older than the collector's max age."""
    collector = metrics.STORE_COLLECTOR
    if not (force or collector.stale()):
        return
    async with _snapshot_lock:
        if not (force or collector.stale()):
            return
        from vangnet.store.operations import operations_snapshot
        from workflows.case import WEBHOOK_GIVE_UP

        try:
            snapshot = await asyncio.wait_for(
                operations_snapshot(store.sessions, give_up_after=WEBHOOK_GIVE_UP), timeout=5
            )
        except Exception as err:  # reported as vangnet_store_snapshot_up 0
            log.warning("metrics_store_snapshot_failed", error=type(err).__name__)
            collector.update(None, ok=False)
            return
        collector.update(snapshot)


# ---------------------------------------------------------------------------------------------
# Events accepted and refused
# ---------------------------------------------------------------------------------------------


def _type_of(item: Any) -> Any:
    return item.get("type") if isinstance(item, dict) else None


def instrument_service(service: Any) -> None:
    """Count every event the service answers (`vangnet_intake_events_total`) by wrapping its
    `submit` and `submit_batch` on this instance; the service itself is left as it is."""
    if getattr(service, "_vangnet_counted", False):
        return
    submit, submit_batch = service.submit, service.submit_batch

    async def counted_submit(p: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        kind = _type_of(body)
        try:
            out = await submit(p, body, *args, **kwargs)
        except IntakeError as err:
            metrics.count_event(kind, p.label, "refused", err.code)
            raise
        except Exception:
            metrics.count_event(kind, p.label, "refused", "internal_error")
            raise
        metrics.count_event(kind, p.label, "duplicate" if out.duplicate else "accepted")
        return out

    async def counted_batch(p: Any, items: list[Any], *args: Any, **kwargs: Any) -> Any:
        try:
            results = await submit_batch(p, items, *args, **kwargs)
        except IntakeError as err:  # the batch as a whole (too large): every item refused
            _count_many(Tally((_type_of(i), "refused", err.code) for i in items), p)
            raise
        tally: Tally[tuple[Any, str, str]] = Tally()
        for r in results:
            i = r.get("index")
            kind = _type_of(items[i]) if isinstance(i, int) and 0 <= i < len(items) else None
            if r.get("status") == 202:
                tally[(kind, "duplicate" if r.get("duplicate") else "accepted", metrics.NONE)] += 1
            else:
                tally[(kind, "refused", (r.get("error") or {}).get("code", "other"))] += 1
        _count_many(tally, p)
        return results

    service.submit = counted_submit
    service.submit_batch = counted_batch
    service._vangnet_counted = True


def _count_many(tally: Tally[tuple[Any, str, str]], p: Any) -> None:
    for (kind, outcome, code), n in tally.items():
        metrics.INTAKE_EVENTS.labels(metrics.event_type_label(kind), metrics.party_label(p.label),
                                     outcome, metrics.label(code)).inc(n)


# ---------------------------------------------------------------------------------------------
# Wiring
# ---------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Probes, /metrics, request ids, the access log and event counters on the intake app; the
    FastAPI instrumentation when tracing is on (vangnet/tracing.py)."""
    app.add_middleware(RequestMiddleware)
    app.include_router(router)
    metrics.register("store", metrics.STORE_COLLECTOR)
    if tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=tracing.provider(),
                                           excluded_urls="livez,readyz,healthz,metrics")
    service = getattr(app.state, "service", None)
    if service is not None:
        instrument_service(service)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            if getattr(a.state, "service", None) is not None:
                instrument_service(a.state.service)
            yield state

    app.router.lifespan_context = lifespan


def setup_process() -> None:
    """Once per intake process, before the app connects to Temporal: tracing from OTEL_*, and the
    Temporal SDK's metrics of the intake's client on /metrics."""
    tracing.configure_tracing("vangnet-intake")
    metrics.install_sdk_metrics()


__all__ = ["install", "setup_process", "instrument_service", "request_id_from", "RequestMiddleware",
           "REQUEST_ID_HEADER"]
