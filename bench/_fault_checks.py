"""Faults under load (issue 15): reading the cases back, the invariants, and the canary that
measures recovery. Part of bench/_faults.py (re-exported there), split off for size."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from temporalio.client import Client
from temporalio.service import RPCError

from bench._faults import Load, Rig, case_id_of, opening

# ---------------------------------------------------------------------------------------------
# Reading the cases back, and the invariants
# ---------------------------------------------------------------------------------------------


async def retrying(fn: Any, *args: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await fn(*args)
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def settled(client: Client, case_id: str) -> bool:
    desc = await client.get_workflow_handle(case_id).describe()
    if desc.status is not None and desc.status.name != "RUNNING":
        return True
    raw = desc.raw_description
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")


# A case whose store activity kept failing through an outage retries after up to
# ACTIVITY_RETRY.maximum_interval (workflows/case.py: 5 minutes): settling may take that long.
SETTLE_TIMEOUT = 420.0


async def wait_settled(rig: Rig, case_ids: list[str], timeout: float = SETTLE_TIMEOUT) -> float:
    """Waits until no case has an activity or workflow task pending; returns the seconds taken."""
    t0 = time.monotonic()
    todo = list(case_ids)
    while todo:
        assert rig.client is not None
        still = []
        for cid in todo:
            try:
                if not await settled(rig.client, cid):
                    still.append(cid)
            except RPCError:
                still.append(cid)
        todo = still
        if todo:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{len(todo)} cases did not settle, e.g. {todo[:3]}")
            await asyncio.sleep(0.3)
    return time.monotonic() - t0


async def inbox_rows(rig: Rig, case_ids: list[str]) -> list[tuple[str, str, str, str]]:
    from vangnet.settings import Settings
    from vangnet.store import Store
    from vangnet.store.models import InboxMessage

    store = await Store.open(Settings(DATABASE_URL=rig.direct_url))
    try:
        async with store.sessions() as session:
            rows = await session.execute(
                sa.select(InboxMessage.case_id, InboxMessage.party_code,
                          InboxMessage.idempotency_key, InboxMessage.action)
                .where(InboxMessage.case_id.in_(case_ids)))
            return [tuple(r) for r in rows]
    finally:
        await store.close()


@dataclass
class Findings:
    cases: int = 0
    events_202: int = 0
    lost: list[str] = field(default_factory=list)  # 202 but not on the timeline
    doubled: list[str] = field(default_factory=list)  # on the timeline more than once
    never_accepted: list[str] = field(default_factory=list)  # no 202 within the client's patience
    messages: int = 0
    messages_doubled: list[str] = field(default_factory=list)
    messages_missing: list[str] = field(default_factory=list)
    no_next_deadline: list[str] = field(default_factory=list)
    deadlines_missed: list[str] = field(default_factory=list)  # due on the case's clock, not fired
    not_deterministic: list[str] = field(default_factory=list)
    server_errors: int = 0  # intake answers 500 (or anything but 202/503/no answer)
    unexpected_answers: list[str] = field(default_factory=list)  # "event_id status code"

    def broken(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, list) and v}
        if self.server_errors:
            out["server_errors"] = self.server_errors
        return out

    def summary(self) -> dict[str, Any]:
        return {k: (len(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}


async def check(rig: Rig, load: Load, refs: list[str] | None = None) -> Findings:
    """Every invariant of issue 15 over the cases of `refs` (default: all of the load's)."""
    from vangnet.audit.history import fetch_episode
    from vangnet.audit.replay import CaseReplayer

    assert rig.client is not None and rig.skipper is not None
    refs = refs if refs is not None else load.refs
    case_ids = [case_id_of(r) for r in refs]
    wanted = set(case_ids)
    f = Findings(cases=len(case_ids))
    await wait_settled(rig, case_ids)
    accepted = {a.event_id for a in load.answers if a.status == 202 and a.case_id in wanted}
    f.events_202 = len(accepted)
    f.never_accepted = [e for e in load.not_answered if load.sent.get(e) in wanted]
    f.unexpected_answers = [f"{a.event_id} {a.status} {a.code}" for a in load.answers
                            if a.case_id in wanted and a.status not in (None, 202, 503)]
    f.server_errors = len(f.unexpected_answers)
    expected_messages: Counter = Counter()
    on_timeline: Counter = Counter()
    for cid in case_ids:
        handle = rig.client.get_workflow_handle(cid)
        try:
            timeline = await retrying(handle.query, "timeline")
            status = await retrying(handle.query, "status")
        except RPCError:
            continue  # a case that never opened: its events count as lost below
        for entry in timeline:
            eid = entry["detail"].get("event_id")
            if entry["category"] == "event" and eid:
                on_timeline[eid] += 1
            if entry["category"] == "action":
                for party in entry["detail"].get("delivered_to", []):
                    expected_messages[(cid, party, entry["kind"])] += 1
        if not status["closed"]:
            nxt = status["next_deadline"]
            if nxt is None:
                f.no_next_deadline.append(cid)
            else:
                now = await rig.skipper.get_current_time(handle)
                if datetime.fromisoformat(nxt["due_at"]) <= now:
                    f.deadlines_missed.append(f"{cid}:{nxt['kind']}")
    f.lost = sorted(e for e in accepted if on_timeline[e] == 0)
    f.doubled = sorted(e for e, n in on_timeline.items() if n > 1)
    rows = await inbox_rows(rig, case_ids)
    f.messages = len(rows)
    by_key = Counter((party, key) for _, party, key, _ in rows)
    f.messages_doubled = sorted(f"{p}:{k}" for (p, k), n in by_key.items() if n > 1)
    got = Counter((cid, party, action) for cid, party, _, action in rows)
    for k in set(expected_messages) | set(got):
        if got[k] > expected_messages[k]:
            f.messages_doubled.append(":".join(k))
        elif got[k] < expected_messages[k]:
            f.messages_missing.append(":".join(k))
    replayer = CaseReplayer(quiet=True)
    for cid in case_ids:
        try:
            runs = await retrying(fetch_episode, rig.client, cid)
        except RPCError:
            continue
        if not (await replayer.replay(runs)).deterministic:
            f.not_deterministic.append(cid)
    return f


# ---------------------------------------------------------------------------------------------
# Recovery: a canary case through the whole path
# ---------------------------------------------------------------------------------------------


async def canary(rig: Rig, load: Load, timeout: float = 180.0) -> float:
    """Seconds until a new case, sent through the intake now, has its first action delivered:
    the whole path (intake, server, worker, store) works again."""
    t0 = time.monotonic()
    [ref] = load.new_refs(1, "CNR")
    assert await load.until_202(opening(ref)), "the canary was never accepted"
    assert rig.client is not None
    handle = rig.client.get_workflow_handle(case_id_of(ref))
    while True:
        with contextlib.suppress(RPCError):
            timeline = await handle.query("timeline")
            if any(e["category"] == "action" and "delivered_to" in e["detail"] for e in timeline):
                return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("the canary case never delivered its first action")
        await asyncio.sleep(0.2)
