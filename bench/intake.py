"""The intake HTTP API (RULES §10) as the benchmarks drive it: `python -m starter serve` in its own
process on a free port, sharing the worker's case store, and one API key for the corporation."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _harness as h


def available() -> bool:
    return (h.ROOT / "starter" / "api.py").exists()


@dataclass
class Intake:
    proc: h.Proc
    url: str
    key: str

    @property
    def pid(self) -> int:
        return self.proc.pid


def _env(server: h.Server, worker: h.WorkerProc, port: int) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": "default",
        "VANGNET_TASK_QUEUE": worker.task_queue,
        "DATABASE_URL": worker.database_url or "",
        "VANGNET_API_HOST": "127.0.0.1",
        "VANGNET_API_PORT": str(port),
        **h.codec_env(worker.codec),  # the worker's payload codec
    }


def create_key(env: dict[str, str], party: str, workdir: Path) -> str:
    import os
    import subprocess

    out = subprocess.run(
        [h.PYTHON, "-m", "starter", "keys", "create", party], cwd=h.ROOT,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"`starter keys create {party}` failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1].strip()


@contextlib.asynccontextmanager
async def intake(server: h.Server, worker: h.WorkerProc, workdir: Path,
                 party: str = "woonbron") -> AsyncIterator[Intake]:
    import httpx

    port = h.free_port()
    env = _env(server, worker, port)
    key = create_key(env, party, workdir)
    proc = h.spawn("intake", [h.PYTHON, "-m", "starter", "serve"], workdir / "intake.log", env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"intake exited:\n{proc.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"intake did not become healthy:\n{proc.tail()}")
                await __import__("asyncio").sleep(0.3)
        yield Intake(proc, url, key)
    finally:
        proc.stop()


async def post_batches(intake_: Intake, events: list[dict[str, Any]], batch_size: int,
                       concurrency: int) -> dict[str, int]:
    """POST /v1/events/batch in chunks; returns the count of item statuses."""
    import asyncio

    import httpx

    statuses: dict[str, int] = {}
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {intake_.key}"}

    async with httpx.AsyncClient(timeout=600, headers=headers) as http:
        async def one(chunk: list[dict[str, Any]]) -> None:
            async with sem:
                resp = await http.post(f"{intake_.url}/v1/events/batch", json=chunk)
                if resp.status_code != 200:
                    raise RuntimeError(f"batch rejected: {resp.status_code} {resp.text[:500]}")
                body = resp.json()
                for item in (body["results"] if isinstance(body, dict) else body):
                    s = str(item.get("status"))
                    statuses[s] = statuses.get(s, 0) + 1

        await asyncio.gather(*(one(events[i:i + batch_size])
                               for i in range(0, len(events), batch_size)))
    return statuses


async def post_one(http: Any, intake_: Intake, event: dict[str, Any]) -> Any:
    resp = await http.post(f"{intake_.url}/v1/events", json=event,
                           headers={"Authorization": f"Bearer {intake_.key}"})
    if resp.status_code not in (200, 202):
        raise RuntimeError(f"event rejected: {resp.status_code} {resp.text[:300]}")
    return resp.json()
