"""Faults under load (issue 15): the rig, the load, the faults and the invariants.

Shared by the short form in tests/faults/test_faults_under_load.py (CI) and the soak in
bench/faults.py. Every part runs as it does in production, each in its own process:

- the Temporal dev server (`temporal server start-dev --db-filename`, SQLite file, per-workflow
  time skipping allowed), killed with SIGKILL and restarted on the same file;
- the worker (`python -m workers`), reaching the server through `TcpProxy` (a TCP proxy of this
  process that can drop or stall the traffic: a network partition), SIGKILLed and replaced;
- the intake (`python -m starter serve`), SIGKILLed mid-request and restarted;
- the case store, a SQLite file that another process can hold locked (BEGIN EXCLUSIVE).

`Load` sends events through the intake as a careful client does (the same event again after no
answer or a 503, until the first 202) and records every answer. `check` then reads every case
and returns the invariants' figures: lost, doubled, missing messages, open cases without a
next deadline, overdue deadlines not fired, non-deterministic replays, 500s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError  # noqa: F401 - re-exported
from temporalio.testing._timeskipping import TimeSkipper, TimeSkippingConfig

from bench import _harness as h

TASK_QUEUE = "faults"
CORPORATION = "woonbron"
_ids = itertools.count(1)


# ---------------------------------------------------------------------------------------------
# A TCP proxy that can partition the network
# ---------------------------------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:port to a target. `partition("drop")` closes every connection and
    refuses new ones (a broken link, RST); `partition("stall")` holds every byte in both
    directions (a black hole: packets vanish, connections stay open); `heal()` ends either."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.mode = "pass"
        self._open = asyncio.Event()
        self._open.set()
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def partition(self, mode: str) -> None:
        assert mode in ("drop", "stall")
        self.mode = mode
        self._open.clear()
        if mode == "drop":
            self._drop_all()

    def heal(self) -> None:
        self.mode = "pass"
        self._open.set()

    def _drop_all(self) -> None:
        for a, b in list(self._conns):
            for w in (a, b):
                with contextlib.suppress(Exception):
                    w.transport.abort()
        self._conns.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_w)
        self._conns.add(pair)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.gather(self._pump(reader, up_w), self._pump(up_r, writer))
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            self._conns.discard(pair)
            for w in pair:
                with contextlib.suppress(Exception):
                    w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self._open.wait()  # a stall holds the bytes here
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.transport.abort()


# ---------------------------------------------------------------------------------------------
# The rig: server, worker, intake, store
# ---------------------------------------------------------------------------------------------


def _pg_url(admin_url: str) -> Any:
    from vangnet.store import normalize_url

    return normalize_url(admin_url)


def _pg_dsn(admin_url: str) -> str:
    return _pg_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def connect(port: int) -> Client:
    from vangnet.temporal_client import project_data_converter

    return await Client.connect(f"127.0.0.1:{port}", data_converter=project_data_converter())


@dataclass
class Rig:
    workdir: Path
    intake_timeout: float = 1.5  # VANGNET_INTAKE_TEMPORAL_TIMEOUT
    server: h.Proc | None = None
    server_port: int = 0
    server_argv: list[str] = field(default_factory=list)
    proxy: TcpProxy | None = None
    worker: h.Proc | None = None
    intake: h.Proc | None = None
    intake_url: str = ""
    client: Client | None = None
    skipper: TimeSkipper | None = None
    key: str = ""
    lock: subprocess.Popen | None = None
    worker_starts: int = 0
    # "sqlite" (a file in workdir) or a PostgreSQL admin URL: then a database of the rig's own,
    # which the worker and the intake reach through `store_proxy` (its outage: refused).
    store: str = "sqlite"
    pg_database: str = ""
    store_proxy: TcpProxy | None = None

    @property
    def db_path(self) -> Path:
        return self.workdir / "vangnet.db"

    @property
    def postgres(self) -> bool:
        return self.store != "sqlite"

    @property
    def direct_url(self) -> str:
        """The store as the test reads it (never through the proxy)."""
        if self.postgres:
            return str(_pg_url(self.store).set(database=self.pg_database)
                       .render_as_string(hide_password=False))
        return f"sqlite+aiosqlite:///{self.db_path}"

    @property
    def db_url(self) -> str:
        """The store as the worker and the intake reach it."""
        if self.postgres:
            assert self.store_proxy is not None
            return str(_pg_url(self.store).set(database=self.pg_database, host="127.0.0.1",
                                               port=self.store_proxy.port)
                       .render_as_string(hide_password=False))
        return self.direct_url

    async def _create_pg_database(self) -> None:
        import uuid

        import asyncpg

        # The prefix of tests/store's throw-away databases: a killed run's is dropped as stale.
        self.pg_database = f"vangnet_test_{int(time.time())}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(_pg_dsn(self.store), timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{self.pg_database}"')
        finally:
            await conn.close()
        self.store_proxy = TcpProxy(_pg_url(self.store).port or 5432)
        await self.store_proxy.start()

    async def _drop_pg_database(self) -> None:
        import asyncpg

        if not self.pg_database:
            return
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(_pg_dsn(self.store), timeout=5)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
            finally:
                await conn.close()

    async def start(self) -> None:
        from vangnet.settings import Settings
        from vangnet.store import Store, apikeys

        if self.postgres:
            await self._create_pg_database()
        self.server_port = h.free_port()
        self.server_argv = h.server_argv(self.server_port, self.workdir / "temporal.db",
                                         log_level="error")
        await self.start_server()
        store = await Store.open(Settings(DATABASE_URL=self.direct_url))
        try:
            self.key, _ = await apikeys.create_key(store.sessions, CORPORATION, "party")
        finally:
            await store.close()
        self.proxy = TcpProxy(self.server_port)
        await self.proxy.start()
        await self.start_worker()
        await self.start_intake()

    async def stop(self) -> None:
        self.unlock_store()
        for proc in (self.intake, self.worker):
            if proc is not None:
                proc.stop(grace=5)
        if self.proxy is not None:
            await self.proxy.close()
        if self.server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server.pid, signal.SIGCONT)
            self.server.stop(grace=5)
        if self.store_proxy is not None:
            await self.store_proxy.close()
        await self._drop_pg_database()

    # -- the server ------------------------------------------------------------------------------

    async def start_server(self) -> None:
        self.server = h.spawn("temporal", self.server_argv, self.workdir / "temporal.log")
        deadline = time.monotonic() + 90
        while True:
            if self.server.popen.poll() is not None:
                raise RuntimeError(f"dev server exited:\n{self.server.tail()}")
            try:
                client = await connect(self.server_port)
                await client.service_client.check_health()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dev server did not come up:\n{self.server.tail()}") from None
                await asyncio.sleep(0.2)
        self.client = client
        self.skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.popen.send_signal(signal.SIGKILL)
        self.server.popen.wait(10)

    # -- the worker ------------------------------------------------------------------------------

    async def start_worker(self) -> None:
        assert self.proxy is not None and self.client is not None
        env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{self.proxy.port}", "TEMPORAL_NAMESPACE": "default",
               "DATABASE_URL": self.db_url, "VANGNET_TASK_QUEUE": TASK_QUEUE,
               "VANGNET_LOG_FORMAT": "json", "VANGNET_SCHEDULES": "false"}
        self.worker_starts += 1
        self.worker = h.spawn("worker", [sys.executable, "-m", "workers"],
                              self.workdir / "worker.log", env)
        await h._wait_for_pollers(self.client, TASK_QUEUE, self.worker)

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.popen.send_signal(signal.SIGKILL)
        self.worker.popen.wait(10)

    # -- the intake ------------------------------------------------------------------------------

    async def start_intake(self) -> None:
        env = {"DATABASE_URL": self.db_url, "TEMPORAL_ADDRESS": f"127.0.0.1:{self.server_port}",
               "TEMPORAL_NAMESPACE": "default", "VANGNET_TASK_QUEUE": TASK_QUEUE,
               "VANGNET_LOG_FORMAT": "json",
               "VANGNET_INTAKE_TEMPORAL_TIMEOUT": str(self.intake_timeout)}
        self.intake, self.intake_url = await h.spawn_intake(self.workdir, env, probe="/livez")

    def kill_intake(self) -> None:
        assert self.intake is not None
        self.intake.popen.send_signal(signal.SIGKILL)
        self.intake.popen.wait(10)

    async def readyz(self) -> int | None:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                return (await http.get(f"{self.intake_url}/readyz")).status_code
        except httpx.HTTPError:
            return None

    # -- the store -------------------------------------------------------------------------------

    def lock_store(self) -> None:
        """SQLite: another process takes the exclusive lock and holds it until `unlock_store`.
        PostgreSQL: every connection to it is cut, and new ones are reset at once."""
        if self.postgres:
            assert self.store_proxy is not None
            self.store_proxy.partition("drop")
            return
        # A busy file can answer "locked" at once, busy handler or not: try again for a minute.
        code = ("import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)\n"
                "for _ in range(600):\n"
                "    try:\n"
                "        c.execute('BEGIN EXCLUSIVE'); break\n"
                "    except sqlite3.OperationalError:\n"
                "        time.sleep(0.1)\n"
                "else:\n"
                "    sys.exit('could not lock the store')\n"
                "print('locked', flush=True); time.sleep(3600)\n")
        self.lock = subprocess.Popen([sys.executable, "-c", code, str(self.db_path)],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.lock.stdout is not None
        assert self.lock.stdout.readline().strip() == b"locked"

    def unlock_store(self) -> None:
        if self.store_proxy is not None:
            self.store_proxy.heal()
        if self.lock is not None:
            self.lock.kill()
            self.lock.wait(10)
            self.lock = None


# ---------------------------------------------------------------------------------------------
# The load: careful clients through the intake
# ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    event_id: str
    case_id: str
    status: int | None  # None: no answer (the intake died, or the connection broke)
    at: float  # monotonic, when the answer came (or the call broke)
    code: str | None = None
    sent: float = 0.0  # monotonic, when the call was made


def opening(ref: str) -> dict[str, Any]:
    # Arrears under a month's rent: R1's notice goes out, R2's early signal falls due in 30 days.
    return {"type": "arrears_reported", "tenancy_ref": ref, "corporation": CORPORATION,
            "municipality": "dordrecht", "event_id": f"fo-{ref}", "arrears_cents": 40_000,
            "monthly_rent_cents": 90_000,
            "arrears_since": (date.today() - timedelta(days=3)).isoformat()}


def payment(ref: str, n: int) -> dict[str, Any]:
    return {"type": "payment_received", "tenancy_ref": ref, "corporation": CORPORATION,
            "municipality": "dordrecht", "event_id": f"fp-{ref}-{n}", "amount_cents": 100,
            "arrears_cents": 40_000 - 100 * n}


def case_id_of(ref: str) -> str:
    return f"case-{CORPORATION}-{ref}"


class Load:
    """Cases opened and fed through the intake by careful clients; every answer is kept."""

    def __init__(self, rig: Rig, *, concurrency: int = 6, give_up_after: float = 240.0,
                 think: float = 0.0) -> None:
        self.rig = rig
        self.think = think  # a client's pause after each of its events (paces a long soak)
        self.concurrency = concurrency
        self.give_up_after = give_up_after
        self.answers: list[Answer] = []
        self.sent: dict[str, str] = {}  # event id -> case id
        self.refs: list[str] = []
        self.not_answered: list[str] = []  # events that never got a 202 (a finding)

    def new_refs(self, n: int, prefix: str) -> list[str]:
        refs = [f"{prefix}-{next(_ids):05d}" for _ in range(n)]
        self.refs += refs
        return refs

    async def post(self, body: dict[str, Any]) -> Answer:
        case_id = case_id_of(body["tenancy_ref"])
        sent = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                r = await http.post(f"{self.rig.intake_url}/v1/events", json=body,
                                    headers={"Authorization": f"Bearer {self.rig.key}"})
        except httpx.HTTPError:
            answer = Answer(body["event_id"], case_id, None, time.monotonic(), sent=sent)
        else:
            code = None
            if r.status_code != 202:
                with contextlib.suppress(Exception):
                    code = r.json()["error"]["code"]
            answer = Answer(body["event_id"], case_id, r.status_code, time.monotonic(), code, sent)
        self.answers.append(answer)
        return answer

    async def until_202(self, body: dict[str, Any]) -> bool:
        self.sent[body["event_id"]] = case_id_of(body["tenancy_ref"])
        deadline = time.monotonic() + self.give_up_after
        pause = 0.2
        while True:
            answer = await self.post(body)
            if answer.status == 202:
                return True
            if answer.status not in (None, 503) or time.monotonic() > deadline:
                self.not_answered.append(body["event_id"])
                return False
            await asyncio.sleep(pause + random.uniform(0, pause))
            pause = min(pause * 1.5, 2.0)

    async def case_story(self, ref: str, payments: int) -> None:
        if await self.until_202(opening(ref)):
            for n in range(1, payments + 1):
                await asyncio.sleep(self.think)
                await self.until_202(payment(ref, n))
        await asyncio.sleep(self.think)

    async def run(self, n_cases: int, prefix: str, payments: int = 2) -> list[str]:
        refs = self.new_refs(n_cases, prefix)
        await h.bounded((self.case_story(r, payments) for r in refs), self.concurrency)
        return refs

    async def run_until(self, stop: asyncio.Event, min_cases: int, prefix: str,
                        payments: int = 2, max_cases: int = 5000) -> list[str]:
        """Keeps `concurrency` clients opening and feeding cases until `stop` is set and at
        least `min_cases` were started (at most `max_cases`): a load that spans every fault."""
        refs: list[str] = []

        async def client() -> None:
            while len(refs) < max_cases and not (stop.is_set() and len(refs) >= min_cases):
                [ref] = self.new_refs(1, prefix)
                refs.append(ref)
                await self.case_story(ref, payments)

        await asyncio.gather(*(client() for _ in range(self.concurrency)))
        return refs

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        """The answers to calls made at `since` or later and answered by `until`."""
        return Counter(a.status for a in self.answers if since <= a.sent and a.at <= until)

    def codes(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        """The same, as "status code" (the error code of a refusal)."""
        return Counter(f"{a.status} {a.code or ''}".strip() for a in self.answers
                       if since <= a.sent and a.at <= until)


class ReadyzWatch:
    """Polls /readyz (and the intake's answers) through an outage window."""

    def __init__(self, rig: Rig, interval: float = 0.3) -> None:
        self.rig = rig
        self.interval = interval
        self.seen: list[tuple[float, int | None]] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        async def loop() -> None:
            while True:
                self.seen.append((time.monotonic(), await self.rig.readyz()))
                await asyncio.sleep(self.interval)
        self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def between(self, t0: float, t1: float) -> Counter:
        return Counter(s for t, s in self.seen if t0 <= t <= t1)


# The invariants and the canary (bench/_fault_checks.py), here for the callers' convenience.
from bench._fault_checks import (  # noqa: E402
    Findings,
    canary,
    check,
    inbox_rows,
    retrying,
    settled,
    wait_settled,
)

__all__ = ["TcpProxy", "Rig", "Load", "Answer", "ReadyzWatch", "Findings", "check", "canary",
           "inbox_rows", "retrying", "settled", "wait_settled", "case_id_of", "opening", "payment",
           "connect", "RPCError", "TASK_QUEUE", "CORPORATION"]
