"""Bounded case state (RULES §12): N events on one case through the rules core and the workflow's
timeline archive (no server), printing per 1,000 events the size of what continue-as-new would
carry and the time per step. Flat is the goal: the same size and step time at the 10,000th event
as at the 1,000th.

    .venv/bin/python -m bench.case_state            # N = 10,000
    .venv/bin/python -m bench.case_state --n 3000
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from tests.rules.helpers import ams, make_state
from tests.workflow.test_bounded_state import LIMIT_ENTRIES, carried, events
from vangnet.domain import parse_event
from vangnet.rules import apply_event
from workflows.case import archive_count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.case_state", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    now = ams(2026, 1, 5, 9)
    state = make_state()
    state = apply_event(state, parse_event("arrears_reported", {
        "event_id": "open", "source": "woonbron", "arrears_cents": 9_000_000,
        "monthly_rent_cents": 90_000_000, "arrears_since": "2026-01-01"}), now).state
    archived, spent = 0, 0.0
    print(f"{'events':>7} {'carried KB':>10} {'seen ids':>8} {'timeline':>8} {'ms/event':>8}")
    for i, (kind, payload) in enumerate(events(args.n), start=1):
        now += timedelta(seconds=30)
        t0 = time.perf_counter()
        state = apply_event(state, parse_event(kind, payload), now).state
        excess = archive_count(len(state.timeline), LIMIT_ENTRIES)
        if excess:
            del state.timeline[:excess]
            archived += excess
        spent += time.perf_counter() - t0
        if i % 1000 == 0:
            print(f"{i:>7} {carried(state, archived) / 1024:>10.1f} {len(state.seen_event_ids):>8} "
                  f"{len(state.timeline):>8} {spent:>8.2f}", flush=True)
            spent = 0.0


if __name__ == "__main__":
    main()
