"""The Temporal dev server and the processes of `python3 dev.py run`, in one place for dev.py,
the tests (tests/conftest.py) and the benchmarks (bench/_harness.py).

- `start_dev_args(...)`: the arguments of `temporal server start-dev` (time skipping enabled, our
  search attributes, SQLite in WAL mode when it has a file);
- `environment_args()` / `start_test_environment(...)`: the same for the SDK's
  `WorkflowEnvironment.start_time_skipping_v2`, which picks its own ports;
- `Supervisor`, `Child`: dev.py's supervised child processes (stop all when one dies).

Standard library only at import time: dev.py imports this with a bare python3, before the venv
exists (temporalio is imported inside the functions that need it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIME_SKIPPING_FLAGS = ("--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true")
WAL_FLAGS = ("--sqlite-pragma", "journal_mode=WAL")
STOP_GRACE_SECONDS = 15.0


def say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` for every key of vangnet/search_attributes.py (needs the venv)."""
    from vangnet.search_attributes import dev_server_flags

    return dev_server_flags()


def free_port() -> int:
    """A TCP port nothing listens on on 127.0.0.1 (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dev_args(*, port: int, ui_port: int | None = None, headless: bool = False,
                   db_file: Path | None = None, wal: bool = True, log_level: str = "warn",
                   ip: str = "127.0.0.1", news_flag: bool = False, codec_endpoint: str | None = None,
                   search_attributes: Sequence[str] = ()) -> list[str]:
    """The arguments after `temporal server start-dev`. No `db_file`: in-memory SQLite."""
    args = ["--ip", ip, "--port", str(port)]
    args += ["--headless"] if headless else []
    args += ["--ui-port", str(ui_port)] if ui_port is not None and not headless else []
    args += ["--log-level", log_level, *TIME_SKIPPING_FLAGS]
    if db_file is not None:
        args += ["--db-filename", str(db_file), *(WAL_FLAGS if wal else ())]
    if news_flag:
        args.append("--ui-disable-news-fetch")
    if codec_endpoint:
        args += ["--ui-codec-endpoint", codec_endpoint]
    return args + list(search_attributes)


def environment_args(log_level: str = "error") -> list[str]:
    """`dev_server_extra_args` for `WorkflowEnvironment.start_time_skipping_v2`."""
    return [*TIME_SKIPPING_FLAGS, "--log-level", log_level, *search_attribute_flags()]


async def start_test_environment(temporal: str, *, data_converter: Any = None, log_level: str = "error") -> Any:
    """A dev server for tests: per-workflow time skipping, off by default (tests move a case's
    clock with `env.fast_forward(handle, duration)`), our search attributes registered."""
    from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

    kwargs = {"data_converter": data_converter} if data_converter is not None else {}
    return await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=temporal,
        dev_server_extra_args=environment_args(log_level),
        **kwargs,
    )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False



def _parent_death_hook():
    """Linux: a preexec hook that has the kernel SIGTERM the child if dev.py dies uncleanly.

    libc is loaded here, in the parent, so the hook itself only makes one call after fork.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    sigterm = int(signal.SIGTERM)

    def hook() -> None:
        prctl(1, sigterm)  # PR_SET_PDEATHSIG

    return hook


_DIE_WITH_PARENT = _parent_death_hook()


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path | None):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = (log_dir / f"{name}.log") if log_dir else None
        self.proc: subprocess.Popen | None = None
        self._pump: threading.Thread | None = None
        # Once shutting down, output goes to the log file only (shutdown chatter is noise).
        self.quiet = False

    def start(self, prefix_width: int) -> None:
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Own process group: the terminal's Ctrl-C reaches only dev.py, which then stops the
            # children in order (intake and worker before the server they talk to).
            start_new_session=(os.name != "nt"),
            preexec_fn=_DIE_WITH_PARENT,
        )
        self._pump = threading.Thread(target=self._copy_output, args=(prefix_width,), daemon=True)
        self._pump.start()

    def _copy_output(self, width: int) -> None:
        assert self.proc and self.proc.stdout
        log = open(self.log_path, "ab") if self.log_path else None
        if log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"===== {stamp} dev.py started: {' '.join(self.argv)}\n".encode())
        prefix = f"{self.name:<{width}} | ".encode()
        try:
            for line in iter(self.proc.stdout.readline, b""):
                if log:
                    log.write(line)
                    log.flush()
                if self.quiet:
                    continue
                try:
                    sys.stdout.buffer.write(prefix + line)
                    sys.stdout.buffer.flush()
                except (OSError, ValueError):
                    pass
        finally:
            if log:
                log.close()

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def signal(self, sig: int) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            if os.name != "nt":
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def flush_output(self, timeout: float = 2.0) -> None:
        if self._pump:
            self._pump.join(timeout)


class Supervisor:
    """Runs children; stops all of them on SIGINT/SIGTERM or when one of them dies."""

    def __init__(self, log_dir: Path | None = None, grace: float = STOP_GRACE_SECONDS):
        self.children: list[Child] = []
        self.log_dir = log_dir
        self.grace = grace
        self.stop_signal: int | None = None
        self._signals = 0

    # signals -----------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame) -> None:
        self._signals += 1
        if self.stop_signal is None:
            self.stop_signal = signum
        if self._signals >= 2:
            # A second Ctrl-C: do not wait for graceful shutdown.
            for child in self.children:
                child.signal(signal.SIGKILL if os.name != "nt" else signal.SIGTERM)

    # children ----------------------------------------------------------------
    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.log_dir)
        self.children.append(child)
        child.start(prefix_width=9)
        return child

    def dead_child(self) -> tuple[Child, int] | None:
        for child in self.children:
            code = child.poll()
            if code is not None:
                return child, code
        return None

    def wait_for_port(self, host: str, port: int, timeout: float, owner: Child) -> None:
        deadline = time.monotonic() + timeout
        while not port_open(host, port):
            if self.stop_signal is not None:
                return
            code = owner.poll()
            if code is not None:
                raise ChildDied(owner, code)
            if time.monotonic() > deadline:
                raise StartTimeout(
                    f"{owner.name} did not accept connections on {host}:{port} within {timeout:.0f} s"
                )
            time.sleep(0.2)

    def watch(self) -> None:
        """Block until a stop signal or a child's death; raise ChildDied for the latter."""
        while self.stop_signal is None:
            dead = self.dead_child()
            if dead:
                raise ChildDied(*dead)
            time.sleep(0.2)

    def stop_all(self) -> None:
        """SIGTERM every live child (last started first), wait up to `grace` s, then SIGKILL."""
        live = [c for c in reversed(self.children) if c.poll() is None]
        if not live:
            return
        where = f" (their shutdown output goes to {_rel(self.log_dir)}/)" if self.log_dir else ""
        say("stopping " + ", ".join(c.name for c in live) + " ..." + where)
        for child in live:
            child.quiet = self.log_dir is not None
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(c.poll() is None for c in live):
            time.sleep(0.1)
        for child in live:
            if child.poll() is None:
                say(f"{child.name} did not stop within {self.grace:.0f} s: killing it")
                child.signal(signal.SIGKILL if os.name != "nt" else signal.SIGTERM)
        for child in live:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                say(f"{child.name} (pid {child.proc.pid}) is still running after SIGKILL")
            child.flush_output()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


class ChildDied(Exception):
    def __init__(self, child: Child, code: int):
        self.child, self.code = child, code
        how = f"exit code {code}" if code >= 0 else f"signal {-code}"
        where = f"; its output is in {_rel(child.log_path)}" if child.log_path else ""
        super().__init__(f"{child.name} died unexpectedly ({how}){where}")


class StartTimeout(Exception):
    pass
