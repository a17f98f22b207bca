"""The README's commands run as written (issue 10): every variable a shell block uses is
assigned in an earlier block, the commands use the project's virtualenv (`.venv/bin/…`), every
file they name is shipped, and the blocks marked ```sh offline (no running stack needed) and the
receiver's Python example are executed here."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = [(bool(offline), body) for offline, body in re.findall(r"```sh( offline)?\n(.*?)```", README, re.S)]
FROM_THE_USER = {"EDITOR"}  # the user's own environment


def _code(body: str) -> str:
    return re.sub(r"(?m)#.*$", "", body)


def test_every_variable_is_assigned_before_it_is_used():
    assigned: set[str] = set()
    for _, body in BLOCKS:
        code = _code(body)
        used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", code))
        here = set(re.findall(r"(?m)(?:^|export |\s)([A-Z_][A-Z0-9_]*)=", code))
        missing = used - assigned - here - FROM_THE_USER
        assert not missing, f"{sorted(missing)} used before they are assigned in:\n{body}"
        assigned |= here


def test_commands_use_the_virtualenv_and_shipped_files():
    for _, body in BLOCKS:
        for line in _code(body).splitlines():
            assert not re.match(r"\s*(python3? -m|starter |temporal |openapi-python-client )", line), line
    named = set(re.findall(r"\b(examples/[\w./-]+\.(?:csv|ndjson))", README))
    assert named, "the README names the sample files"
    for path in named:
        if ".rejected." not in path:
            assert (ROOT / path).is_file(), path


def test_the_offline_blocks_run(tmp_path):
    offline = [body for is_offline, body in BLOCKS if is_offline]
    assert len(offline) >= 2
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/readme.db"}
    env.pop("VANGNET_LOG_LEVEL", None)
    for body in offline:
        assigned = re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)=", body)
        check = "".join(f'\ntest -n "${name}"' for name in assigned)
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", body + check], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{body}\n{out.stdout}\n{out.stderr}"


def test_the_receiver_example_verifies_a_push():
    from standardwebhooks import Webhook

    [example] = re.findall(r"```python\n(from standardwebhooks.*?)```", README, re.S)
    scope: dict = {}
    exec(compile(example, "README.md", "exec"), scope)  # noqa: S102 - our own README
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"message_id":7,"action":"tenant_notice_sent"}'
    at = datetime.now(UTC)
    headers = {"webhook-id": "7", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Webhook(secret).sign("7", at, body.decode())}
    assert scope["handle"](body, headers, secret)["message_id"] == 7
