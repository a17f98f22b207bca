"""Benchmark 4 — audit replay.

Full-lifecycle histories of TenantCaseWorkflow (bench/lifecycle.py: cases driven from arrears to
their close, half `resolved`, half `evicted`, on a live server with per-workflow time skipping)
replayed with `temporalio.worker.Replayer`, as an auditor or a determinism check would; against the
Replayer on the bare baseline's histories (BaselineWorkflow mirroring each case: the same signals,
activities and timers). Histories per second, one process, one core. Target: ≥ 100 histories/s.

    .venv/bin/python -m bench.replay                      # 40 lifecycles, each replayed 10 times
    .venv/bin/python -m bench.replay --n 10 --repeat 5    # quick
    .venv/bin/python -m bench.replay --save-histories DIR # keep the histories (JSON) ...
    .venv/bin/python -m bench.replay --histories DIR      # ... and replay them again without a server
    .venv/bin/python -m bench.replay --unsandboxed        # also: vangnet with the unsandboxed runner
    .venv/bin/python -m bench.replay --profile            # py-spy of the vangnet replay
    .venv/bin/python -m bench.replay --processes 2        # also: 2 replaying processes at once
    .venv/bin/python -m bench.replay --histories DIR --via audit   # the audit's own path instead
    .venv/bin/python -m bench.replay --via both --jobs 2  # both: the bare Replayer, then the audit

`--via audit` times what `python -m starter audit --all` does with the histories once fetched:
`vangnet.audit` replaying them (`--sandboxed --jobs 1`, `--jobs 1`, `--jobs N`) and building each
case's report. The server and workers are stopped before replaying, so replay has the machine to
itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from bench import _harness as h
from bench import lifecycle
from bench.baseline import BaselineWorkflow
from vangnet.audit import CaseReplayer, ParallelReplayer, audit_episode, default_jobs
from vangnet.audit.history import make_run
from vangnet.temporal_client import project_data_converter
from workflows import TenantCaseWorkflow


async def generate(args: argparse.Namespace, wd: Path) -> tuple[list[WorkflowHistory], list[WorkflowHistory]]:
    async with h.dev_server(wd, persistence=args.persistence) as server:
        h.say(f"dev server on {server.address}; generating {args.n} full-lifecycle cases")
        async with h.worker_process("vangnet", server, "replay-v", wd, database=args.database) as _v, \
                h.worker_process("baseline", server, "replay-b", wd) as _b:
            client = await server.client()  # vangnet's, encrypting (issue 12)
            bare = await server.client("bare")  # the baseline's
            skipper = lifecycle.skipper_for(client)
            names = list(lifecycle.SCENARIOS)
            t0 = time.monotonic()
            handles = await lifecycle.gather(
                [lifecycle.run_case(client, skipper, "replay-v", names[i % len(names)], f"R{i:05d}")
                 for i in range(args.n)], args.concurrency)
            vh = [await hd.fetch_history() for hd in handles]
            h.say(f"  {len(vh)} vangnet lifecycles in {time.monotonic() - t0:.0f}s; mirroring them")
            bhandles = await lifecycle.gather(
                [lifecycle.run_baseline(bare, "replay-b", lifecycle.baseline_script(x), f"R{i:05d}")
                 for i, x in enumerate(vh)], args.concurrency)
            bh = [await hd.fetch_history() for hd in bhandles]
    return vh, bh


def save_histories(path: Path, vh: list[WorkflowHistory], bh: list[WorkflowHistory]) -> None:
    for sub, hs in (("vangnet", vh), ("baseline", bh)):
        (path / sub).mkdir(parents=True, exist_ok=True)
        for x in hs:
            (path / sub / f"{x.workflow_id}.json").write_text(x.to_json())
    h.say(f"histories saved under {path}")


def load_histories(path: Path) -> tuple[list[WorkflowHistory], list[WorkflowHistory]]:
    def load(sub: str) -> list[WorkflowHistory]:
        return [WorkflowHistory.from_json(p.stem, p.read_text()) for p in sorted((path / sub).glob("*.json"))]

    return load("vangnet"), load("baseline")


async def _aiter(histories: list[WorkflowHistory]) -> Any:
    for x in histories:
        yield x


async def replay(replayer: Replayer, histories: list[WorkflowHistory], repeat: int, rounds: int) -> dict[str, Any]:
    await replayer.replay_workflows(_aiter(histories[:2]))  # warm-up: imports, sandbox validation
    rates = []
    for _ in range(rounds):
        batch = histories * repeat
        t0 = time.perf_counter()
        await replayer.replay_workflows(_aiter(batch))
        rates.append(len(batch) / (time.perf_counter() - t0))
    events = sum(len(x.events) for x in histories) / len(histories)
    rate = statistics.median(rates)
    return {"histories_per_s": rate, "rounds": rates, "events_per_history": events,
            "events_per_s": rate * events, "ms_per_history": 1000 / rate}


def _share(path: str, sub: str, start: int, step: int, repeat: int, unsandboxed: bool, barrier: Any) -> tuple[int, float]:
    """One process of a parallel replay: its share of the histories, after a common start."""
    import asyncio as aio

    vh, bh = load_histories(Path(path))
    mine = (vh if sub == "vangnet" else bh)[start::step]
    wf = TenantCaseWorkflow if sub == "vangnet" else BaselineWorkflow
    kw = {"workflow_runner": UnsandboxedWorkflowRunner()} if unsandboxed else {}
    conv = project_data_converter(read_only=True) if sub == "vangnet" else pydantic_data_converter
    replayer = Replayer(workflows=[wf], data_converter=conv, **kw)

    async def go() -> tuple[int, float]:
        await replayer.replay_workflows(_aiter(mine[:2]))
        barrier.wait()
        t0 = time.perf_counter()
        await replayer.replay_workflows(_aiter(mine * repeat))
        return len(mine) * repeat, time.perf_counter() - t0

    return aio.run(go())


def parallel(path: Path, sub: str, processes: int, repeat: int, unsandboxed: bool = False) -> float:
    """Histories per second with `processes` replaying processes at once."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes)
        with ctx.Pool(processes) as pool:
            parts = pool.starmap(_share, [(str(path), sub, i, processes, repeat, unsandboxed, barrier)
                                          for i in range(processes)])
    return sum(n for n, _ in parts) / max(t for _, t in parts)


async def replay_audit(replayer: CaseReplayer | ParallelReplayer, histories: list[WorkflowHistory],
                       repeat: int, rounds: int) -> dict[str, Any]:
    """The audit's path: replay each history as a case's episode and build its report."""
    episodes = [[make_run(x)] for x in histories]
    not_deterministic = 0

    async def audit(batch: list[Any]) -> float:
        nonlocal not_deterministic
        t0 = time.perf_counter()
        audits = [audit_episode(e) async for e in replayer.replay_many(_aiter(batch))]
        seconds = time.perf_counter() - t0
        not_deterministic += sum(1 for a in audits if not a.deterministic)
        return len(batch) / seconds

    first = await audit(episodes)  # cold: imports, sandbox validation, worker processes starting
    rates = [await audit(episodes * repeat) for _ in range(rounds)]
    rate = statistics.median(rates)
    return {"histories_per_s": rate, "rounds": rates, "first_pass_per_s": first,
            "ms_per_history": 1000 / rate, "not_deterministic": not_deterministic}


async def audit_rows(vh: list[WorkflowHistory], args: argparse.Namespace) -> tuple[dict[str, Any], list[h.Row]]:
    results: dict[str, Any] = {}
    for key, sandboxed in (("audit_sandboxed", True), ("audit", False)):
        h.say(f"auditing {len(vh)} × {args.repeat} vangnet histories in this process"
              f"{' (sandboxed)' if sandboxed else ''}")
        results[key] = await replay_audit(CaseReplayer(quiet=True, sandboxed=sandboxed), vh,
                                          args.repeat, args.rounds)
    labels = {"audit_sandboxed": "audit --sandboxed --jobs 1", "audit": "audit --jobs 1"}
    if args.jobs > 1:
        h.say(f"auditing {len(vh)} × {args.repeat} vangnet histories with --jobs {args.jobs}")
        with ParallelReplayer(args.jobs) as replayer:
            results["audit_jobs"] = await replay_audit(replayer, vh, args.repeat, args.rounds)
        results["audit_jobs"]["jobs"] = args.jobs
        labels["audit_jobs"] = f"audit --jobs {args.jobs}"
    rows = []
    for key, label in labels.items():
        r = results[key]
        rows.append(h.Row(f"{label}: histories/s", r["histories_per_s"], target="≥ 100/s",
                          met=r["histories_per_s"] >= 100))
        rows.append(h.Row(f"{label}: first pass (start-up included)", r["first_pass_per_s"]))
    bad = sum(r["not_deterministic"] for r in results.values())
    rows.append(h.Row("audit: replays reported not deterministic", bad, target="0", met=bad == 0,
                      fmt="{:,.0f}"))
    return results, rows


async def main(args: argparse.Namespace) -> None:
    with h.workdir(args.keep) as wd:
        if args.histories:
            vh, bh = load_histories(Path(args.histories))
        else:
            vh, bh = await generate(args, wd)
            if args.save_histories:
                save_histories(Path(args.save_histories), vh, bh)
        if args.via == "audit":
            results, rows = await audit_rows(vh, args)
            print(h.table(f"Audit path: {len(vh)} lifecycles × {args.repeat}, "
                          f"median of {args.rounds} rounds", rows))
            h.save("replay-audit", {"args": vars(args), "results": results}, args.json)
            return
        results_parallel: dict[str, float] = {}
        if args.processes > 1:
            path = Path(args.histories) if args.histories else wd / "histories"
            if not args.histories:
                save_histories(path, vh, bh)
            for sub, unsandboxed in (("vangnet", False), ("baseline", False), ("vangnet", True)):
                if unsandboxed and not args.unsandboxed:
                    continue
                key = sub + ("_unsandboxed" if unsandboxed else "")
                h.say(f"replaying {key} in {args.processes} processes")
                results_parallel[key] = parallel(path, sub, args.processes, args.repeat, unsandboxed)
    shapes = {"vangnet": [lifecycle.shape(x) for x in vh], "baseline": [lifecycle.shape(x) for x in bh]}
    avg = {k: {f: statistics.mean(s[f] for s in v) for f in v[0]} for k, v in shapes.items()}
    h.say(f"history shape (mean): vangnet {avg['vangnet']}")
    h.say(f"                      baseline {avg['baseline']}")
    conv = project_data_converter(read_only=True)  # vangnet's histories are encrypted
    results: dict[str, Any] = {"shape": avg}
    h.say(f"replaying {len(vh)} × {args.repeat} vangnet histories")
    v_replayer = Replayer(workflows=[TenantCaseWorkflow], data_converter=conv)
    profile = (h.RESULTS / "profiles" / f"replay-{time.strftime('%Y%m%d-%H%M%S')}.txt"
               if args.profile else None)
    with h.pyspy(os.getpid(), profile):
        results["vangnet"] = await replay(v_replayer, vh, args.repeat, args.rounds)
    h.say(f"replaying {len(bh)} × {args.repeat} baseline histories")
    results["baseline"] = await replay(Replayer(workflows=[BaselineWorkflow],
                                                data_converter=pydantic_data_converter),
                                       bh, args.repeat, args.rounds)
    if args.unsandboxed:
        h.say("replaying the vangnet histories with the unsandboxed runner")
        results["vangnet_unsandboxed"] = await replay(
            Replayer(workflows=[TenantCaseWorkflow], data_converter=conv,
                     workflow_runner=UnsandboxedWorkflowRunner()), vh, args.repeat, args.rounds)
    v, b = results["vangnet"], results["baseline"]
    rows = [
        h.Row("full-lifecycle histories replayed per s", v["histories_per_s"], b["histories_per_s"],
              "≥ 100/s", v["histories_per_s"] >= 100),
        h.Row("ms per history", v["ms_per_history"], b["ms_per_history"], fmt="{:,.2f}"),
        h.Row("events per history", v["events_per_history"], b["events_per_history"], fmt="{:,.0f}"),
        h.Row("history events replayed per s", v["events_per_s"], b["events_per_s"], fmt="{:,.0f}"),
        h.Row("workflow tasks per history", avg["vangnet"]["workflow_tasks"], avg["baseline"]["workflow_tasks"]),
        h.Row("history JSON bytes", avg["vangnet"]["json_bytes"], avg["baseline"]["json_bytes"], fmt="{:,.0f}"),
    ]
    if args.unsandboxed:
        u = results["vangnet_unsandboxed"]
        rows.append(h.Row("vangnet unsandboxed: histories/s", u["histories_per_s"], b["histories_per_s"]))
    for key, rate in results_parallel.items():
        rows.append(h.Row(f"{args.processes} processes, {key.replace('_', ' ')}: histories/s",
                          rate if key != "baseline" else None,
                          results_parallel.get("baseline"),
                          "≥ 100/s" if key.startswith("vangnet") else "",
                          rate >= 100 if key.startswith("vangnet") else None))
    results["parallel"] = {"processes": args.processes, **results_parallel}
    if args.via == "both":
        audit_results, audit_table = await audit_rows(vh, args)
        results.update(audit_results)
        rows += audit_table
    print(h.table(f"Audit replay: {len(vh)} lifecycles × {args.repeat}, median of {args.rounds} rounds", rows))
    h.save("replay", {"args": vars(args), "results": results}, args.json)


def parser() -> argparse.ArgumentParser:
    p = h.parser("python -m bench.replay", __doc__, n=40)
    p.add_argument("--repeat", type=int, default=10, help="replay each history this many times per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=8, help="lifecycles driven at once")
    p.add_argument("--histories", default=None, help="replay saved histories from this directory")
    p.add_argument("--save-histories", default=None, help="save the generated histories here")
    p.add_argument("--unsandboxed", action="store_true")
    p.add_argument("--processes", type=int, default=1,
                   help="also replay with this many processes at once (one Replayer each)")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--via", choices=("replayer", "audit", "both"), default="replayer",
                   help="replayer: the bare Replayer (default); audit: `starter audit`'s own path "
                        "(vangnet.audit); both")
    p.add_argument("--jobs", type=int, default=default_jobs(),
                   help="with --via audit or both: the audit's worker processes (default: the CPUs)")
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()))
