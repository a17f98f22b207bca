"""Benchmark 3 — a fleet at rest, and a thousand deadlines at once.

N open cases (opened by arrears_reported; each then waits on its durable timer for
`early_signal_due`, 30 days after the arrears began). At rest: the worker's RSS, and database
bytes per case (Temporal's SQLite file, and vangnet's case store). Then K of them (spread evenly
over the fleet, so most are not in the worker's cache) have their deadline fall due at the same
wall-clock instant T0, and we measure how late each fires.

Making K deadlines fall due at one instant: every case's deadline is a local midnight 29 days
ahead (all cases share `arrears_since`), so it is moved, not the deadline: with the dev server's
per-workflow time skipping, each of the K cases gets `fast_forward(due − T0)` a few seconds
before T0, which sets that case's virtual clock to `T0 − (due − now)`; its timer then fires when
the real clock reaches T0, through the server's ordinary timer queue, all K at the same instant
(the fast-forward itself returns at once: there is no timer in the skipped range). History event
times of such a workflow are virtual, with a constant offset, so lateness = TimerFired time −
due (and the action: ActivityTaskCompleted of escalation_raised − due). The baseline fleet waits
on a timer at the same `due` and is moved the same way.

Targets: worker RSS < 500 MB; p99 lateness < 10 s.

    .venv/bin/python -m bench.fleet                       # N=10,000, K=1,000
    .venv/bin/python -m bench.fleet --n 500 --due 100     # quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing._timeskipping import TimeSkipper, TimeSkippingConfig

from bench import _harness as h
from bench import cases
from vangnet.domain import case_id_for


class RssSampler:
    """Peak RSS of a worker (all its processes together)."""

    def __init__(self, w: h.WorkerProc, interval: float = 0.5) -> None:
        self.w, self.interval, self.peak = w, interval, 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self.w.rss())
            except Exception:  # noqa: BLE001 - process gone
                return
            await asyncio.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._task
        self._task.cancel()


def _pids(server: h.Server, w: h.WorkerProc) -> dict[str, Any]:
    pids: dict[str, Any] = {"server": server.proc.pid, "worker": w.pids}
    if w.store is not None and w.store.kind == "postgres":
        pids["postgres"] = w.store.backend_pids
    return pids


def _wid(kind: str, ref: str) -> str:
    return case_id_for(cases.CORPORATION, ref) if kind == "vangnet" else f"baseline-{ref}"


async def run_phase(server: h.Server, wd: Path, args: argparse.Namespace, kind: str,
                    prefix: str) -> dict[str, Any]:
    n, k = args.n, min(args.due, args.n)
    since = date.today() - timedelta(days=1)
    due = cases.early_signal_due(since)
    refs = [cases.tenancy(prefix, i) for i in range(n)]
    tq = f"fleet-{prefix.lower()}"
    client = await server.client("on" if kind == "vangnet" else "bare")
    worker_args = (args.worker_args if kind == "vangnet" else args.baseline_args).split()
    db_before = h.sqlite_used_bytes(server.db_path)
    tables_before = h.sqlite_table_bytes(server.db_path)
    stack = contextlib.AsyncExitStack()
    async with stack:
        w = await stack.enter_async_context(h.worker_process(
            kind, server, tq, wd, worker_args=worker_args, database=args.database, count=args.workers))
        store = w.store
        store0 = (store.table_rows(), store.used_bytes()) if store else None
        rss_idle = w.rss()
        if kind == "vangnet":
            settled = lambda: store.scalar("SELECT count(*) FROM case_record")  # noqa: E731
            acted = lambda: store.scalar(  # noqa: E731
                "SELECT count(*) FROM inbox_message WHERE action='escalation_raised'")
            factories = [lambda r=r: cases.open_vangnet(client, tq, r, since) for r in refs]
        else:
            settled = lambda: w.stats()["counts"].get("record_case", 0)  # noqa: E731
            acted = lambda: w.stats()["counts"].get("escalation_raised", 0)  # noqa: E731
            factories = [lambda r=r: cases.open_baseline(client, tq, r, due, cases.DEADLINE_ACTS)
                         for r in refs]
        h.say(f"{kind}: opening {n} cases")
        meter = h.CpuMeter(**_pids(server, w)).start()
        with RssSampler(w) as filling:
            await cases.gather_limited(factories, args.concurrency)
            await h.wait_until(lambda: settled() >= n, timeout=args.timeout, what="fleet settled",
                               progress=lambda: f"{settled()}/{n}")
        meter.stop()
        open_rate = n / meter.wall
        h.say(f"  {n} cases open in {meter.wall:.0f}s ({open_rate:.1f}/s); resting {args.rest:.0f}s")
        await asyncio.sleep(args.rest)
        rss_rest = w.rss()
        db_after = h.sqlite_used_bytes(server.db_path)
        tables_after = h.sqlite_table_bytes(server.db_path)
        footprint = {}
        if store:
            rows = {t: c - store0[0].get(t, 0) for t, c in store.table_rows().items()}
            footprint = {"store_rows_per_case": {t: c / n for t, c in rows.items() if c},
                         "store_db_bytes_per_case": (store.used_bytes() - store0[1]) / n}
        if args.cold:  # a fresh worker: every case of the storm is replayed before it acts
            for p in w.procs:
                p.stop()
            w = await stack.enter_async_context(h.worker_process(
                kind, server, tq, wd, worker_args=worker_args, database=args.database,
                count=args.workers, store=store))
            # the stopped worker's sticky queue must time out before the storm (bench/latency.py)
            h.say("  worker restarted (--cold); 15 s for its old sticky queue to lapse")
            await asyncio.sleep(15)
            rss_cold = w.rss()

        # K deadlines at one instant T0
        chosen = [refs[i * n // k] for i in range(k)]
        skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))
        lead = args.lead + k * 0.01
        t0 = datetime.now(UTC) + timedelta(seconds=lead)
        offset = due - t0
        h.say(f"  fast-forwarding {k} cases so their deadline falls due at {t0:%H:%M:%S.%f} "
              f"({lead:.0f}s from now)")
        ff_start = time.monotonic()
        await cases.gather_limited(
            [lambda r=r: skipper.fast_forward(client.get_workflow_handle(_wid(kind, r)), offset)
             for r in chosen], 16)
        ff_done = datetime.now(UTC)
        if ff_done >= t0:
            h.say(f"  WARNING: fast-forwards finished {(ff_done - t0).total_seconds():.1f}s after T0; "
                  "raise --lead")
        h.say(f"  fast-forwards took {time.monotonic() - ff_start:.1f}s")
        fire_meter = h.CpuMeter(**_pids(server, w))
        await asyncio.sleep(max(0.0, (t0 - datetime.now(UTC)).total_seconds()))
        fire_meter.start()
        with RssSampler(w, 0.2) as firing:
            await h.wait_until(lambda: acted() >= k, timeout=args.timeout, what="deadline actions",
                               progress=lambda: f"{acted()}/{k}")
        fire_meter.stop()
        rss_after = w.rss()
        checks = {}
        if store:
            checks = {
                "doubled_messages": store.scalar(
                    "SELECT count(*) FROM (SELECT case_id, action, party_code FROM inbox_message "
                    "GROUP BY case_id, action, party_code HAVING count(*) > 1) AS d"),
                "cases_acted": store.scalar("SELECT count(DISTINCT case_id) FROM inbox_message "
                                            "WHERE action = 'escalation_raised'"),
            }

    async def lateness(ref: str) -> tuple[float, float, float]:
        events = await cases.history_events(client.get_workflow_handle(_wid(kind, ref)))
        fired = cases.timer_fired_times(events)[0]
        scheduled, completed = cases.activity_times(events, "escalation_raised")[0]
        return ((fired - due).total_seconds(), (scheduled - due).total_seconds(),
                (completed - due).total_seconds())

    late = await cases.gather_limited([lambda r=r: lateness(r) for r in chosen], 20)
    fired = [x[0] for x in late]
    handled = [x[1] for x in late]
    actioned = [x[2] for x in late]
    delta = {t: tables_after.get(t, 0) - tables_before.get(t, 0) for t in tables_after}
    res = {
        "kind": kind, "n": n, "due": k,
        "open_per_s": open_rate, "open": meter.summary(),
        "worker_rss_mb_idle": rss_idle / 2**20,
        "worker_rss_mb_peak_opening": filling.peak / 2**20,
        "worker_rss_mb_rest": rss_rest / 2**20,
        "worker_rss_mb_peak_firing": firing.peak / 2**20,
        "worker_rss_mb_after_firing": rss_after / 2**20,
        "temporal_db_bytes_per_case": (db_after - db_before) / n,
        "temporal_db_tables_bytes_per_case": {t: v / n for t, v in sorted(delta.items(), key=lambda x: -x[1])
                                              if v > 0},
        **footprint, **checks,
        "database": args.database if kind == "vangnet" else None, "workers": args.workers,
        "cold": args.cold, "worker_args": worker_args,
        "worker_rss_mb_before_storm": (rss_cold if args.cold else rss_rest) / 2**20,
        "fire_cpu_ms_per_deadline": {k: 1000 * v / k_ for k, v in fire_meter.used.items()
                                     if k != "machine" for k_ in [max(1, min(args.due, args.n))]},
        "fired_lateness_s": {f"p{p}": h.percentile(fired, p) for p in (50, 95, 99, 100)},
        "handled_lateness_s": {f"p{p}": h.percentile(handled, p) for p in (50, 95, 99, 100)},
        "action_lateness_s": {f"p{p}": h.percentile(actioned, p) for p in (50, 95, 99, 100)},
        "fired_to_handled_s": {f"p{p}": h.percentile([x[1] - x[0] for x in late], p)
                               for p in (50, 95, 99, 100)},
        "fire": fire_meter.summary(),
        "ff_finished_before_t0_s": (t0 - ff_done).total_seconds(),
    }
    h.say(f"  {kind}: RSS at rest {res['worker_rss_mb_rest']:.0f} MB, "
          f"{res['temporal_db_bytes_per_case']:.0f} B/case in Temporal; fired p99 "
          f"{res['fired_lateness_s']['p99']:.2f}s, actions p99 {res['action_lateness_s']['p99']:.2f}s")
    return res


async def main(args: argparse.Namespace) -> None:
    if args.persistence == "memory":
        raise SystemExit("the fleet benchmark measures the database file: use --persistence wal or file")
    results: dict[str, Any] = {}
    kinds = ("baseline", "vangnet") if args.baseline_first else ("vangnet", "baseline")
    with h.workdir(args.keep) as wd:
        async with h.dev_server(wd, persistence=args.persistence) as server:
            h.say(f"dev server on {server.address} ({args.persistence}), work dir {wd}")
            for i, kind in enumerate(kinds):
                results[kind] = await run_phase(server, wd, args, kind, prefix=f"F{kind[0].upper()}{i}")
    v, b = results["vangnet"], results["baseline"]
    mb, s = "{:,.0f}", "{:,.2f}"
    rows = [
        h.Row("worker RSS at rest (MB)", v["worker_rss_mb_rest"], b["worker_rss_mb_rest"],
              "< 500 MB", v["worker_rss_mb_rest"] < 500, fmt=mb),
        h.Row("worker RSS peak, whole run (MB)",
              max(v["worker_rss_mb_peak_opening"], v["worker_rss_mb_peak_firing"]),
              max(b["worker_rss_mb_peak_opening"], b["worker_rss_mb_peak_firing"]), "< 500 MB",
              max(v["worker_rss_mb_peak_opening"], v["worker_rss_mb_peak_firing"]) < 500, fmt=mb),
        h.Row("Temporal DB bytes per case", v["temporal_db_bytes_per_case"], b["temporal_db_bytes_per_case"], fmt=mb),
        h.Row("case store bytes per case", v.get("store_db_bytes_per_case"), None, fmt=mb),
        h.Row("worker RSS just before the storm (MB)", v["worker_rss_mb_before_storm"],
              b["worker_rss_mb_before_storm"], fmt=mb),
        h.Row("worker RSS peak during the storm (MB)", v["worker_rss_mb_peak_firing"],
              b["worker_rss_mb_peak_firing"], fmt=mb),
        h.Row(f"deadline fired late, p50 (s) [{v['due']} at once]", v["fired_lateness_s"]["p50"],
              b["fired_lateness_s"]["p50"], fmt=s),
        h.Row("deadline fired late, p99 (s)", v["fired_lateness_s"]["p99"], b["fired_lateness_s"]["p99"],
              "p99 < 10 s", v["fired_lateness_s"]["p99"] < 10, fmt=s),
        h.Row("deadline fired late, last (s)", v["fired_lateness_s"]["p100"], b["fired_lateness_s"]["p100"], fmt=s),
        h.Row("deadline handled by the case (on timeline), p50 (s)", v["handled_lateness_s"]["p50"],
              b["handled_lateness_s"]["p50"], fmt=s),
        h.Row("deadline handled by the case (on timeline), p99 (s)", v["handled_lateness_s"]["p99"],
              b["handled_lateness_s"]["p99"], "p99 < 10 s", v["handled_lateness_s"]["p99"] < 10, fmt=s),
        h.Row("firing → on timeline, p99 (s) [handled − fired, per case]", v["fired_to_handled_s"]["p99"],
              b["fired_to_handled_s"]["p99"], "p99 < 10 s", v["fired_to_handled_s"]["p99"] < 10, fmt=s),
        h.Row("doubled messages", v.get("doubled_messages"), None, "0", v.get("doubled_messages") == 0,
              fmt="{:.0f}"),
        h.Row("cases acted on", v.get("cases_acted"), None, f"{min(args.due, args.n)}",
              v.get("cases_acted") == min(args.due, args.n), fmt="{:.0f}"),
        h.Row("storm: server CPU ms per deadline", v["fire_cpu_ms_per_deadline"]["server"],
              b["fire_cpu_ms_per_deadline"]["server"]),
        h.Row("storm: worker CPU ms per deadline", v["fire_cpu_ms_per_deadline"]["worker"],
              b["fire_cpu_ms_per_deadline"]["worker"]),
        h.Row("deadline's action done, p50 (s)", v["action_lateness_s"]["p50"], b["action_lateness_s"]["p50"], fmt=s),
        h.Row("deadline's action done, p99 (s)", v["action_lateness_s"]["p99"], b["action_lateness_s"]["p99"], fmt=s),
        h.Row("cases opened per s (filling the fleet)", v["open_per_s"], b["open_per_s"]),
        h.Row("other load on the machine (cores), filling", v["open"]["foreign_cores"], b["open"]["foreign_cores"],
              fmt=s),
        h.Row("other load on the machine (cores), storm", v["fire"]["foreign_cores"], b["fire"]["foreign_cores"],
              fmt=s),
    ]
    print(h.table(f"A fleet at rest: N={args.n}, {min(args.due, args.n)} deadlines at one instant "
                  f"({args.persistence} persistence; case store {args.database}; {args.workers} worker "
                  f"process(es){'; cold: workers restarted before the storm' if args.cold else ''})", rows))
    h.save("fleet", {"args": vars(args), "results": results}, args.json)


def parser() -> argparse.ArgumentParser:
    p = h.parser("python -m bench.fleet", __doc__, n=10_000)
    p.add_argument("--due", type=int, default=1000, help="deadlines falling due at one instant")
    p.add_argument("--lead", type=float, default=10.0, help="seconds from setting T0 to T0 (+10 ms per case)")
    p.add_argument("--rest", type=float, default=15.0, help="seconds at rest before measuring")
    p.add_argument("--concurrency", type=int, default=32, help="signal-with-start calls in flight")
    p.add_argument("--baseline-first", action="store_true")
    p.add_argument("--worker-args", default="", help="tuning knobs for the vangnet worker")
    p.add_argument("--baseline-args", default="", help="tuning knobs for the baseline worker")
    p.add_argument("--cold", action="store_true",
                   help="restart the workers before the storm, so that every case is out of the cache")
    p.add_argument("--timeout", type=float, default=3600)
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()))
