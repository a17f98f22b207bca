"""`starter simulate`: a seeded synthetic region, run on the server, then audited region-wide."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from typer.testing import CliRunner

import starter.audit
import starter.simulate  # noqa: F401
from starter.cli import app
from vangnet.scenarios import Region, Send
from vangnet.settings import get_settings
from vangnet.simulation import BRANCH_WEIGHTS, plan_region


def _plan(seed: int, n: int = 300):
    return plan_region(Region.from_registry(), tenancies=n, months=12, seed=seed, tag=f"t{seed}")


def test_the_same_seed_gives_the_same_region():
    a, b, c = _plan(5), _plan(5), _plan(6)
    assert [(s.case_id, s.steps) for s in a.scenarios] == [(s.case_id, s.steps) for s in b.scenarios]
    assert [s.steps for s in a.scenarios] != [s.steps for s in c.scenarios]


def test_the_region_covers_every_party_and_branch():
    plan = _plan(1)
    region = Region.from_registry()
    assert {s.municipality for s in plan.scenarios} == set(region.municipalities)
    assert {s.corporation for s in plan.scenarios} == set(region.corporations)
    assert set(plan.mix()) == set(BRANCH_WEIGHTS)
    opening = Counter(s.steps[0].event for s in plan.scenarios)
    assert set(opening) <= {"arrears_reported", "concern_reported"}
    late = [st for s in plan.scenarios for st in s.steps if isinstance(st, Send) and st.late]
    assert late, "some parties should report late, for the audit to find"


async def test_simulate_then_audit_the_region(temporal_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/sim.db")
    monkeypatch.setenv("VANGNET_TASK_QUEUE", f"sim-{tmp_path.name[-8:]}")
    # set, so the command leaves this process's logging configuration alone (other tests read it)
    monkeypatch.setenv("VANGNET_LOG_LEVEL", "INFO")
    get_settings.cache_clear()
    try:
        run = lambda *args: asyncio.to_thread(CliRunner().invoke, app, list(args))  # noqa: E731
        out = await run("simulate", "--tenancies", "16", "--months", "8", "--seed", "11",
                        "--tag", "simtest")
        assert out.exit_code == 0, out.output
        assert "16 cases driven" in out.stdout and "failed" not in out.stdout
        out = await run("audit", "--all", "--format", "json")
        assert out.exit_code in (0, 3), out.output  # 3: another test's case on the shared server
        region = json.loads(out.stdout)
        mine = [c for c in region["cases"] if "-simtest-" in c["case_id"]]
        assert len(mine) == 16 and all(c["deterministic"] for c in mine)
        out = await run("simulate", "--tenancies", "16", "--seed", "11", "--tag", "simtest")
        assert out.exit_code == 1 and "already exists" in out.stderr
    finally:
        get_settings.cache_clear()
