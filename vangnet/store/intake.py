"""Duplicate detection of the intake (`intake_event`, migration 0002).

The intake claims (source, event_id) before it signals the case and releases the claim when the
signal fails, so a retried call either finds the event applied (a duplicate) or applies it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import IntakeEvent


@dataclass(frozen=True)
class Claim:
    new: bool  # False: (source, event_id) was already accepted
    case_id: str
    type: str


async def claim_event(
    session_factory: SessionFactory, source: str, event_id: str, case_id: str, type: str,
    *, now: datetime | None = None,
) -> Claim:
    """Record (source, event_id) as accepted; when it already was, return what it was for."""
    async with session_factory() as session, session.begin():
        ins = (
            dialect_insert(session, IntakeEvent)
            .values(source=source, event_id=event_id, case_id=case_id, type=type,
                    received_at=now or datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(IntakeEvent.case_id)
        )
        if (await session.execute(ins)).scalar() is not None:
            return Claim(True, case_id, type)
        row = (
            await session.execute(
                sa.select(IntakeEvent.case_id, IntakeEvent.type).where(
                    IntakeEvent.source == source, IntakeEvent.event_id == event_id
                )
            )
        ).one()
        return Claim(False, row.case_id, row.type)


async def release_event(session_factory: SessionFactory, source: str, event_id: str) -> None:
    """Forget a claim whose signal failed (nothing half-applied)."""
    async with session_factory() as session, session.begin():
        await session.execute(
            sa.delete(IntakeEvent).where(IntakeEvent.source == source, IntakeEvent.event_id == event_id)
        )


__all__ = ["Claim", "claim_event", "release_event"]
