"""The case projection (`case_record`): one reporting row per case episode, no personal data.

The workflow is the source of truth; this table serves reports and tells a new episode about the
previous one (RULES §3: relapse within `relapse_window_months`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from vangnet.domain import CaseProjection, PreviousEpisode
from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import CaseRecord

_UPDATED = ("corporation", "municipality", "stage", "track", "outcome", "closed_at", "updated_at",
            "next_deadline")


async def upsert_case(
    session_factory: SessionFactory, projection: CaseProjection, *, now: datetime | None = None
) -> None:
    """Insert or update the episode's row (key: case_id, run_id). `opened_at` keeps its first value."""
    values = projection.model_dump(mode="python")
    for k in ("stage", "track", "outcome"):
        if values[k] is not None:
            values[k] = str(values[k])
    values["updated_at"] = now or datetime.now(UTC)
    async with session_factory() as session, session.begin():
        ins = dialect_insert(session, CaseRecord).values(**values)
        await session.execute(
            ins.on_conflict_do_update(
                index_elements=["case_id", "run_id"],
                set_={k: ins.excluded[k] for k in _UPDATED},
            )
        )


async def get_case(session_factory: SessionFactory, case_id: str, run_id: str) -> CaseRecord | None:
    async with session_factory() as session:
        return await session.get(CaseRecord, (case_id, run_id))


async def municipality_of(session_factory: SessionFactory, case_id: str) -> str | None:
    """The municipality of the case's episodes (RULES §12 I4: every episode of a tenancy is in the
    municipality of its first), or None when the store knows no episode."""
    async with session_factory() as session:
        return (await session.execute(
            sa.select(CaseRecord.municipality).where(CaseRecord.case_id == case_id)
            .order_by(CaseRecord.opened_at).limit(1))).scalar()


async def municipalities_of(session_factory: SessionFactory, case_ids: Iterable[str]) -> dict[str, str]:
    """`municipality_of` for many cases at once (those the store knows, in chunks of 500)."""
    ids = sorted(set(case_ids))
    found: dict[str, str] = {}
    async with session_factory() as session:
        for start in range(0, len(ids), 500):
            rows = await session.execute(
                sa.select(CaseRecord.case_id, CaseRecord.municipality)
                .where(CaseRecord.case_id.in_(ids[start:start + 500]))
                .order_by(CaseRecord.opened_at.desc()))
            found.update({row.case_id: row.municipality for row in rows})  # the first wins last
    return found


async def previous_episode_in(
    session: AsyncSession, case_id: str, exclude_run_id: str | None = None
) -> PreviousEpisode | None:
    """The latest closed episode of `case_id` (by closed_at), other than `exclude_run_id`,
    read in the caller's session."""
    query = (
        sa.select(CaseRecord.run_id, CaseRecord.closed_at, CaseRecord.outcome)
        .where(CaseRecord.case_id == case_id, CaseRecord.closed_at.is_not(None))
        .order_by(CaseRecord.closed_at.desc(), CaseRecord.run_id.desc())
        .limit(1)
    )
    if exclude_run_id is not None:
        query = query.where(CaseRecord.run_id != exclude_run_id)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return PreviousEpisode(run_id=row.run_id, closed_at=row.closed_at, outcome=row.outcome)


async def previous_episode(
    session_factory: SessionFactory, case_id: str, exclude_run_id: str | None = None
) -> PreviousEpisode | None:
    """The latest closed episode of `case_id` (by closed_at), other than `exclude_run_id`."""
    async with session_factory() as session:
        return await previous_episode_in(session, case_id, exclude_run_id)


__all__ = ["upsert_case", "get_case", "municipality_of", "municipalities_of", "previous_episode", "previous_episode_in"]
