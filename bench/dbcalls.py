"""How chatty the activities are with the case store: SQL statements, connections checked out
and wall time per activity, calling the activity functions directly (no Temporal) on a fresh
SQLite store, the way the worker builds it (`Store.open` + `CaseActivities`).

    .venv/bin/python -m bench.dbcalls [--repeat 200]

Prints one row per activity a case opening (or an eviction) runs, with the statements it issues.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from bench import _harness as h


async def main(args: argparse.Namespace) -> None:
    from activities import CaseActivities
    from bench.stores import StoreDB
    from vangnet.domain import ActionRequest, CaseContextRequest, CaseProjection, Receiver, Stage, Track
    from vangnet.settings import Settings
    from vangnet.store import Store

    with h.workdir() as wd:
        db = StoreDB.create(args.database, wd, "calls")  # issue 16: SQLite or PostgreSQL
        store = await Store.open(Settings(DATABASE_URL=db.url))
        acts = CaseActivities(store)
        statements: list[str] = []
        checkouts = [0]
        event.listen(store.engine.sync_engine, "before_cursor_execute",
                     lambda conn, cur, stmt, *a: statements.append(stmt.split()[0].upper()))
        event.listen(store.engine.sync_engine.pool, "checkout", lambda *a: checkouts.__setitem__(0, checkouts[0] + 1))

        counter = iter(range(10**9))

        def action(name: str, receivers: list[Receiver]) -> Any:
            i = next(counter)
            return lambda: acts.actions.activities[name](ActionRequest(
                action=name, case_id=f"case-woonbron-B{i}", idempotency_key=f"case-woonbron-B{i}/run/1",
                corporation="woonbron", municipality="dordrecht", receivers=receivers, at=datetime.now(UTC)))

        def context() -> Any:
            i = next(counter)
            return acts.context.resolve_case_context(CaseContextRequest(
                case_id=f"case-woonbron-B{i}", corporation="woonbron", municipality="dordrecht", run_id=f"r{i}"))

        def record() -> Any:
            i = next(counter)
            return acts.projection.record_case(CaseProjection(
                case_id=f"case-woonbron-B{i}", run_id=f"r{i}", corporation="woonbron", municipality="dordrecht",
                stage=Stage.arrears, track=Track.spoor_1, outcome=None, opened_at=datetime.now(UTC),
                closed_at=None))

        probes = {
            "resolve_case_context": context,
            "tenant_notice_sent": lambda: action("tenant_notice_sent", [Receiver.corporation])(),
            "record_case": record,
            "mpzo_notified": lambda: action("mpzo_notified", [Receiver.mpzo])(),
            "crisis_protocol_invoked": lambda: action("crisis_protocol_invoked", [Receiver.social_service])(),
        }
        rows = []
        for name, call in probes.items():
            await call()  # warm-up
            statements.clear()
            checkouts[0] = 0
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                await call()
                times.append(time.perf_counter() - t0)
            kinds = Counter(statements)
            rows.append((name, len(statements) / args.repeat, checkouts[0] / args.repeat,
                         statistics.median(times) * 1000,
                         ", ".join(f"{k} {v / args.repeat:g}" for k, v in kinds.most_common())))
        await store.close()
        db.drop()
    print(f"\n{'activity':26} {'stmts':>6} {'conns':>6} {'ms p50':>7}  statements")
    for name, st, co, ms, kinds in rows:
        print(f"{name:26} {st:6.1f} {co:6.1f} {ms:7.2f}  {kinds}")
    h.save("dbcalls", {"database": args.database,
                       "rows": [dict(zip(("activity", "statements", "connections", "ms_p50", "kinds"), r, strict=False))
                                for r in rows]}, args.json)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.dbcalls", description=__doc__)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--json", default=None)
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                   help="the case store: SQLite file or scratch PostgreSQL database (bench/stores.py)")
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()))
