"""dev.py: stdlib only, argument parsing, the install stamp, the dev server command, supervision."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dev():
    spec = importlib.util.spec_from_file_location("vangnet_dev_script", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_runs_without_site_packages():
    # -I -S: no site-packages at all, so anything but the standard library would fail to import.
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "dev.py"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for command in ("run", "setup", "test"):
        assert command in result.stdout


def test_unknown_command_is_a_usage_error():
    result = subprocess.run([sys.executable, "-I", "-S", str(ROOT / "dev.py"), "deploy"], capture_output=True, text=True)
    assert result.returncode == 2


def fake_venv(tmp_path: Path, dev) -> Path:
    venv = tmp_path / "venv"
    python = dev.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.write_text("")
    return venv


def test_install_needed_without_a_venv(tmp_path, dev):
    assert dev.needs_install(tmp_path / "missing", "abc", set())


def test_stamp_skips_install_until_pyproject_or_extras_change(tmp_path, dev):
    venv = fake_venv(tmp_path, dev)
    assert dev.needs_install(venv, "abc", set()), "no stamp yet"
    dev.write_stamp(venv, "abc", {"test"})
    assert not dev.needs_install(venv, "abc", set())
    assert not dev.needs_install(venv, "abc", {"test"})
    assert dev.needs_install(venv, "def", set()), "pyproject.toml changed"
    dev.write_stamp(venv, "abc", set())
    assert dev.needs_install(venv, "abc", {"test"}), "test extras not installed yet"


def test_corrupt_stamp_means_install(tmp_path, dev):
    venv = fake_venv(tmp_path, dev)
    (venv / dev.STAMP_NAME).write_text("not json")
    assert dev.needs_install(venv, "abc", set())


def test_stamp_hash_follows_pyproject(dev):
    assert dev.pyproject_hash() == dev.pyproject_hash()
    assert len(dev.pyproject_hash()) == 64


def test_temporal_command_has_the_dev_flags(tmp_path, dev):
    cmd = dev.temporal_command(
        Path("/x/temporal"), port=7233, ui_port=8233, db_file=tmp_path / "t.db",
        search_attribute_flags=["--search-attribute", "CaseStage=Keyword"], news_flag=True,
    )
    joined = " ".join(cmd)
    assert cmd[:3] == ["/x/temporal", "server", "start-dev"]
    for part in (
        f"--db-filename {tmp_path / 't.db'}", "--port 7233", "--ui-port 8233", "--ip 127.0.0.1",
        "--log-level warn", "--ui-disable-news-fetch",
        "--dynamic-config-value frontend.WorkflowTimeSkippingEnabled=true",
        "--sqlite-pragma journal_mode=WAL", "--search-attribute CaseStage=Keyword",
    ):
        assert part in joined
    without = dev.temporal_command(
        Path("t"), port=1, ui_port=2, db_file=tmp_path / "t.db", search_attribute_flags=[], news_flag=False
    )
    assert "--ui-disable-news-fetch" not in without


PY = sys.executable


def test_supervisor_reports_a_dead_child_and_stops_the_rest(tmp_path, dev):
    sup = dev.Supervisor(log_dir=tmp_path, grace=5)
    sleeper = sup.start("sleeper", [PY, "-c", "import time; time.sleep(60)"], {})
    sup.start("crasher", [PY, "-c", "print('boom', flush=True); raise SystemExit(3)"], {})
    with pytest.raises(dev.ChildDied) as died:
        sup.watch()
    assert died.value.child.name == "crasher" and died.value.code == 3
    assert "crasher died unexpectedly (exit code 3)" in str(died.value)
    started = time.monotonic()
    sup.stop_all()
    assert sleeper.poll() is not None
    assert time.monotonic() - started < 5
    assert "boom" in (tmp_path / "crasher.log").read_text()


def test_supervisor_kills_a_child_that_ignores_sigterm(tmp_path, dev):
    sup = dev.Supervisor(log_dir=tmp_path, grace=1)
    stubborn = sup.start(
        "stubborn",
        [PY, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
        {},
    )
    deadline = time.monotonic() + 15  # let it install its handler first
    log = tmp_path / "stubborn.log"
    while not (log.exists() and "ready" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    sup.stop_all()
    assert stubborn.poll() is not None
    assert time.monotonic() - started < 8


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_waiting_for_the_server_times_out_or_names_a_dead_server(tmp_path, dev):
    sup = dev.Supervisor(log_dir=tmp_path, grace=2)
    silent = sup.start("silent", [PY, "-c", "import time; time.sleep(30)"], {})
    try:
        with pytest.raises(dev.StartTimeout, match="silent did not accept connections"):
            sup.wait_for_port("127.0.0.1", free_port(), 0.5, silent)
    finally:
        sup.stop_all()
    sup = dev.Supervisor(log_dir=tmp_path, grace=2)
    dying = sup.start("dying", [PY, "-c", "raise SystemExit(2)"], {})
    with pytest.raises(dev.ChildDied, match="dying died unexpectedly"):
        sup.wait_for_port("127.0.0.1", free_port(), 30, dying)
    sup.stop_all()


def test_bytecode_is_written_even_where_the_environment_forbids_it(dev, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    package = tmp_path / "workflows"
    package.mkdir()
    (package / "case.py").write_text("X = 1\n")
    dev.compile_bytecode(tmp_path, ("workflows", "missing"))
    assert list((package / "__pycache__").glob("case.*.pyc"))


def test_the_dev_server_gets_the_codec_endpoint(tmp_path, dev):
    cmd = dev.temporal_command(Path("t"), port=1, ui_port=2, db_file=tmp_path / "t.db",
                               search_attribute_flags=[], news_flag=False,
                               codec_endpoint="http://localhost:8234")
    assert "--ui-codec-endpoint http://localhost:8234" in " ".join(cmd)


def test_run_creates_a_development_payload_key_once_and_says_so(tmp_path, dev, monkeypatch, capsys):
    from vangnet import codec

    key_file = tmp_path / "data" / "codec-keys"
    monkeypatch.setattr(dev, "DEV_KEY_FILE", key_file)
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    python = Path(sys.executable)
    env: dict[str, str] = {}
    dev.codec_keys(python, env)
    assert "created a development payload key in data/codec-keys" in capsys.readouterr().out
    assert env["VANGNET_CODEC_KEY_FILE"] == str(key_file)
    [key_id] = codec.parse_keys(key_file.read_text(), str(key_file)).ids
    dev.codec_keys(python, env := {})
    assert capsys.readouterr().out == "" and env["VANGNET_CODEC_KEY_FILE"] == str(key_file)
    assert codec.parse_keys(key_file.read_text(), str(key_file)).ids == [key_id]  # kept
    configured = {"VANGNET_CODEC_KEYS": "x:" + "A" * 44}
    dev.codec_keys(python, configured)
    assert configured == {"VANGNET_CODEC_KEYS": "x:" + "A" * 44}  # the operator's own keys win
