"""The worker's operations side (issue 13): /metrics, /livez and /readyz on one small HTTP port.

With `VANGNET_WORKER_METRICS_PORT` set, `python -m workers` serves on
`VANGNET_WORKER_METRICS_HOST` (default 127.0.0.1; 0.0.0.0 in a container):

- `GET /metrics`: Prometheus text: the actions, escalations and webhook attempts this process
  delivered, the deadlines its workflows fired and their lateness, and the Temporal SDK's own
  worker metrics (task latencies, slots, sticky cache, polls) — vangnet/metrics.py;
- `GET /livez`: the process answers;
- `GET /readyz`: the worker is polling its task queue and Temporal and the case store answer
  (200 `{"status": "ok", "worker": "running", "temporal": "ok", "database": "ok"}`, else 503).

Unset, the worker serves nothing and exports no SDK metrics (as before). Tracing follows the
OTEL_* environment either way (vangnet/tracing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vangnet import metrics, tracing
from vangnet.settings import Settings

log = structlog.get_logger("vangnet.worker")

CHECK_TIMEOUT = 3.0


class WorkerProbe:
    """What /readyz reports: `running` is set while the worker should poll; the Worker's own
    `is_running` says whether it still does (a worker whose polling failed is not ready)."""

    def __init__(self, client: Any, store: Any, worker: Any = None) -> None:
        self.client = client
        self.store = store
        self.worker = worker
        self.running = False

    async def readiness(self) -> dict[str, str]:
        async def check(coro: Any) -> str:
            try:
                await asyncio.wait_for(coro, timeout=CHECK_TIMEOUT)
                return "ok"
            except Exception as err:  # reported, not raised
                return f"unavailable: {type(err).__name__}"

        temporal, database = await asyncio.gather(
            check(self.client.service_client.check_health()), check(self.store.ping())
        )
        polling = self.running and (self.worker is None or self.worker.is_running)
        worker = "running" if polling else "stopped"
        ok = polling and temporal == "ok" and database == "ok"
        return {"status": "ok" if ok else "unavailable", "worker": worker,
                "temporal": temporal, "database": database}

    def app(self) -> Starlette:
        async def livez(_request: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        async def readyz(_request: Request) -> JSONResponse:
            result = await self.readiness()
            return JSONResponse(result, status_code=200 if result["status"] == "ok" else 503)

        async def metrics_endpoint(_request: Request) -> Response:
            body = await asyncio.to_thread(metrics.exposition)
            return Response(body, media_type=metrics.CONTENT_TYPE)

        return Starlette(routes=[
            Route("/livez", livez), Route("/readyz", readyz), Route("/metrics", metrics_endpoint),
        ])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The worker handles SIGINT/SIGTERM itself (graceful shutdown): uvicorn must not.
        yield


def setup_process(settings: Settings) -> None:
    """Once per worker process, before it connects to Temporal: tracing from OTEL_*, and the
    Temporal SDK's metrics when the worker serves metrics."""
    tracing.configure_tracing("vangnet-worker")
    if settings.worker_metrics_port:
        metrics.install_sdk_metrics()


def listen(host: str, port: int) -> socket.socket:
    """The metrics socket, bound now so that a busy port stops the worker with a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} for the worker's metrics "
                      f"(VANGNET_WORKER_METRICS_PORT): {err.strerror or err}") from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serving(settings: Settings, probe: WorkerProbe) -> AsyncIterator[None]:
    """Serve /metrics, /livez and /readyz while the block runs (nothing when no port is set)."""
    port = settings.worker_metrics_port
    if not port:
        yield
        return
    sock = listen(settings.worker_metrics_host, port)
    server = _Server(uvicorn.Config(probe.app(), log_config=None, access_log=False, lifespan="off",
                                    server_header=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("worker_metrics_serving", host=settings.worker_metrics_host, port=port)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
        sock.close()


__all__ = ["WorkerProbe", "setup_process", "serving", "listen"]
