"""The six faults of issue 15, each injected `runs` times into a running load (bench/_faults.py).

Each scenario returns an `Outcome`: the invariants' figures over its cases, the recovery time of
every injection (a canary case sent through the intake when the fault ends, until its first
action is delivered) and what the intake and /readyz answered while a dependency was down.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench import _faults as F

FAULTS = ("worker_kill", "server_restart", "intake_kill", "store_locked", "partition",
          "deadline_in_outage")


@dataclass
class Size:
    cases: int = 12  # per scenario
    payments: int = 2  # events per case after its opening
    runs: int = 2  # injections per scenario
    outage: float = 3.0  # seconds a dependency stays down (store lock, server, partition)
    concurrency: int = 6
    think: float = 0.0  # a client's pause after each event
    store_outage: float | None = None  # how long the store stays locked (default: outage)
    max_cases: int = 5000  # per scenario: the load stops opening cases there


@dataclass
class Outcome:
    fault: str
    runs: int
    findings: F.Findings
    recoveries: list[float] = field(default_factory=list)
    # what the intake answered to events, and /readyz, while the dependency was down
    outage_answers: Counter = field(default_factory=Counter)
    outage_readyz: Counter = field(default_factory=Counter)
    outage_codes: Counter = field(default_factory=Counter)  # the same answers with their codes
    deadline_lateness: list[float] = field(default_factory=list)  # seconds past due, per deadline
    outage_lengths: list[float] = field(default_factory=list)
    # cases opened by a probe at the start of each outage (checked with the load's cases)
    probes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        f = self.findings
        return {
            "fault": self.fault, "runs": self.runs, "cases": f.cases, "events": f.events_202,
            "lost": len(f.lost), "doubled": len(f.doubled) + len(f.messages_doubled),
            "deadlines_missed": len(f.deadlines_missed), "messages": f.messages,
            "messages_missing": len(f.messages_missing), "no_next_deadline": len(f.no_next_deadline),
            "not_deterministic": len(f.not_deterministic), "never_accepted": len(f.never_accepted),
            "intake_500s": f.server_errors,
            "max_recovery_s": round(max(self.recoveries), 2) if self.recoveries else None,
            "max_deadline_lateness_s": (round(max(self.deadline_lateness), 2)
                                        if self.deadline_lateness else None),
            "max_outage_s": round(max(self.outage_lengths), 2) if self.outage_lengths else None,
            "outage_answers": {str(k): v for k, v in self.outage_answers.items()},
            "outage_readyz": {str(k): v for k, v in self.outage_readyz.items()},
            "outage_codes": dict(self.outage_codes),
            "seconds": round(self.seconds, 1),
        }


async def _under_load(rig: F.Rig, load: F.Load, size: Size, prefix: str, inject: Any) -> list[str]:
    """Runs the load and `inject()` side by side (the load goes on until the last injection
    has recovered, and spans at least `size.cases` cases); returns the load's refs."""
    stop = asyncio.Event()
    work = asyncio.create_task(load.run_until(stop, size.cases, prefix, size.payments,
                                              size.max_cases))
    try:
        await asyncio.sleep(0.5)  # the load is under way before the first fault
        await inject()
    finally:
        stop.set()
        refs = await work
    return refs


async def _pause(rng: random.Random, lo: float = 0.3, hi: float = 2.0) -> None:
    await asyncio.sleep(rng.uniform(lo, hi))


async def worker_kill(rig: F.Rig, load: F.Load, size: Size, rng: random.Random) -> Outcome:
    """(1) The worker SIGKILLed at random moments; a new worker each time."""
    out = Outcome("worker_kill", size.runs, F.Findings())

    async def inject() -> None:
        for _ in range(size.runs):
            await _pause(rng)
            await _killed(load, out, rig.kill_worker, rig.start_worker, rng.uniform(0, 1.0))
    refs = await _under_load(rig, load, size, "WK", inject)
    out.findings = await F.check(rig, load, refs)
    return out


async def _killed(load: F.Load, out: Outcome, kill: Any, start: Any, down: float) -> None:
    """One process killed (`kill()`), left dead for `down` seconds and started again (`start()`);
    the outage lasts until it is back, the recovery until the canary's first action."""
    kill()
    t0 = time.monotonic()
    await asyncio.sleep(down)
    t1 = time.monotonic()
    await start()
    out.outage_lengths.append(time.monotonic() - t0)
    await F.canary(load.rig, load)
    out.recoveries.append(time.monotonic() - t1)


async def _down(rig: F.Rig, load: F.Load, out: Outcome, seconds: float, begin: Any,
                end: Any) -> None:
    """One outage: `begin()`, `seconds` of watching the intake and /readyz, `end()`, then the
    canary's recovery time (counted from the moment the dependency is back). A probe client
    opens a case the moment the dependency goes down, so at least one call is answered inside
    the outage whatever the load's clients happen to be waiting on (it retries until its 202,
    and its case is checked with the rest)."""
    watch = F.ReadyzWatch(rig)
    await begin()
    t0 = time.monotonic()
    watch.start()
    [ref] = load.new_refs(1, "PROBE")
    out.probes.append(ref)
    probe = asyncio.create_task(load.until_202(F.opening(ref)))
    await asyncio.sleep(seconds)
    await watch.stop()
    t1 = time.monotonic()
    out.outage_readyz.update(watch.between(t0, t1))
    out.outage_answers.update(load.statuses(t0, t1))  # calls made while it was down
    out.outage_codes.update(load.codes(t0, t1))
    t2 = time.monotonic()
    await end()
    out.outage_lengths.append(time.monotonic() - t0)
    await F.canary(rig, load)
    out.recoveries.append(time.monotonic() - t2)
    await probe


async def server_restart(rig: F.Rig, load: F.Load, size: Size, rng: random.Random) -> Outcome:
    """(2) The Temporal dev server SIGKILLed mid-load and restarted on its SQLite file."""
    out = Outcome("server_restart", size.runs, F.Findings())

    async def begin() -> None:
        rig.kill_server()

    async def end() -> None:
        await rig.start_server()

    async def inject() -> None:
        for _ in range(size.runs):
            await _pause(rng)
            await _down(rig, load, out, size.outage, begin, end)
    refs = await _under_load(rig, load, size, "SR", inject)
    out.findings = await F.check(rig, load, refs + out.probes)
    return out


async def intake_kill(rig: F.Rig, load: F.Load, size: Size, rng: random.Random) -> Outcome:
    """(3) The intake SIGKILLed mid-request and restarted; the clients retry."""
    out = Outcome("intake_kill", size.runs, F.Findings())

    async def inject() -> None:
        for _ in range(size.runs):
            await _pause(rng, 0.2, 1.0)
            await _killed(load, out, rig.kill_intake, rig.start_intake, rng.uniform(0, 0.5))
    refs = await _under_load(rig, load, size, "IK", inject)
    out.findings = await F.check(rig, load, refs)
    assert sum(1 for a in load.answers if a.status is None) >= 1 or size.runs == 0
    return out


async def store_locked(rig: F.Rig, load: F.Load, size: Size, rng: random.Random) -> Outcome:
    """(4) The case store unavailable while activities and intake calls run: SQLite held locked
    by another process, or PostgreSQL refusing connections (its proxy resets them)."""
    out = Outcome("store_refused_pg" if rig.postgres else "store_locked", size.runs, F.Findings())

    async def begin() -> None:
        if rig.postgres:
            rig.lock_store()  # the proxy lives on this loop
        else:  # waits for the lock holder to say so
            await asyncio.get_running_loop().run_in_executor(None, rig.lock_store)

    async def end() -> None:
        rig.unlock_store()

    async def inject() -> None:
        for _ in range(size.runs):
            await _pause(rng)
            await _down(rig, load, out, size.store_outage or size.outage, begin, end)
    refs = await _under_load(rig, load, size, "SL", inject)
    out.findings = await F.check(rig, load, refs + out.probes)
    return out


async def partition(rig: F.Rig, load: F.Load, size: Size, rng: random.Random) -> Outcome:
    """(5) Worker and server cut apart by the proxy, dropping and stalling in turn, then healed."""
    out = Outcome("partition", size.runs, F.Findings())
    assert rig.proxy is not None
    proxy = rig.proxy

    async def inject() -> None:
        for i in range(size.runs):
            await _pause(rng)
            mode = ("drop", "stall")[i % 2]

            async def begin(mode: str = mode) -> None:
                proxy.partition(mode)

            async def end() -> None:
                proxy.heal()
            await _down(rig, load, out, size.outage, begin, end)
    refs = await _under_load(rig, load, size, "NP", inject)
    out.findings = await F.check(rig, load, refs + out.probes)
    return out


async def deadline_in_outage(rig: F.Rig, load: F.Load, size: Size, rng: random.Random) -> Outcome:
    """(6) A deadline falls due during an outage: the worker killed, the worker cut off (stalled
    partition) or the Temporal server killed, in turn. It fires after recovery, late by the
    outage and no more. The case's own clock is moved with per-workflow time skipping: past the
    deadline while the worker is away; for the server, to 2 s before it just before the kill
    (the case's clock runs on with the real one, so the deadline falls due while the server is
    down)."""
    out = Outcome("deadline_in_outage", size.runs, F.Findings())
    refs = await load.run(size.cases, "DO", size.payments)
    await F.wait_settled(rig, [F.case_id_of(r) for r in refs])
    per_run = max(1, len(refs) // max(1, size.runs))
    for i in range(size.runs):
        chosen = refs[i * per_run:(i + 1) * per_run] or refs[-1:]
        kind = ("worker_kill", "partition", "server_down")[i % 3]
        assert rig.client is not None and rig.skipper is not None
        dues: dict[str, tuple[str, datetime]] = {}
        moves = {}
        for ref in chosen:
            handle = rig.client.get_workflow_handle(F.case_id_of(ref))
            nxt = (await handle.query("status"))["next_deadline"]
            due = datetime.fromisoformat(nxt["due_at"])
            dues[handle.id] = (nxt["kind"], due)
            until_due = due - await rig.skipper.get_current_time(handle)
            if kind == "server_down":
                await rig.skipper.fast_forward(handle, until_due - timedelta(seconds=2))
            else:
                moves[handle.id] = until_due + timedelta(minutes=1)
        t0 = time.monotonic()
        if kind == "worker_kill":
            rig.kill_worker()
        elif kind == "partition":
            assert rig.proxy is not None
            rig.proxy.partition("stall")
        else:
            rig.kill_server()
        skips = [asyncio.create_task(rig.skipper.fast_forward(rig.client.get_workflow_handle(cid),
                                                              moves[cid])) for cid in moves]
        await asyncio.sleep(size.outage)
        t1 = time.monotonic()
        if kind == "worker_kill":
            await rig.start_worker()
        elif kind == "partition":
            assert rig.proxy is not None
            rig.proxy.heal()
        else:
            await rig.start_server()
        outage = time.monotonic() - t0
        out.outage_lengths.append(outage)
        await asyncio.wait_for(asyncio.gather(*skips), 180)
        fired = await _fired(rig, dues, timeout=180)
        await F.wait_settled(rig, list(dues))
        out.recoveries.append(time.monotonic() - t1)  # until every deadline has fired and settled
        for cid, (deadline_kind, due) in dues.items():
            if cid not in fired:
                out.findings.deadlines_missed.append(f"{cid}:{deadline_kind}")
            else:
                out.deadline_lateness.append((fired[cid] - due).total_seconds())
    missed = list(out.findings.deadlines_missed)
    out.findings = await F.check(rig, load, refs)
    out.findings.deadlines_missed += missed
    return out


async def _fired(rig: F.Rig, dues: dict[str, tuple[str, datetime]], timeout: float
                 ) -> dict[str, datetime]:
    """When each case's deadline fired (on its timeline), waiting up to `timeout` seconds."""
    fired: dict[str, datetime] = {}
    deadline = time.monotonic() + timeout
    while len(fired) < len(dues) and time.monotonic() < deadline:
        assert rig.client is not None
        for cid, (kind, _) in dues.items():
            if cid in fired:
                continue
            try:
                timeline = await rig.client.get_workflow_handle(cid).query("timeline")
            except F.RPCError:
                continue
            at = [datetime.fromisoformat(e["at"]) for e in timeline
                  if e["category"] == "deadline" and e["kind"] == kind]
            if at:
                fired[cid] = at[-1]
        if len(fired) < len(dues):
            await asyncio.sleep(0.3)
    return fired


SCENARIOS = {f: globals()[f] for f in FAULTS}


async def run_all(rig: F.Rig, size: Size, faults: tuple[str, ...] = FAULTS, seed: int = 15,
                  say: Any = print) -> list[Outcome]:
    rng = random.Random(seed)
    outcomes = []
    for fault in faults:
        # A client's patience outlasts every outage of the scenario put together.
        patience = 240.0 + size.runs * max(size.outage, size.store_outage or 0.0)
        load = F.Load(rig, concurrency=size.concurrency, think=size.think, give_up_after=patience)
        t0 = time.monotonic()
        outcome = await SCENARIOS[fault](rig, load, size, rng)
        outcome.seconds = time.monotonic() - t0
        say(f"{fault}: {outcome.row()}")
        if outcome.findings.broken():
            say(f"  BROKEN: {outcome.findings.broken()}")
        outcomes.append(outcome)
    return outcomes
