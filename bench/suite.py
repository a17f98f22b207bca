"""Benchmark 5 — the test suite.

1. The whole suite: `python -m pytest -q -p no:cacheprovider --durations=15`, wall time, counts,
   and the slowest tests.
2. One full-lifecycle workflow test as its own pytest process (default
   tests/workflow/test_spoor1.py::test_spoor1_from_arrears_to_resolved): process wall time, and the
   test's own setup + call time (`--durations=0`).
3. The same lifecycle without pytest, against its bare baseline: the test environment built as
   tests/conftest.py builds it (start_time_skipping_v2 + the search attributes, a SQLite store,
   build_worker in-process), then one `resolved` lifecycle (bench/lifecycle.py) of
   TenantCaseWorkflow, and one of BaselineWorkflow with the same signals, activities and
   fast-forwards (its worker in the same process).

    .venv/bin/python -m bench.suite                  # all three
    .venv/bin/python -m bench.suite --skip-suite     # 2 and 3 only (a minute)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import _harness as h

LIFECYCLE_TEST = "tests/workflow/test_spoor1.py::test_spoor1_from_arrears_to_resolved"


def pytest(args: list[str], timeout: float) -> dict[str, Any]:
    t0 = time.monotonic()
    # As `dev.py test` runs it: the venv's bin/ (the `temporal` binary) first on PATH.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(h.PYTHON).parent), os.environ.get("PATH", "")])}
    out = subprocess.run([h.PYTHON, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=h.ROOT,
                         capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.monotonic() - t0
    text = out.stdout + out.stderr
    summary = next((line for line in reversed(text.splitlines()) if re.search(r"\d+ (passed|failed|error)", line)), "")
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|deselected)", summary)}
    durations = re.findall(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)", text, re.M)
    return {"wall_s": wall, "returncode": out.returncode, "summary": summary.strip("= "),
            "counts": counts, "durations": [(float(s), phase, node) for s, phase, node in durations],
            "tail": "\n".join(text.splitlines()[-15:])}


async def driven_lifecycle(wd: Path) -> dict[str, Any]:
    """The environment of tests/conftest.py, one vangnet lifecycle and one baseline mirror."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment
    from temporalio.testing._timeskipping import TimeSkippingConfig
    from temporalio.worker import Worker

    from bench import lifecycle
    from bench.baseline import BaselineWorkflow, noop
    from vangnet.search_attributes import dev_server_flags
    from vangnet.settings import Settings
    from vangnet.store import Store
    from vangnet.temporal_client import project_data_converter
    from workers import build_worker

    t0 = time.monotonic()
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=shutil.which("temporal", path=str(Path(h.PYTHON).parent)) or h.temporal_binary(),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true",
                               "--log-level", "error", *dev_server_flags()],
        data_converter=project_data_converter(),  # as tests/conftest.py: payloads encrypted
    )
    t_env = time.monotonic() - t0
    res: dict[str, Any] = {"env_start_s": t_env}
    async with env:
        store = await Store.open(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{wd}/suite.db"))
        try:
            client = env.client
            bare = Client(**{**client.config(), "data_converter": pydantic_data_converter})
            skipper = lifecycle.skipper_for(client)
            async with build_worker(client, store, "suite-v"), \
                    Worker(bare, task_queue="suite-b", workflows=[BaselineWorkflow], activities=[noop]):
                for attempt in ("warm-up", "measured"):
                    t0 = time.monotonic()
                    handle = await lifecycle.run_case(client, skipper, "suite-v", "resolved")
                    res[f"vangnet_{attempt}_s"] = time.monotonic() - t0
                history = await handle.fetch_history()
                script = lifecycle.baseline_script(history)
                for attempt in ("warm-up", "measured"):
                    t0 = time.monotonic()
                    # the same fast-forwards: the baseline's timers are real, so only signals and
                    # activities are mirrored; its 20 ms timers stand in for the skipped time
                    await lifecycle.run_baseline(bare, "suite-b", script, f"S{attempt}")
                    res[f"baseline_{attempt}_s"] = time.monotonic() - t0
        finally:
            await store.close()
    return res


async def main(args: argparse.Namespace) -> None:
    results: dict[str, Any] = {}
    if not args.skip_suite:
        h.say("running the whole suite (pytest -q)")
        results["suite"] = pytest(["-q", "--durations=15", *args.pytest_args.split()], args.timeout)
        h.say(f"  {results['suite']['summary']} in {results['suite']['wall_s']:.0f}s")
    h.say(f"running {args.test}")
    results["lifecycle_test"] = pytest(["-q", "--durations=0", "--durations-min=0", args.test], 600)
    lt = results["lifecycle_test"]
    h.say(f"  {lt['summary']} in {lt['wall_s']:.1f}s")
    with h.workdir() as wd:
        h.say("driving one lifecycle and its baseline in the test environment")
        results["driven"] = await driven_lifecycle(wd)
    d = results["driven"]
    own = {phase: s for s, phase, node in lt["durations"] if node.endswith(args.test.split("::")[-1])}
    rows = []
    if "suite" in results:
        s = results["suite"]
        rows += [
            h.Row("whole suite, wall (s)", s["wall_s"], None, fmt="{:,.0f}"),
            h.Row("whole suite, tests passed", s["counts"].get("passed", 0), None, fmt="{:,.0f}"),
            h.Row("whole suite, failed + errors", s["counts"].get("failed", 0)
                  + s["counts"].get("error", 0) + s["counts"].get("errors", 0), None, fmt="{:,.0f}"),
        ]
    rows += [
        h.Row("lifecycle test: pytest process wall (s)", lt["wall_s"], None, fmt="{:,.1f}"),
        h.Row("lifecycle test: setup (s)", own.get("setup"), None, fmt="{:,.2f}"),
        h.Row("lifecycle test: call (s)", own.get("call"), None, fmt="{:,.2f}"),
        h.Row("test env start (dev server, time skipping) (s)", d["env_start_s"], None, fmt="{:,.2f}"),
        h.Row("one lifecycle driven, first (s)", d["vangnet_warm-up_s"], d["baseline_warm-up_s"], fmt="{:,.2f}"),
        h.Row("one lifecycle driven, second (s)", d["vangnet_measured_s"], d["baseline_measured_s"], fmt="{:,.2f}"),
    ]
    print(h.table("Test suite", rows))
    if "suite" in results:
        print("slowest tests:")
        for secs, phase, node in results["suite"]["durations"][:15]:
            print(f"  {secs:7.2f}s {phase:8} {node}")
    h.save("suite", {"args": vars(args), "results": results}, args.json)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-suite", action="store_true")
    p.add_argument("--test", default=LIFECYCLE_TEST, help="the full-lifecycle test to time")
    p.add_argument("--pytest-args", default="", help="extra pytest arguments for the whole suite")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json", default=None)
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()), snapshot=False)  # the suite runs in the real tree
