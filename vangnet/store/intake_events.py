"""The events that came in through the intake, with their case's verdict (`intake_event`).

A row is written only after the case gave its verdict (RULES §12 I1): so a row means the event is
durably in the case's history, and a repeat found here is truthfully a duplicate. The rows serve
three things: answering a repeat without asking Temporal, refusing an `event_id` reused for
another event, and reads by involvement (I3: a party that sent a case an applied event may read
it; `is_involved` also counts the messages the case sent the party).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import InboxMessage, IntakeEvent

APPLIED = "applied"
IGNORED = "ignored"
ACCEPTED = "accepted"  # in the case's history, its verdict not known yet (the case was slow)
_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Verdict:
    """What to write for one event."""

    source: str
    event_id: str
    case_id: str
    type: str
    verdict: str
    reason: str | None = None


async def find_events(session_factory: SessionFactory, source: str,
                      event_ids: Iterable[str]) -> dict[str, IntakeEvent]:
    """The rows of these event ids of one sender, by event id (in chunks of 500)."""
    ids = list(dict.fromkeys(event_ids))
    found: dict[str, IntakeEvent] = {}
    async with session_factory() as session:
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
            rows = await session.scalars(
                sa.select(IntakeEvent).where(IntakeEvent.source == source,
                                             IntakeEvent.event_id.in_(chunk)))
            found.update({row.event_id: row for row in rows})
    return found


async def find_event(session_factory: SessionFactory, source: str, event_id: str) -> IntakeEvent | None:
    return (await find_events(session_factory, source, [event_id])).get(event_id)


async def record_verdicts(session_factory: SessionFactory, verdicts: Sequence[Verdict], *,
                          now: datetime | None = None) -> None:
    """Write verdicts in one transaction. A row stays as first written, except an `accepted`
    one, which the verdict learnt later replaces."""
    if not verdicts:
        return
    at = now or datetime.now(UTC)
    async with session_factory() as session, session.begin():
        for v in verdicts:
            ins = dialect_insert(session, IntakeEvent).values(
                source=v.source, event_id=v.event_id, case_id=v.case_id, type=v.type,
                received_at=at, verdict=v.verdict, reason=(v.reason or None) and v.reason[:500])
            await session.execute(ins.on_conflict_do_update(
                index_elements=["source", "event_id"],
                set_={"verdict": ins.excluded.verdict, "reason": ins.excluded.reason},
                where=IntakeEvent.verdict == ACCEPTED,
            ))


async def is_involved(session_factory: SessionFactory, case_id: str, party_code: str) -> bool:
    """RULES §12 I3: has the case sent this party a message, or the party the case an event that
    was applied? (The tenancy's corporation and operators and auditors need not ask.)"""
    messages = sa.exists().where(InboxMessage.case_id == case_id,
                                 InboxMessage.party_code == party_code)
    events = sa.exists().where(IntakeEvent.case_id == case_id, IntakeEvent.source == party_code,
                               IntakeEvent.verdict == APPLIED)
    async with session_factory() as session:
        return bool((await session.execute(sa.select(sa.or_(messages, events)))).scalar())


__all__ = ["APPLIED", "IGNORED", "ACCEPTED", "Verdict", "find_events", "find_event",
           "record_verdicts", "is_involved"]
