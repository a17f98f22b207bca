"""Inbox delivery (exactly once), paging and acknowledgement; the case projection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from vangnet.domain import CaseProjection, Outcome, Stage, Track
from vangnet.store import Store
from vangnet.store.cases import get_case, previous_episode, upsert_case
from vangnet.store.inbox import IdempotencyConflict, ack, deliver, list_messages

CASE = "case-rhiant-H-1"


async def test_deliver_is_exactly_once_per_party_and_key(store: Store, count) -> None:
    payload = {"text": "x", "n": 1}
    first = await deliver(store.sessions, "sdd", "k1", CASE, "mpzo_notified", payload)
    again = await deliver(store.sessions, "sdd", "k1", CASE, "mpzo_notified", {"text": "changed"})
    assert first == (first[0], False)
    assert again == (first[0], True)
    other = await deliver(store.sessions, "rhiant", "k1", CASE, "mpzo_notified", payload)
    assert other[1] is False and other[0] != first[0]
    assert await count("inbox_message") == 2
    [msg] = await list_messages(store.sessions, "sdd")
    assert msg.payload == payload  # the first write stands
    assert msg.created_at.tzinfo is not None


async def test_same_key_for_a_different_message_is_refused(store: Store, count) -> None:
    await deliver(store.sessions, "sdd", "k1", CASE, "mpzo_notified", {})
    with pytest.raises(IdempotencyConflict, match="'k1'"):
        await deliver(store.sessions, "sdd", "k1", CASE, "case_closed", {})
    with pytest.raises(IdempotencyConflict):
        await deliver(store.sessions, "sdd", "k1", "case-rhiant-OTHER", "mpzo_notified", {})
    assert await count("inbox_message") == 1


async def test_racing_deliveries_write_one_row(store: Store, count) -> None:
    results = await asyncio.gather(
        *(deliver(store.sessions, "avres", "race", CASE, "moratorium_requested", {"i": i}) for i in range(8))
    )
    assert len({mid for mid, _ in results}) == 1
    assert sorted(dup for _, dup in results) == [False] + [True] * 7
    assert await count("inbox_message") == 1


async def test_list_messages_pages_oldest_first_per_party(store: Store) -> None:
    mine = []
    for i in range(5):
        mine.append((await deliver(store.sessions, "sdd", f"k{i}", CASE, "mpzo_notified", {"i": i}))[0])
        await deliver(store.sessions, "avres", f"k{i}", CASE, "mpzo_notified", {"i": i})
    page1 = await list_messages(store.sessions, "sdd", after_id=0, limit=2)
    page2 = await list_messages(store.sessions, "sdd", after_id=page1[-1].id, limit=2)
    page3 = await list_messages(store.sessions, "sdd", after_id=page2[-1].id, limit=2)
    assert [m.id for m in page1 + page2 + page3] == mine
    assert [m.payload["i"] for m in page1 + page2 + page3] == [0, 1, 2, 3, 4]
    assert {m.party_code for m in page1 + page2 + page3} == {"sdd"}
    assert await list_messages(store.sessions, "sdd", after_id=mine[-1]) == []
    assert len(await list_messages(store.sessions, "sdd", limit=0)) == 1  # clamped to at least 1


async def test_ack_marks_only_the_partys_own_message(store: Store) -> None:
    m1, _ = await deliver(store.sessions, "sdd", "a", CASE, "mpzo_notified", {})
    m2, _ = await deliver(store.sessions, "sdd", "b", CASE, "mpzo_notified", {})
    t1 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert await ack(store.sessions, "avres", m1, now=t1) is False  # not avres's message
    assert await ack(store.sessions, "sdd", 999_999, now=t1) is False
    assert (await list_messages(store.sessions, "sdd"))[0].acked_at is None
    assert await ack(store.sessions, "sdd", m1, now=t1) is True
    assert await ack(store.sessions, "sdd", m1, now=t1 + timedelta(hours=1)) is True  # idempotent
    msgs = await list_messages(store.sessions, "sdd")
    assert msgs[0].acked_at == t1 and msgs[1].acked_at is None
    assert [m.id for m in await list_messages(store.sessions, "sdd", unacked_only=True)] == [m2]


def _projection(run_id: str, closed_at: datetime | None, outcome: Outcome | None = None,
                case_id: str = CASE) -> CaseProjection:
    return CaseProjection(
        case_id=case_id, run_id=run_id, corporation="rhiant", municipality="dordrecht",
        stage=Stage.closed if closed_at else Stage.arrears, track=Track.spoor_1,
        outcome=outcome, opened_at=datetime(2024, 1, 1, tzinfo=UTC), closed_at=closed_at,
    )


async def test_upsert_case_inserts_then_updates(store: Store, count) -> None:
    await upsert_case(store.sessions, _projection("r1", None))
    closed = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    later = _projection("r1", closed, Outcome.resolved).model_copy(
        update={"opened_at": datetime(2030, 1, 1, tzinfo=UTC), "track": Track.spoor_2}
    )
    await upsert_case(store.sessions, later)
    assert await count("case_record") == 1
    row = await get_case(store.sessions, CASE, "r1")
    assert (row.stage, row.track, row.outcome) == ("closed", "spoor_2", "resolved")
    assert row.closed_at == closed
    assert row.opened_at == datetime(2024, 1, 1, tzinfo=UTC)  # the first value is kept


async def test_previous_episode_is_the_latest_closed_one(store: Store) -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    assert await previous_episode(store.sessions, CASE, exclude_run_id="r4") is None
    # Written out of order on purpose: the latest by closed_at must win, not the last written.
    await upsert_case(store.sessions, _projection("r2", t + timedelta(days=200), Outcome.resolved))
    await upsert_case(store.sessions, _projection("r1", t + timedelta(days=100), Outcome.withdrawn))
    await upsert_case(store.sessions, _projection("r3", None))  # open: not a previous episode
    await upsert_case(store.sessions, _projection("x9", t + timedelta(days=900), Outcome.evicted,
                                                  case_id="case-rhiant-OTHER"))
    prev = await previous_episode(store.sessions, CASE, exclude_run_id="r3")
    assert prev is not None
    assert (prev.run_id, prev.outcome, prev.closed_at) == ("r2", "resolved", t + timedelta(days=200))
    assert prev.closed_at.tzinfo is not None
    assert (await previous_episode(store.sessions, CASE, exclude_run_id="r2")).run_id == "r1"
