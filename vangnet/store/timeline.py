"""Archived timeline entries (`case_timeline`): a case keeps its state bounded by moving the
oldest entries of its timeline here (RULES §12), and the intake's timeline read puts them back in
front of the entries the case still holds. Entries are keyed by their position in the episode's
timeline, so archiving the same entries again (a retried activity) changes nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vangnet.case_messages import TimelineArchive
from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import CaseTimelineEntry


async def archive_entries(session_factory: SessionFactory, archive: TimelineArchive) -> int:
    """Store entries `offset`… of the episode; returns how many there were."""
    if not archive.entries:
        return 0
    rows = [{"case_id": archive.case_id, "run_id": archive.run_id, "seq": archive.offset + i,
             "entry": entry} for i, entry in enumerate(archive.entries)]
    async with session_factory() as session, session.begin():
        ins = dialect_insert(session, CaseTimelineEntry).values(rows)
        await session.execute(ins.on_conflict_do_nothing(index_elements=["case_id", "run_id", "seq"]))
    return len(rows)


async def archived_entries(session_factory: SessionFactory, case_id: str, run_id: str,
                           below: int) -> list[dict[str, Any]]:
    """Entries 0 … below-1 of the episode, in order."""
    if below <= 0:
        return []
    async with session_factory() as session:
        rows = await session.scalars(
            sa.select(CaseTimelineEntry.entry)
            .where(CaseTimelineEntry.case_id == case_id, CaseTimelineEntry.run_id == run_id,
                   CaseTimelineEntry.seq < below)
            .order_by(CaseTimelineEntry.seq))
        return list(rows)


async def archived_count(session_factory: SessionFactory, case_id: str, run_id: str) -> int:
    """How many entries of the episode the case store holds (they are 0 … n-1: a case archives
    its oldest entries first, in order)."""
    async with session_factory() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(CaseTimelineEntry)
            .where(CaseTimelineEntry.case_id == case_id, CaseTimelineEntry.run_id == run_id))
    return int(count or 0)


__all__ = ["archive_entries", "archived_count", "archived_entries"]
