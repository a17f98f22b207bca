"""Benchmark 1 — month-end ingest.

N `arrears_reported` events for distinct tenancies, each opening a case, until every case has
sent `tenant_notice_sent` (its inbox message is in the case store). Events per second, against the
bare baseline (BaselineWorkflow: the same signal-with-start, the same three activities — one at
start, two per signal — doing nothing) on the same server in the same run. Target: ratio ≥ 0.8.

    .venv/bin/python -m bench.ingest                 # N=5000, direct signal-with-start
    .venv/bin/python -m bench.ingest --n 500         # quick run (about a minute)
    .venv/bin/python -m bench.ingest --via api       # through POST /v1/events/batch (when it exists)
    .venv/bin/python -m bench.ingest --via both      # both paths and the baseline, one server
    .venv/bin/python -m bench.ingest --n 2000 --profile   # py-spy on the vangnet worker
    .venv/bin/python -m bench.ingest --codec both    # vangnet with payload encryption and without

vangnet's payloads are encrypted (issue 12, vangnet/codec.py) with a key made for the run unless
`--codec off`; `--codec both` runs vangnet both ways beside the (bare, unencrypted) baseline.

Clock: from the first submission to the last `tenant_notice_sent` inbox row (`created_at`) for
vangnet, and to the last call of the baseline's `tenant_notice_sent` no-op for the baseline.
"Settled" is the same to the last `record_case` (the case waits on its timer).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import _harness as h
from bench import cases, intake, stores


def _db_times(w: h.WorkerProc, sql: str) -> tuple[int, float | None]:
    (count, last), = w.query(sql)
    return count, stores.epoch(last)


def notice_progress(w: h.WorkerProc) -> tuple[int, float | None]:
    return _db_times(w, "SELECT count(*), max(created_at) FROM inbox_message "
                        "WHERE action = 'tenant_notice_sent'")


def settled_progress(w: h.WorkerProc) -> tuple[int, float | None]:
    return _db_times(w, "SELECT count(*), max(updated_at) FROM case_record")


def invariants(w: h.WorkerProc, action: str) -> dict[str, int]:
    """What two (or more) workers must not break: no message doubled (one per case, action and
    receiving party), every case acted on."""
    return {
        "doubled_messages": w.query(
            "SELECT count(*) FROM (SELECT case_id, action, party_code FROM inbox_message "
            "GROUP BY case_id, action, party_code HAVING count(*) > 1) AS d")[0][0],
        "cases_acted": w.query(
            f"SELECT count(DISTINCT case_id) FROM inbox_message WHERE action = '{action}'")[0][0],
    }


def store_footprint(w: h.WorkerProc, n: int, before: tuple[dict[str, int], int]) -> dict[str, Any]:
    """Case-store rows and bytes the phase's n cases added, per case (docs/capacity.md)."""
    rows = {t: c - before[0].get(t, 0) for t, c in w.store.table_rows().items()}
    return {"store_rows": rows, "store_rows_per_case": sum(rows.values()) / n,
            "store_bytes_per_case": (w.store.used_bytes() - before[1]) / n}


def baseline_progress(w: h.WorkerProc, name: str) -> tuple[int, float | None]:
    s = w.stats()
    return s["counts"].get(name, 0), s["last"].get(name)


async def submit_direct(client: Any, task_queue: str, refs: list[str], since: date, kind: str,
                        concurrency: int, variant: dict[str, Any] | None = None) -> float:
    if kind == "vangnet":
        factories = [lambda r=r: cases.open_vangnet(client, task_queue, r, since) for r in refs]
    else:
        due = cases.early_signal_due(since)
        factories = [lambda r=r: cases.open_baseline(client, task_queue, r, due, variant=variant)
                     for r in refs]
    await cases.gather_limited(factories, concurrency)
    return time.time()


def api_events(refs: list[str], since: date) -> list[dict[str, Any]]:
    """The same events as the intake takes them (the source is the API key's party)."""
    events = []
    for r in refs:
        body = {"type": "arrears_reported", "tenancy_ref": r, "corporation": cases.CORPORATION,
                "municipality": cases.MUNICIPALITY, **cases.arrears_event(f"open-{r}", since)}
        body.pop("source")
        events.append(body)
    return events


async def run_phase(server: h.Server, wd: Path, args: argparse.Namespace, kind: str, via: str,
                    prefix: str, variant: dict[str, Any] | None = None,
                    knobs: str | None = None, codec: str = "on") -> dict[str, Any]:
    n = args.n
    since = date.today() - timedelta(days=1)
    refs = [cases.tenancy(prefix, i) for i in range(n)]
    tq = f"ingest-{prefix.lower()}"
    knobs = args.worker_args if knobs is None else knobs
    worker_args = knobs.split() if (knobs and kind == "vangnet") else []
    async with h.worker_process(kind, server, tq, wd, worker_args=worker_args, codec=codec,
                                database=args.database, count=args.workers) as w:
        client = await server.client(codec if kind == "vangnet" else "bare")
        profile = None
        if args.profile and kind == "vangnet":
            profile = h.RESULTS / "profiles" / f"ingest-{via}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        pids: dict[str, Any] = {"server": server.proc.pid, "worker": w.pids}
        if w.store is not None and w.store.kind == "postgres":
            pids["postgres"] = w.store.backend_pids
        ctx = intake.intake(server, w, wd) if via == "api" else None
        api = await ctx.__aenter__() if ctx else None
        try:
            if api:
                pids["intake"] = api.pid
            rss0 = w.rss()
            store0 = (w.store.table_rows(), w.store.used_bytes()) if kind == "vangnet" else None
            meter = h.CpuMeter(**pids).start()
            with h.pyspy(w.pid, profile):
                t0 = time.time()
                h.say(f"{kind} ({via}): submitting {n} arrears_reported events")
                if via == "api":
                    statuses = await intake.post_batches(api, api_events(refs, since),
                                                         args.batch_size, args.api_concurrency)
                    t_submitted = time.time()
                    h.say(f"  intake statuses: {statuses}")
                    if set(statuses) != {"202"}:
                        raise RuntimeError(f"the intake refused events: {statuses} (see {wd}/intake.log)")
                else:
                    t_submitted = await submit_direct(client, tq, refs, since, kind, args.concurrency,
                                                      variant)
                h.say(f"  submitted in {t_submitted - t0:.1f}s")
                if kind == "vangnet":
                    notice = lambda: notice_progress(w)  # noqa: E731
                    settle = lambda: settled_progress(w)  # noqa: E731
                else:
                    last = ((variant or {}).get("acts") or cases.OPEN_ACTS)[-1][-1].removeprefix("local:")
                    notice = lambda: baseline_progress(w, "tenant_notice_sent")  # noqa: E731
                    settle = lambda: baseline_progress(w, last)  # noqa: E731
                await h.wait_until(lambda: notice()[0] >= n, timeout=args.timeout,
                                   what="tenant_notice_sent", progress=lambda: f"{notice()[0]}/{n}")
                await h.wait_until(lambda: settle()[0] >= n, timeout=args.timeout,
                                   what="settled", progress=lambda: f"{settle()[0]}/{n}")
            meter.stop()
            t_notice = notice()[1]
            t_settled = settle()[1]
            rss1 = w.rss()
            extra = ({**invariants(w, "tenant_notice_sent"), **store_footprint(w, n, store0)}
                     if kind == "vangnet" else {})
        finally:
            if ctx:
                await ctx.__aexit__(None, None, None)
    res = {
        "kind": kind, "via": via, "codec": codec if kind == "vangnet" else "bare", "n": n,
        "submit_s": t_submitted - t0,
        "notice_s": t_notice - t0,
        "settled_s": t_settled - t0,
        "events_per_s": n / (t_notice - t0),
        "settled_per_s": n / (t_settled - t0),
        "submit_per_s": n / (t_submitted - t0),
        "worker_rss_mb_before": rss0 / 2**20,
        "worker_rss_mb_after": rss1 / 2**20,
        **meter.summary(),
        "cpu_ms_per_event": {k: 1000 * v / n for k, v in meter.used.items() if k != "machine"},
        "profile": str(profile) if profile else None,
        "database": args.database if kind == "vangnet" else None, "workers": args.workers,
        **extra,
    }
    h.say(f"  {kind} ({via}): {res['events_per_s']:.1f} events/s "
          f"(settled {res['settled_per_s']:.1f}/s); CPU ms/event "
          + ", ".join(f"{k} {v:.1f}" for k, v in res["cpu_ms_per_event"].items())
          + f"; other load {res['foreign_cores']:.2f} cores")
    return res


def _median(rs: list[dict[str, Any]], key: str, sub: str | None = None) -> float:
    import statistics

    return statistics.median(r[key][sub] if sub else r[key] for r in rs)


async def main(args: argparse.Namespace) -> None:
    vias = {"direct": ["direct"], "api": ["api"], "both": ["direct", "api"]}[args.via]
    if "api" in vias and not intake.available():
        h.say("the intake (starter/api.py) does not exist yet: running the direct path only")
        vias = ["direct"]
    codecs = {"on": [""], "off": ["/off"], "both": ["", "/off"]}[args.codec]
    vias = [f"{v}{c}" for v in vias for c in codecs]  # "direct", "direct/off", ...
    order = ["baseline", *vias] if args.baseline_first else [*vias, "baseline"]
    if args.tuned:
        order.insert(order.index("baseline"), "tuned")
    if args.order:
        order = [x for x in args.order.split(",") if x in ("baseline", "tuned") or x in vias]
    prefixes = {step: f"{step[0].upper()}{'X' if step.endswith('/off') else ''}" for step in order}
    results: dict[str, list[dict[str, Any]]] = {step: [] for step in order}
    h.say(f"phases: {', '.join(order)} × {args.rounds}")
    if args.what_if_only:
        order, results = [], {}
    with h.workdir(args.keep) as wd:
        async with h.dev_server(wd, persistence=args.persistence) as server:
            h.say(f"dev server on {server.address} ({args.persistence}), work dir {wd}")
            for rnd in range(args.rounds if order else 0):
                for step in order:
                    kind = "baseline" if step == "baseline" else "vangnet"
                    route, _, off = step.partition("/")
                    via = route if route in ("direct", "api") else "direct"
                    knobs = args.tuned if step == "tuned" else None
                    results[step].append(await run_phase(
                        server, wd, args, kind, via, prefix=f"{prefixes[step]}{rnd}", knobs=knobs,
                        codec="off" if off else "on"))
    what_if: dict[str, list[dict[str, Any]]] = {}
    if args.what_if or args.what_if_only:
        with h.workdir(args.keep) as wd:
            async with h.dev_server(wd, persistence=args.persistence) as server:
                h.say(f"what-if baselines on a fresh server {server.address}")
                variants = {"bare baseline (reference)": None, **cases.WHAT_IF}
                for rnd in range(args.rounds):
                    for i, (label, variant) in enumerate(variants.items()):
                        h.say(f"what-if: {label}")
                        what_if.setdefault(label, []).append(await run_phase(
                            server, wd, args, "baseline", "direct", prefix=f"W{rnd}x{i}", variant=variant))
    rows = []
    if args.what_if_only:
        vias = []
    else:
        base = results["baseline"]
    for via in vias:
        r = results[via]
        route, _, off = via.partition("/")
        label = ("signal-with-start" if route == "direct" else "intake batch API") + (
            ", codec off" if off else ", codec on")
        eps, beps = _median(r, "events_per_s"), _median(base, "events_per_s")
        rows += [
            h.Row(f"events/s to tenant_notice_sent ({label})", eps, beps, "ratio ≥ 0.8", eps / beps >= 0.8),
            h.Row(f"cases settled/s ({label})", _median(r, "settled_per_s"), _median(base, "settled_per_s")),
            h.Row(f"submission calls/s ({label})", _median(r, "submit_per_s"), _median(base, "submit_per_s")),
            h.Row("server CPU ms per event", _median(r, "cpu_ms_per_event", "server"),
                  _median(base, "cpu_ms_per_event", "server")),
            h.Row("worker CPU ms per event", _median(r, "cpu_ms_per_event", "worker"),
                  _median(base, "cpu_ms_per_event", "worker")),
            h.Row("worker RSS after (MB)", _median(r, "worker_rss_mb_after"), _median(base, "worker_rss_mb_after")),
            h.Row("other load on the machine (cores)", _median(r, "foreign_cores"), _median(base, "foreign_cores"),
                  fmt="{:.2f}"),
            h.Row("doubled messages (max over rounds)", max(x["doubled_messages"] for x in r), None,
                  "0", max(x["doubled_messages"] for x in r) == 0, fmt="{:.0f}"),
            h.Row("cases acted on (min over rounds)", min(x["cases_acted"] for x in r), None,
                  f"{args.n}", min(x["cases_acted"] for x in r) == args.n, fmt="{:.0f}"),
            h.Row("case-store bytes per case", _median(r, "store_bytes_per_case"), None, fmt="{:,.0f}"),
        ]
        if "postgres" in r[0]["cpu_ms_per_event"]:
            rows.append(h.Row("PostgreSQL CPU ms per event", _median(r, "cpu_ms_per_event", "postgres"), None))
        if "intake" in r[0]["cpu_ms_per_event"]:
            rows.append(h.Row("intake CPU ms per event", _median(r, "cpu_ms_per_event", "intake"), None))
    if args.tuned:
        r = results["tuned"]
        eps = _median(r, "events_per_s")
        rows += [
            h.Row(f"tuned worker ({args.tuned}): events/s", eps, _median(base, "events_per_s"),
                  "ratio ≥ 0.8", eps / _median(base, "events_per_s") >= 0.8),
            h.Row("tuned worker: worker CPU ms per event", _median(r, "cpu_ms_per_event", "worker"),
                  _median(base, "cpu_ms_per_event", "worker")),
            h.Row("tuned worker: worker RSS after (MB)", _median(r, "worker_rss_mb_after"),
                  _median(base, "worker_rss_mb_after")),
        ]
    for label, r in what_if.items():
        ref = what_if["bare baseline (reference)"]
        rows.append(h.Row(f"what-if: {label}, events/s", _median(r, "events_per_s"),
                          _median(ref, "events_per_s")))
        rows.append(h.Row(f"what-if: {label}, server CPU ms/event", _median(r, "cpu_ms_per_event", "server"),
                          _median(ref, "cpu_ms_per_event", "server")))
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print(h.table(f"Month-end ingest, N={args.n} ({args.persistence} persistence{rounds}; case store "
                  f"{args.database}; {args.workers} worker process(es) each)", rows))
    h.save("ingest", {"args": vars(args), "results": results, "what_if": what_if}, args.json)


def parser() -> argparse.ArgumentParser:
    p = h.parser("python -m bench.ingest", __doc__, n=5000)
    p.add_argument("--via", choices=("direct", "api", "both"), default="direct")
    p.add_argument("--codec", choices=("on", "off", "both"), default="on",
                   help="vangnet's payload encryption (issue 12): on, off, or both phases")
    p.add_argument("--concurrency", type=int, default=32, help="signal-with-start calls in flight")
    p.add_argument("--batch-size", type=int, default=500, help="events per batch API call")
    p.add_argument("--api-concurrency", type=int, default=2, help="batch API calls in flight")
    p.add_argument("--what-if", action="store_true",
                   help="also run baseline variants (upserts, local activities, one activity) on a "
                        "second server: what the proposed changes would approach")
    p.add_argument("--what-if-only", action="store_true", help="only the what-if baselines")
    p.add_argument("--rounds", type=int, default=1, help="alternate vangnet/baseline this many times")
    p.add_argument("--baseline-first", action="store_true", help="run the baseline phase first")
    p.add_argument("--order", default="", help="phase order, e.g. 'api,baseline,direct'")
    p.add_argument("--profile", action="store_true", help="py-spy the vangnet worker (raw stacks)")
    p.add_argument("--worker-args", default="",
                   help="tuning knobs for the vangnet worker, e.g. '--max-cached-workflows 5000' "
                        "(runs `python -m bench.workers vangnet` instead of `python -m workers`)")
    p.add_argument("--tuned", default="",
                   help="also run vangnet (direct) with these worker knobs, e.g. "
                        "'--max-cached-workflows 6000' (bench/workers.py lists them)")
    p.add_argument("--timeout", type=float, default=3600)
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()))
