"""`python -m starter registry load`: routing is data, changed without a release."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def starter(tmp_path, *args):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/r.db", "PATH": "/usr/bin:/bin", "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "starter", "registry", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_load_changes_routing_and_bad_file_is_refused_whole(tmp_path):
    seeded = starter(tmp_path, "load")
    assert seeded.returncode == 0, seeded.stderr
    assert "loaded 33 parties and 1 routes" in seeded.stdout

    changed = tmp_path / "registry.toml"
    changed.write_text(
        (ROOT / "config" / "registry.toml").read_text()
        + '\n[[route]]\ncorporation = "poort6"\nmunicipality = "gorinchem"\n'
          'ris_connected = false\nalternative_channel = "beveiligde mailbox Gorinchem"\n'
    )
    assert starter(tmp_path, "load", "--file", str(changed)).returncode == 0
    shown = starter(tmp_path, "show")
    assert "beveiligde mailbox Gorinchem" in shown.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text('[[party]]\ncode = "x"\nkind = "nope"\nname = "X"\n')
    refused = starter(tmp_path, "load", "--file", str(bad))
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: registry file")
    assert "unknown kind 'nope'" in refused.stderr


def test_load_refuses_a_registry_that_the_policy_file_does_not_fit(tmp_path, monkeypatch):
    """RULES §11 A10: the policy file's sections name parties of the registry; a registry without
    a party the policy overrides is refused (the worker would not start with the pair)."""
    from typer.testing import CliRunner

    import starter.registry  # noqa: F401 - registers the command
    from starter.cli import app
    from vangnet.settings import get_settings

    policy = tmp_path / "policy.toml"
    policy.write_text("[municipality.gorinchem]\nhelp_plan_deadline_days = 21\n")
    registry = tmp_path / "registry.toml"
    text = (ROOT / "config" / "registry.toml").read_text()
    registry.write_text(text.replace('code = "gorinchem"', 'code = "gorkum"')
                        .replace('municipalities = ["gorinchem"]', 'municipalities = ["gorkum"]'))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/r.db")
    monkeypatch.setenv("VANGNET_POLICY_FILE", str(policy))
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["registry", "load", "--file", str(registry)])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 1, refused.output
    assert str(policy) in refused.stderr
    assert "[municipality.gorinchem]: 'gorinchem' is not a party in the registry" in refused.stderr
    assert "A10" in refused.stderr and "nothing loaded" in refused.stderr
    assert not (tmp_path / "r.db").exists()  # refused before the store was touched
