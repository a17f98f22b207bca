"""The retention purge (vangnet/retention.py) on SQLite and PostgreSQL: a case past its period goes
with its archive, projection, inbox messages and intake records, and leaves one deletion_log row
(the case id only as its SHA-256); a case inside its period, an open one, and one whose old
episode expired but which opened again, all stay whole."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.histories import history_files
from vangnet.archive import row_values, save_row
from vangnet.audit import CaseReplayer, read_history_files
from vangnet.case_messages import TimelineArchive
from vangnet.domain import CaseProjection, Outcome, Stage, Track
from vangnet.retention import RetentionPolicy, purge_expired
from vangnet.settings import ROOT
from vangnet.store import Store
from vangnet.store.cases import upsert_case
from vangnet.store.inbox import deliver
from vangnet.store.intake_events import Verdict, record_verdicts
from vangnet.store.timeline import archive_entries

NOW = datetime(2032, 6, 1, tzinfo=UTC)
POLICY = RetentionPolicy()


async def _case(store: Store, case_id: str, run_id: str, *, closed_days_ago: int | None,
                outcome: Outcome | None) -> None:
    closed = NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    await upsert_case(store.sessions, CaseProjection(
        case_id=case_id, run_id=run_id, corporation="rhiant", municipality="alblasserdam",
        stage=Stage.closed if closed else Stage.arrears, track=Track.spoor_1, outcome=outcome,
        opened_at=(closed or NOW) - timedelta(days=200), closed_at=closed))
    await deliver(store.sessions, "rhiant", f"{case_id}/{run_id}/1", case_id, "tenant_notice_sent", {})
    await record_verdicts(store.sessions, [Verdict("rhiant", f"{case_id}-{run_id}-e1", case_id,
                                                   "arrears_reported", "applied")])
    await archive_entries(store.sessions, TimelineArchive(
        case_id=case_id, run_id=run_id, offset=0, entries=[{"kind": "arrears_reported"}]))


async def _rows(store: Store, case_id: str) -> dict[str, int]:
    out = {}
    async with store.engine.connect() as conn:
        for table in ("case_archive", "case_record", "inbox_message", "intake_event",
                      "case_timeline"):
            out[table] = (await conn.execute(sa.text(
                f"SELECT COUNT(*) FROM {table} WHERE case_id = :c"), {"c": case_id})).scalar_one()
    return out


async def test_a_case_past_its_retention_goes_whole_and_is_logged(store: Store) -> None:
    # an evicted case closed 6 years ago, with its archived history
    [runs] = read_history_files(history_files("evicted"))
    run = runs[0]
    state = (await CaseReplayer(quiet=True).replay(runs)).state
    await save_row(store.sessions, row_values(run, "completed", state, True))
    async with store.engine.begin() as conn:  # as if it closed 6 years before NOW
        await conn.execute(sa.text("UPDATE case_archive SET closed_at = :t"),
                           {"t": NOW - timedelta(days=6 * 365)})
    await _case(store, run.case_id, run.first_run_id, closed_days_ago=6 * 365, outcome=Outcome.evicted)
    # an evicted case closed 4 years ago: inside its 5 years
    await _case(store, "case-rhiant-KEEP-1", "r1", closed_days_ago=4 * 365, outcome=Outcome.evicted)
    # a withdrawn case closed 400 days ago: past its year
    await _case(store, "case-rhiant-GONE-2", "r2", closed_days_ago=400, outcome=Outcome.withdrawn)
    # an open case, and a case whose old episode expired but which opened a new one
    await _case(store, "case-rhiant-OPEN-3", "r3", closed_days_ago=None, outcome=None)
    await _case(store, "case-rhiant-AGAIN-4", "r4a", closed_days_ago=3000, outcome=Outcome.resolved)
    await _case(store, "case-rhiant-AGAIN-4", "r4b", closed_days_ago=None, outcome=None)

    before = {c: await _rows(store, c) for c in (run.case_id, "case-rhiant-GONE-2")}
    dry = await purge_expired(store.sessions, POLICY, now=NOW, dry_run=True)
    assert sorted(p.case_id for p in dry) == sorted([run.case_id, "case-rhiant-GONE-2"])
    assert await _rows(store, run.case_id) == before[run.case_id]  # nothing removed

    purged = await purge_expired(store.sessions, POLICY, now=NOW)
    assert {p.case_id: p.rows for p in purged} == before
    assert before[run.case_id]["case_archive"] == 1
    for case_id in before:
        assert await _rows(store, case_id) == dict.fromkeys(before[case_id], 0)
    for case_id in ("case-rhiant-KEEP-1", "case-rhiant-OPEN-3"):
        assert await _rows(store, case_id) == {"case_archive": 0, "case_record": 1,
                                               "inbox_message": 1, "intake_event": 1,
                                               "case_timeline": 1}
    assert (await _rows(store, "case-rhiant-AGAIN-4"))["case_record"] == 2

    async with store.engine.connect() as conn:
        log = (await conn.execute(sa.text(
            "SELECT case_id_sha256, reason, deleted_at FROM deletion_log ORDER BY id"))).all()
    assert sorted(r.case_id_sha256 for r in log) == sorted(
        hashlib.sha256(c.encode()).hexdigest() for c in before)
    reasons = {r.reason for r in log}
    assert any(r.startswith("retention: evicted 1826 days") for r in reasons)
    assert any(r.startswith("retention: withdrawn 366 days") for r in reasons)
    assert all("case-" not in r.reason for r in log)  # the log names no case

    assert await purge_expired(store.sessions, POLICY, now=NOW) == []  # nothing left to do


def test_retention_comes_from_the_policy_file(tmp_path) -> None:
    assert RetentionPolicy.from_policy_file(ROOT / "config" / "policy.toml") == RetentionPolicy()
    bad = tmp_path / "policy.toml"
    bad.write_text("[retention]\nevicted = 0\n")
    with pytest.raises(ValueError, match=r"policy.toml, \[retention\]"):
        RetentionPolicy.from_policy_file(bad)
    bad.write_text("[retention]\nevictd = 100\n")
    with pytest.raises(ValueError, match="evictd"):
        RetentionPolicy.from_policy_file(bad)
