"""The rules core alone: CPU time of one step (`apply_event`, `fire_due_deadlines`) as a case's
state grows, with no Temporal and no database.

    .venv/bin/python -m bench.rules_step [--sizes 100,1000,5000,10000] [--repeat 200]

A case in a payment arrangement receives `payment_received` events until its timeline holds
the given number of entries; then the next `repeat` events are timed one by one (median and p95),
as are `fire_due_deadlines` with nothing due and the `status` query. A step that copies the whole
state grows with the timeline; one that copies only what it changes stays flat.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, date, datetime, timedelta


def _case():  # noqa: ANN202
    from vangnet import rules
    from vangnet.domain import CaseContext, PartyKind
    from vangnet.policy import Policy

    state = rules.new_case("case-woonbron-BENCH", "BENCH", "woonbron", "dordrecht")
    state.context = CaseContext(
        social_service="sdd", social_team="sociale-wijkteams-dordrecht", mpzo="mpzo",
        policy=Policy(),
        parties={"woonbron": PartyKind.corporation, "dordrecht": PartyKind.municipality,
                 "sdd": PartyKind.social_service,
                 "sociale-wijkteams-dordrecht": PartyKind.social_team,
                 "mpzo": PartyKind.mpzo, "operator": PartyKind.operator},
    )
    return state


def main(args: argparse.Namespace) -> None:
    from vangnet import rules
    from vangnet.domain import (
        ArrearsReported,
        DebtHelpStarted,
        HelpAccepted,
        PaymentArrangementAgreed,
        PaymentReceived,
    )

    now = datetime(2030, 1, 7, 9, tzinfo=UTC)
    state = _case()
    opening = [
        ArrearsReported(event_id="b-0", source="woonbron", arrears_cents=10**9,
                        monthly_rent_cents=80_000, arrears_since=date(2030, 1, 1)),
        HelpAccepted(event_id="b-1", source="dordrecht"),
        DebtHelpStarted(event_id="b-2", source="sdd"),
        PaymentArrangementAgreed(event_id="b-3", source="sdd", monthly_amount_cents=1_000,
                                 months=600),
    ]
    for event in opening:
        state = rules.apply_event(state, event, now).state
    counter = iter(range(4, 10**9))
    remaining = 10**9

    def payment() -> PaymentReceived:
        nonlocal remaining
        remaining -= 1
        return PaymentReceived(event_id=f"b-{next(counter)}", source="woonbron",
                               amount_cents=1, arrears_cents=remaining)

    print(f"{'timeline entries':>17} | {'apply_event ms (median / p95)':>30} | "
          f"{'fire_due_deadlines ms':>22} | {'status ms':>9}")
    for size in sorted(int(s) for s in args.sizes.split(",")):
        while len(state.timeline) < size:
            now += timedelta(minutes=1)
            state = rules.apply_event(state, payment(), now).state
        step_ms, fire_ms, status_ms = [], [], []
        probe = state
        for _ in range(args.repeat):
            now += timedelta(minutes=1)
            event = payment()
            t0 = time.perf_counter()
            step = rules.apply_event(probe, event, now)
            t1 = time.perf_counter()
            rules.fire_due_deadlines(step.state, now)
            t2 = time.perf_counter()
            rules.status(step.state, now)
            t3 = time.perf_counter()
            step_ms.append((t1 - t0) * 1000)
            fire_ms.append((t2 - t1) * 1000)
            status_ms.append((t3 - t2) * 1000)
        # `probe` stays at `size`: every timed step starts from the same state size
        p95 = statistics.quantiles(step_ms, n=20)[-1]
        print(f"{len(probe.timeline):>17} | {statistics.median(step_ms):>14.3f} / {p95:>13.3f} | "
              f"{statistics.median(fire_ms):>22.3f} | {statistics.median(status_ms):>9.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000,10000")
    parser.add_argument("--repeat", type=int, default=200)
    main(parser.parse_args())
