"""The archive in the case store (vangnet/archive.py), on SQLite and PostgreSQL: a history goes in
compressed with its SHA-256 and comes back byte for byte, replays as it did, says who was involved,
and a damaged copy is refused. The checked-in histories of tests/histories stand in for runs
fetched from the server (the server test is tests/archive/test_archive_server.py)."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
import sqlalchemy as sa

from tests.histories import history_files
from vangnet.archive import (
    ArchiveError,
    RunRef,
    archived_case,
    archived_episode_heads,
    fetch_episode_with_archive,
    load_episode,
    row_values,
    runs_to_copy,
    save_row,
)
from vangnet.audit import CaseReplayer, audit_episode, read_history_files
from vangnet.store import Store


async def _archive(store: Store, name: str, statuses: list[str] | None = None):
    [runs] = read_history_files(history_files(name))
    replayer = CaseReplayer(quiet=True)
    statuses = statuses or (["continued_as_new"] * (len(runs) - 1) + ["completed"])
    for run, status in zip(runs, statuses, strict=False):
        episode = await replayer.replay([run])
        assert await save_row(store.sessions, row_values(run, status, episode.state,
                                                          episode.deterministic))
    return runs


async def test_a_history_round_trips_and_replays_as_before(store: Store) -> None:
    runs = await _archive(store, "continue_as_new")
    assert len(runs) >= 2  # (the scenario continues as new at least once)
    loaded = await load_episode(store.sessions, runs[0].case_id)
    assert [r.run_id for r in loaded] == [r.run_id for r in runs]
    assert all(r.source == "archive" for r in loaded)
    for a, b in zip(runs, loaded, strict=False):
        assert list(a.history.events) == list(b.history.events)  # event for event, field for field
    replayer = CaseReplayer(quiet=True)
    live = audit_episode(await replayer.replay(runs))
    archived = audit_episode(await replayer.replay(loaded))
    assert archived.deterministic
    assert archived.to_json()["timeline"] == live.to_json()["timeline"]
    assert archived.to_json()["compliance"] == live.to_json()["compliance"]
    # the episode that a given run belongs to, up to that run
    [first] = await load_episode(store.sessions, runs[0].case_id, runs[0].run_id)
    assert first.run_id == runs[0].run_id


async def test_rows_hold_sha256_status_timeline_and_stages(store: Store) -> None:
    [run] = await _archive(store, "evicted")
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.text(
            "SELECT history_gz, history_sha256, history_events, status, outcome, stages, "
            "final_status, timeline FROM case_archive"))).one()
    raw = gzip.decompress(row.history_gz)
    assert hashlib.sha256(raw).hexdigest() == row.history_sha256
    assert len(row.history_gz) < len(raw) / 3  # compressed
    assert row.history_events == len(run.history.events)
    assert (row.status, row.outcome) == ("completed", "evicted")
    stages = row.stages if isinstance(row.stages, list) else json.loads(row.stages)
    assert [s for _, s in stages][-1] == "closed" and "crisis" in [s for _, s in stages]
    status = row.final_status if isinstance(row.final_status, dict) else json.loads(row.final_status)
    assert status["outcome"] == "evicted" and status["closed"] is True


async def test_archived_case_answers_status_timeline_and_involvement(store: Store) -> None:
    [run] = await _archive(store, "crisis_moratorium")
    case = await archived_case(store, run.case_id)
    assert case is not None and case.source == "archive"
    replayed = await CaseReplayer(quiet=True).replay([run])
    assert case.timeline == replayed.state["timeline"]
    assert case.status["case_id"] == run.case_id and case.status["stage"] == replayed.state["stage"]
    assert case.corporation == "poort6" and case.municipality == "gorinchem"
    # I3: the corporation, the receivers of its messages, the senders of applied events
    assert {"poort6", "avres", "mpzo"} <= case.parties
    assert "woonbron" not in case.parties
    assert await archived_case(store, "case-poort6-NOT-THERE") is None


async def test_a_closed_run_is_kept_and_a_snapshot_replaced(store: Store) -> None:
    [runs] = read_history_files(history_files("spoor1_resolved"))
    run = runs[0]
    state = (await CaseReplayer(quiet=True).replay([run])).state
    assert await save_row(store.sessions, row_values(run, "running", state, True))
    ref_running = RunRef(run.case_id, run.run_id, "running", 0)
    ref_closed = RunRef(run.case_id, run.run_id, "completed")
    assert await runs_to_copy(store.sessions, [ref_running, ref_closed]) == [ref_running, ref_closed]
    assert await save_row(store.sessions, row_values(run, "completed", state, True))
    assert not await save_row(store.sessions, row_values(run, "running", state, True))
    assert await runs_to_copy(store.sessions, [ref_closed]) == []
    assert await archived_episode_heads(store.sessions) == [(run.case_id, run.run_id)]
    assert await archived_episode_heads(store.sessions, municipality="dordrecht") == []


async def test_a_damaged_archive_is_refused(store: Store) -> None:
    [run] = await _archive(store, "reminder_missing")
    async with store.engine.begin() as conn:
        raw = json.loads(gzip.decompress((await conn.execute(sa.text(
            "SELECT history_gz FROM case_archive"))).scalar_one()))
        raw["events"][3]["eventTime"] = "2020-01-01T00:00:00Z"  # an altered history
        await conn.execute(sa.text("UPDATE case_archive SET history_gz = :gz"),
                           {"gz": gzip.compress(json.dumps(raw).encode())})
    with pytest.raises(ArchiveError, match="does not match its SHA-256"):
        await load_episode(store.sessions, run.case_id)
    # without Temporal, the fallback reads the archive, and says so when the copy is damaged
    with pytest.raises(ArchiveError):
        await fetch_episode_with_archive(None, store.sessions, run.case_id)


async def test_a_missing_run_in_the_chain_is_refused(store: Store) -> None:
    runs = await _archive(store, "continue_as_new")
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM case_archive WHERE run_id = :r"),
                           {"r": runs[0].run_id})
    with pytest.raises(ArchiveError, match="first run is missing"):
        await load_episode(store.sessions, runs[0].case_id)
