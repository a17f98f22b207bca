"""Summarise a py-spy raw (collapsed stacks) profile: where the samples go.

    .venv/bin/python -m bench.profile_report bench/results/profiles/ingest-direct-….txt [--top 25]

Prints: samples by category of the innermost frame (self time: sandbox machinery, payload
conversion, pydantic, SQLAlchemy, logging, vangnet's own code, …), the top functions by self
time, and the project's own functions (vangnet/, workflows/, activities/) by inclusive time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# (category, path fragment) in order: the first match names the category of a frame.
CATEGORIES = [
    ("workflow sandbox (import/restrictions)", "temporalio/worker/workflow_sandbox/"),
    ("payload conversion (SDK visitor/converter)", "temporalio/bridge/_visitor"),
    ("payload conversion (SDK visitor/converter)", "temporalio/converter"),
    ("payload conversion (SDK visitor/converter)", "temporalio/contrib/pydantic"),
    ("payload conversion (SDK visitor/converter)", "temporalio/worker/_command_aware_visitor"),
    ("pydantic", "pydantic"),
    ("protobuf", "google/protobuf"),
    ("SQLAlchemy / aiosqlite / sqlite3", "sqlalchemy/"),
    ("SQLAlchemy / aiosqlite / sqlite3", "aiosqlite/"),
    ("SQLAlchemy / aiosqlite / sqlite3", "sqlite3/"),
    ("logging (structlog)", "structlog/"),
    ("logging (structlog)", "logging/"),
    ("case store (vangnet/store)", "vangnet/store/"),
    ("vangnet rules/domain/calendar", "vangnet/"),
    ("workflows/case.py", "workflows/"),
    ("activities/", "activities/"),
    ("dates (dateutil/holidays/zoneinfo)", "dateutil/"),
    ("dates (dateutil/holidays/zoneinfo)", "holidays/"),
    ("dates (dateutil/holidays/zoneinfo)", "zoneinfo/"),
    ("Temporal SDK (other)", "temporalio/"),
    ("asyncio event loop", "asyncio/"),
    ("threads / futures", "concurrent/futures"),
    ("threads / futures", "threading.py"),
    ("import machinery", "importlib"),
    ("import machinery", "<frozen importlib"),
]
PROJECT = ("vangnet/", "workflows/", "activities/", "workers/")
# Leaf frames that mean "waiting" (py-spy's --nonblocking sampling counts them): left out.
IDLE = ("EpollSelector.select (", "_worker (concurrent/futures/thread.py", "Condition.wait (",
        "Event.wait (", "Thread._wait_for_tstate_lock (", "BaseEventLoop._run_once (asyncio/base_events.py:1",
        "SimpleQueue.get (", "Queue.get (")


def category(frame: str) -> str:
    for name, frag in CATEGORIES:
        if frag in frame:
            return name
    return "other"


def short(frame: str) -> str:
    """Frame without its line number: 'func (file)'."""
    m = FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def parse(path: Path) -> list[tuple[list[str], int]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out.append((stack.split(";"), int(n)))
    return out


def report(path: Path, top: int = 25) -> str:
    every = parse(path)
    stacks = [(f, n) for f, n in every if not f[-1].startswith(IDLE)]
    idle = sum(n for _, n in every) - sum(n for _, n in stacks)
    total = sum(n for _, n in stacks) or 1
    by_cat: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_project: Counter[str] = Counter()
    incl_cat: Counter[str] = Counter()
    for frames, n in stacks:
        leaf = frames[-1]
        by_cat[category(leaf)] += n
        self_fn[short(leaf)] += n
        for f in {short(f) for f in frames if any(p in f for p in PROJECT)}:
            incl_project[f] += n
        for c in {category(f) for f in frames}:
            incl_cat[c] += n
    lines = [f"{path.name}: {total} busy samples ({idle} waiting samples left out)", "",
             "self time by category of the innermost frame:"]
    lines += [f"  {100 * n / total:5.1f}%  {c}" for c, n in by_cat.most_common()]
    lines += ["", "stacks that pass through (inclusive, categories overlap):"]
    lines += [f"  {100 * n / total:5.1f}%  {c}" for c, n in incl_cat.most_common(12)]
    lines += ["", f"top {top} functions by self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_fn.most_common(top)]
    lines += ["", f"top {top} project functions by inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl_project.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile_report")
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    print(report(args.profile, args.top))


if __name__ == "__main__":
    main()
