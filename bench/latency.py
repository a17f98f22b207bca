"""Benchmark 2 — event-to-action latency.

N open cases (opened by arrears_reported, then left alone); then, at a steady RATE events/s
(open loop: each send is scheduled at t0 + i/RATE whatever the previous ones did), one
`eviction_announced` to each case. Per event: the time from the event being accepted (its
WorkflowExecutionSignaled event in the case history, i.e. the moment the server has it durably) to
`crisis_protocol_invoked` being on the timeline (the ActivityTaskScheduled event of that action: the
workflow task that put the entry on the case's timeline has completed, so the `timeline` query
shows it), and to its message being delivered (ActivityTaskCompleted). Times come from the
histories afterwards, so measuring does not load the system. Target: p99 < 1 s.

The baseline workflow gets the same signal and runs the same three activities (mpzo_notified and
crisis_protocol_invoked together, then record_case) doing nothing.

Cache: by default (`--cache cold`) the worker is restarted between opening the cases and sending
the events, so each event meets a case that is not in the worker's cache and is replayed from its
history first: a case hears of an eviction weeks after it opened. `--cache warm` keeps the worker.

    .venv/bin/python -m bench.latency                 # N=600 at 10/s (one minute of load)
    .venv/bin/python -m bench.latency --n 100         # quick
    .venv/bin/python -m bench.latency --via api       # POST /v1/events (when the intake exists)
    .venv/bin/python -m bench.latency --codec both    # vangnet with payload encryption and without
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import _harness as h
from bench import cases, intake
from vangnet.domain import case_id_for


async def open_fleet(client: Any, tq: str, kind: str, refs: list[str], w: h.WorkerProc,
                     concurrency: int) -> None:
    since = date.today() - timedelta(days=1)
    if kind == "vangnet":
        await cases.gather_limited(
            [lambda r=r: cases.open_vangnet(client, tq, r, since) for r in refs], concurrency)
        done = lambda: w.query("SELECT count(*) FROM case_record")[0][0]  # noqa: E731
    else:
        due = cases.early_signal_due(since)
        await cases.gather_limited(
            [lambda r=r: cases.open_baseline(client, tq, r, due) for r in refs], concurrency)
        done = lambda: w.stats()["counts"].get("record_case", 0)  # noqa: E731
    await h.wait_until(lambda: done() >= len(refs), timeout=3600, what="cases open",
                       progress=lambda: f"{done()}/{len(refs)}")


def eviction_payload(ref: str) -> dict[str, Any]:
    return {"event_id": f"evict-{ref}", "source": cases.CORPORATION,
            "eviction_date": (date.today() + timedelta(days=30)).isoformat()}


async def drive(client: Any, kind: str, refs: list[str], rate: float, api: Any) -> dict[str, tuple]:
    """Send one eviction_announced per case at `rate`/s; returns ref -> (sent, returned) times."""
    sent: dict[str, tuple] = {}
    http = None
    if api is not None:
        import httpx

        http = httpx.AsyncClient(timeout=60)

    async def one(ref: str) -> None:
        t_send = time.time()
        if api is not None:
            body = {"type": "eviction_announced", "tenancy_ref": ref, "corporation": cases.CORPORATION,
                    "municipality": cases.MUNICIPALITY, **eviction_payload(ref)}
            body.pop("source")
            await intake.post_one(http, api, body)
        elif kind == "vangnet":
            await client.get_workflow_handle(case_id_for(cases.CORPORATION, ref)).signal(
                "eviction_announced", eviction_payload(ref))
        else:
            await client.get_workflow_handle(f"baseline-{ref}").signal(
                "eviction_announced", {"acts": cases.EVICTION_ACTS})
        sent[ref] = (t_send, time.time())

    tasks = []
    t0 = time.monotonic()
    for i, ref in enumerate(refs):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(ref)))
    await asyncio.gather(*tasks)
    if http is not None:
        await http.aclose()
    return sent


async def measure(client: Any, kind: str, refs: list[str], sent: dict[str, tuple]) -> dict[str, list[float]]:
    async def one(ref: str) -> tuple[float, float, float, float]:
        wid = case_id_for(cases.CORPORATION, ref) if kind == "vangnet" else f"baseline-{ref}"
        events = await cases.history_events(client.get_workflow_handle(wid))
        accepted = cases.signal_times(events, "eviction_announced")[0]
        scheduled, completed = cases.activity_times(events, "crisis_protocol_invoked")[0]
        a = accepted.timestamp()
        return (scheduled.timestamp() - a, completed.timestamp() - a,
                scheduled.timestamp() - sent[ref][0], sent[ref][1] - sent[ref][0])

    rows = await cases.gather_limited([lambda r=r: one(r) for r in refs], 20)
    keys = ("to_timeline", "to_delivered", "send_to_timeline", "accept_call")
    return {k: [r[i] for r in rows] for i, k in enumerate(keys)}


async def run_phase(server: h.Server, wd: Path, args: argparse.Namespace, kind: str, via: str,
                    prefix: str, codec: str = "on") -> dict[str, Any]:
    refs = [cases.tenancy(prefix, i) for i in range(args.n)]
    tq = f"latency-{prefix.lower()}"
    client = await server.client(codec if kind == "vangnet" else "bare")
    worker_args = args.worker_args.split() if (args.worker_args and kind == "vangnet") else []
    async with contextlib.AsyncExitStack() as stack:
        w = await stack.enter_async_context(h.worker_process(kind, server, tq, wd, worker_args=worker_args,
                                                             codec=codec, database=args.database,
                                                             count=args.workers))
        h.say(f"{kind}: opening {args.n} cases")
        await open_fleet(client, tq, kind, refs, w, args.concurrency)
        if args.cache == "cold":  # a fresh worker: every case must be replayed from its history
            for p in w.procs:
                p.stop()
            w = await stack.enter_async_context(h.worker_process(kind, server, tq, wd, worker_args=worker_args,
                                                                 codec=codec, database=args.database,
                                                                 count=args.workers, store=w.store))
        if via == "api":
            api = await stack.enter_async_context(intake.intake(server, w, wd))
        else:
            api = None
        # A stopped worker's sticky queue keeps receiving its cases' tasks (5 s sticky timeout each)
        # until the server sees it has no pollers: let that window pass before measuring.
        await asyncio.sleep(15 if args.cache == "cold" else 2)
        h.say(f"{kind} ({via}, {args.cache} cache): {args.n} eviction_announced at {args.rate}/s")
        pids: dict[str, Any] = {"server": server.proc.pid, "worker": w.pids}
        if w.store is not None and w.store.kind == "postgres":
            pids["postgres"] = w.store.backend_pids
        meter = h.CpuMeter(**pids).start()
        profile = (h.RESULTS / "profiles" / f"latency-{via}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
                   if args.profile and kind == "vangnet" else None)
        with h.pyspy(w.pid, profile):
            sent = await drive(client, kind, refs, args.rate, api)
        if kind == "vangnet":
            wq = w
            done = lambda: wq.query(  # noqa: E731
                "SELECT count(*) FROM inbox_message WHERE action='crisis_protocol_invoked'")[0][0]
        else:
            done = lambda: w.stats()["counts"].get("crisis_protocol_invoked", 0)  # noqa: E731
        await h.wait_until(lambda: done() >= args.n, timeout=args.timeout, what="crisis_protocol_invoked",
                           progress=lambda: f"{done()}/{args.n}")
        meter.stop()
    lat = await measure(client, kind, refs, sent)
    summary = {k: {f"p{p}": h.percentile(v, p) for p in (50, 95, 99, 100)} for k, v in lat.items()}
    h.say(f"  {kind}: accepted→timeline p50 {summary['to_timeline']['p50']*1000:.0f} ms, "
          f"p99 {summary['to_timeline']['p99']*1000:.0f} ms")
    return {"kind": kind, "via": via, "codec": codec if kind == "vangnet" else "bare",
            "n": args.n, "rate": args.rate, "cache": args.cache,
            "database": args.database if kind == "vangnet" else None, "workers": args.workers,
            "latency_s": summary, "raw_s": {k: [round(x, 4) for x in v] for k, v in lat.items()}, **meter.summary(),
            "cpu_ms_per_event": {k: 1000 * v / args.n for k, v in meter.used.items() if k != "machine"}}


async def main(args: argparse.Namespace) -> None:
    via = args.via
    if via == "api" and not intake.available():
        h.say("the intake (starter/api.py) does not exist yet: signalling directly")
        via = "direct"
    codecs = {"on": ["on"], "off": ["off"], "both": ["on", "off"]}[args.codec]
    phases = [("vangnet" if c == "on" else "vangnet/off", "vangnet", c) for c in codecs]
    phases.append(("baseline", "baseline", "bare"))
    results: dict[str, Any] = {}
    with h.workdir(args.keep) as wd:
        async with h.dev_server(wd, persistence=args.persistence) as server:
            h.say(f"dev server on {server.address} ({args.persistence}), work dir {wd}")
            for i, (name, kind, codec) in enumerate(phases):
                results[name] = await run_phase(server, wd, args, kind,
                                                via if kind == "vangnet" else "direct",
                                                prefix=f"L{name[0].upper()}{'X' if codec == 'off' else ''}{i}",
                                                codec=codec if kind == "vangnet" else "on")
    b = results["baseline"]["latency_s"]
    ms = "{:,.0f}"
    rows = []
    for name, _, codec in phases[:-1]:
        v = results[name]["latency_s"]
        tag = f" (codec {codec})" if len(phases) > 2 or codec == "off" else ""
        rows += [
            h.Row(f"accepted → on timeline p50 (ms){tag}", v["to_timeline"]["p50"] * 1000, b["to_timeline"]["p50"] * 1000, fmt=ms),
            h.Row(f"accepted → on timeline p95 (ms){tag}", v["to_timeline"]["p95"] * 1000, b["to_timeline"]["p95"] * 1000, fmt=ms),
            h.Row(f"accepted → on timeline p99 (ms){tag}", v["to_timeline"]["p99"] * 1000, b["to_timeline"]["p99"] * 1000,
                  "p99 < 1000 ms", v["to_timeline"]["p99"] < 1.0, fmt=ms),
            h.Row(f"accepted → delivered p50 (ms){tag}", v["to_delivered"]["p50"] * 1000, b["to_delivered"]["p50"] * 1000, fmt=ms),
            h.Row(f"accepted → delivered p99 (ms){tag}", v["to_delivered"]["p99"] * 1000, b["to_delivered"]["p99"] * 1000, fmt=ms),
            h.Row(f"request sent → on timeline p99 (ms){tag}", v["send_to_timeline"]["p99"] * 1000,
                  b["send_to_timeline"]["p99"] * 1000, fmt=ms),
            h.Row(f"accept call p99 (ms){tag}", v["accept_call"]["p99"] * 1000, b["accept_call"]["p99"] * 1000, fmt=ms),
            h.Row(f"server CPU ms per event{tag}", results[name]["cpu_ms_per_event"]["server"],
                  results["baseline"]["cpu_ms_per_event"]["server"]),
            h.Row(f"worker CPU ms per event{tag}", results[name]["cpu_ms_per_event"]["worker"],
                  results["baseline"]["cpu_ms_per_event"]["worker"]),
            h.Row(f"other load on the machine (cores){tag}", results[name]["foreign_cores"],
                  results["baseline"]["foreign_cores"], fmt="{:.2f}"),
        ]
    print(h.table(f"Event-to-action latency, N={args.n} at {args.rate}/s, {args.cache} cache, via {via} "
                  f"(case store {args.database}, {args.workers} worker process(es))", rows))
    h.save("latency", {"args": vars(args), "results": results}, args.json)


def parser() -> argparse.ArgumentParser:
    p = h.parser("python -m bench.latency", __doc__, n=600)
    p.add_argument("--rate", type=float, default=10.0, help="events per second (default 10)")
    p.add_argument("--via", choices=("direct", "api"), default="direct")
    p.add_argument("--codec", choices=("on", "off", "both"), default="on",
                   help="vangnet's payload encryption (issue 12): on, off, or both phases")
    p.add_argument("--cache", choices=("cold", "warm"), default="cold")
    p.add_argument("--concurrency", type=int, default=32, help="signal-with-start calls in flight (opening)")
    p.add_argument("--worker-args", default="", help="tuning knobs for the vangnet worker")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--profile", action="store_true", help="py-spy the vangnet worker while events arrive")
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()))
