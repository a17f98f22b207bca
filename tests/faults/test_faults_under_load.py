"""Issue 15, the short form: each fault injected into a running load, every invariant checked.

One rig for the module (bench/_faults.py): the Temporal dev server on its SQLite file, the
worker (`python -m workers`, through a TCP proxy that can partition it from the server) and the
intake (`python -m starter serve`) as processes of their own, the case store a SQLite file.
Careful clients keep sending events through the intake (retrying the same event after no answer
or a 503) while one fault is injected `runs` times; then every case of that scenario is read:

- every event answered 202 is on its case's timeline exactly once (RULES §12 I1);
- every inbox message exists once per (party, idempotency key), and each action on a timeline
  has exactly its receivers' messages (nothing doubled, nothing missing);
- every open case has a next deadline (§11 A1), and none is due on the case's clock unfired;
- every history replays deterministically with the current code (the audit's replay);
- the intake never answered anything but 202, 503 or (killed) nothing; while the server was
  down or the store locked, /readyz said 503;
- (6) a deadline that fell due while the worker was down, cut off, or the server down fired
  after it, late by the outage plus the recovery and no more (the case's clock moved with
  per-workflow time skipping, not sleeps).

The soak (bench/faults.py, docs/reliability.md) runs the same scenarios longer and bigger.
VANGNET_FAULT_SEED picks other random moments.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import pytest_asyncio

from bench import _fault_scenarios as S
from bench import _faults as F

pytestmark = pytest.mark.faults

# An outage outlasts the intake's own patience with Temporal (1.5 s, plus its 2 s backstop).
SIZE = S.Size(cases=10, payments=2, runs=2, outage=5.0, concurrency=5)
DEADLINE_RUNS = 3  # the worker killed, cut off, and the server killed
SEED = int(os.environ.get("VANGNET_FAULT_SEED", "15"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rig():
    with tempfile.TemporaryDirectory(prefix="vangnet-faults-") as workdir:
        the_rig = F.Rig(Path(workdir))
        try:
            await the_rig.start()
            yield the_rig
        finally:
            await the_rig.stop()


async def run(rig: F.Rig, fault: str, size: S.Size = SIZE) -> S.Outcome:
    import random

    rng = random.Random(f"{SEED}-{fault}")
    load = F.Load(rig, concurrency=size.concurrency)
    outcome = await S.SCENARIOS[fault](rig, load, size, rng)
    assert outcome.findings.broken() == {}, (fault, outcome.row(), outcome.findings.broken())
    assert outcome.findings.events_202 >= size.cases, outcome.row()
    assert len(outcome.recoveries) == size.runs
    assert max(outcome.recoveries) < 90, outcome.row()
    return outcome


async def test_worker_killed_at_random_moments(rig):
    starts = rig.worker_starts
    await run(rig, "worker_kill")
    assert rig.worker_starts == starts + SIZE.runs


async def test_server_killed_and_restarted_on_its_file(rig):
    outcome = await run(rig, "server_restart")
    # While the server was down: /readyz said so, and every event was answered 503 (or not at all).
    assert outcome.outage_readyz[503] > 0 and outcome.outage_readyz[200] == 0, outcome.row()
    assert set(outcome.outage_answers) <= {503, None}, outcome.row()
    assert outcome.outage_answers[503] > 0, str(outcome.row())


async def test_intake_killed_mid_request(rig):
    await run(rig, "intake_kill")  # the scenario asserts that calls died without an answer


async def test_case_store_locked_by_another_process(rig):
    outcome = await run(rig, "store_locked")
    assert outcome.outage_readyz[503] > 0 and outcome.outage_readyz[200] == 0, outcome.row()
    # A 202 while the store is locked is true (the event is in the case's history, I1; the
    # check above found it there); nothing else but 503 or no answer.
    assert set(outcome.outage_answers) <= {202, 503, None}, outcome.row()


async def test_network_partition_between_worker_and_server(rig):
    outcome = await run(rig, "partition")
    assert set(outcome.outage_answers) <= {202, 503, None}, outcome.row()


async def test_deadline_falling_due_during_an_outage_fires_after_it(rig):
    import dataclasses

    size = dataclasses.replace(SIZE, runs=DEADLINE_RUNS, cases=6)  # two cases per outage
    outcome = await run(rig, "deadline_in_outage", size)
    assert len(outcome.deadline_lateness) == size.cases, outcome.row()
    # Late by the outage and the recovery, no more (the case's clock runs on during the outage).
    bound = max(outcome.outage_lengths) + max(outcome.recoveries) + 5
    assert all(0 <= late <= bound for late in outcome.deadline_lateness), outcome.row()


async def test_the_checks_see_a_lost_event_and_a_doubled_message(rig):
    """The invariants are not vacuous: a 202 for an event no case has, and a second message for
    an action that had one receiver, are both reported."""
    import time
    from datetime import UTC, datetime

    from vangnet.settings import Settings
    from vangnet.store import Store
    from vangnet.store.models import InboxMessage

    load = F.Load(rig)
    [ref] = await load.run(1, "CHK", payments=0)
    case_id = F.case_id_of(ref)
    load.answers.append(F.Answer("never-sent", case_id, 202, time.monotonic()))
    await F.wait_settled(rig, [case_id])
    store = await Store.open(Settings(DATABASE_URL=rig.direct_url))
    try:
        async with store.sessions() as session:
            session.add(InboxMessage(party_code=F.CORPORATION, idempotency_key=f"{case_id}/x/999",
                                     case_id=case_id, action="tenant_notice_sent", payload={},
                                     created_at=datetime.now(UTC)))
            await session.commit()
    finally:
        await store.close()
    findings = await F.check(rig, load, [ref])
    assert findings.lost == ["never-sent"]
    assert findings.messages_doubled == [f"{case_id}:{F.CORPORATION}:tenant_notice_sent"]
    assert set(findings.broken()) == {"lost", "messages_doubled"}


PG_URL = os.environ.get("VANGNET_TEST_POSTGRES_URL",
                        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_rig():
    import asyncpg

    try:
        conn = await asyncpg.connect(F._pg_dsn(PG_URL), timeout=5)
        await conn.close()
    except (OSError, asyncpg.PostgresError) as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is not reachable: {type(err).__name__}")
        pytest.skip(f"PostgreSQL is not reachable: {type(err).__name__}")
    with tempfile.TemporaryDirectory(prefix="vangnet-faults-pg-") as workdir:
        the_rig = F.Rig(Path(workdir), store=PG_URL)
        try:
            await the_rig.start()
            yield the_rig
        finally:
            await the_rig.stop()


@pytest.mark.postgres
async def test_postgres_refusing_connections(pg_rig):
    outcome = await run(pg_rig, "store_locked")
    assert outcome.fault == "store_refused_pg"
    assert outcome.outage_readyz[503] > 0 and outcome.outage_readyz[200] == 0, outcome.row()
    # The intake needs the store for every event (the sender's key): 503 throughout.
    assert set(outcome.outage_answers) <= {503, None}, outcome.row()
    assert outcome.outage_answers[503] > 0, str(outcome.row())
