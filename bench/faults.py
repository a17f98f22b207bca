"""The fault soak (issue 15): every fault of bench/_fault_scenarios.py, bigger and longer than the
short form in tests/faults, with the invariants checked over every case.

    .venv/bin/python -m bench.faults                       # the soak of docs/reliability.md
    .venv/bin/python -m bench.faults --cases 20 --runs 2 --outage 5 --faults worker_kill,partition
    .venv/bin/python -m bench.faults --faults store_locked \
        --store postgresql+asyncpg://postgres@127.0.0.1:5432/postgres   # PostgreSQL refusing

Writes bench/results/faults-<time>.json and prints a markdown table (fault × runs × events ×
lost × doubled × deadlines missed × max recovery time) for docs/reliability.md. Exit status 3
when any invariant was broken. Only loopback traffic; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench import _harness as h

COLUMNS = ("fault", "runs", "cases", "events", "lost", "doubled", "deadlines_missed",
           "messages_missing", "no_next_deadline", "not_deterministic", "intake_500s",
           "max_recovery_s", "max_outage_s", "max_deadline_lateness_s")


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    return head + "".join(
        "| " + " | ".join("–" if r.get(c) is None else str(r.get(c)) for c in COLUMNS) + " |\n"
        for r in rows)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    from bench._fault_scenarios import FAULTS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", type=int, default=40, help="cases at least, per fault (default 40)")
    p.add_argument("--payments", type=int, default=2, help="events per case after its opening")
    p.add_argument("--runs", type=int, default=4, help="injections per fault (default 4)")
    p.add_argument("--outage", type=float, default=10.0, help="seconds a dependency is down")
    p.add_argument("--store-outage", type=float, default=60.0,
                   help="seconds the case store stays locked (default 60)")
    p.add_argument("--concurrency", type=int, default=6, help="clients at once (default 6)")
    p.add_argument("--think", type=float, default=0.5, help="a client's pause after each event")
    p.add_argument("--max-cases", type=int, default=400, help="cases at most, per fault")
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in this order")
    p.add_argument("--store", default="sqlite",
                   help="sqlite (a file; its outage: held locked by another process) or a "
                        "PostgreSQL URL (its outage: connections refused); e.g. "
                        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    p.add_argument("--json", default=None, help="where to write the results")
    return p.parse_args(argv)


async def main() -> None:
    from bench import _fault_scenarios as S
    from bench import _faults as F

    args = parse()
    size = S.Size(cases=args.cases, payments=args.payments, runs=args.runs, outage=args.outage,
                  concurrency=args.concurrency, think=args.think, store_outage=args.store_outage,
                  max_cases=args.max_cases)
    faults = tuple(f for f in args.faults.split(",") if f)
    busy0, t0 = h.machine_busy_seconds(), time.monotonic()
    with h.workdir(keep=args.keep, prefix="vangnet-faults-") as wd:
        rig = F.Rig(Path(wd), store=args.store)
        await rig.start()
        try:
            outcomes = await S.run_all(rig, size, faults, args.seed, say=h.say)
        finally:
            await rig.stop()
    wall = time.monotonic() - t0
    rows = [o.row() for o in outcomes]
    broken = {o.fault: o.findings.broken() for o in outcomes if o.findings.broken()}
    table = markdown(rows)
    print(table)
    h.save("faults", {
        "size": size.__dict__, "faults": list(faults), "seed": args.seed,
        "store": "sqlite" if args.store == "sqlite" else "postgresql",
        "wall_seconds": round(wall, 1),
        # other work on the machine during the soak: cores busy on average (of 2)
        "machine_cores_busy": round((h.machine_busy_seconds() - busy0) / wall, 2),
        "rows": rows, "broken": broken, "table_markdown": table,
        "deadline_lateness_s": {o.fault: [round(x, 2) for x in o.deadline_lateness]
                                for o in outcomes if o.deadline_lateness},
        "recoveries_s": {o.fault: [round(x, 2) for x in o.recoveries] for o in outcomes},
    }, args.json)
    if broken:
        h.say(f"INVARIANTS BROKEN: {broken}")
        sys.exit(3)


if __name__ == "__main__":
    h.run(main)
