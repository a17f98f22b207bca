"""What an operator watches in the case store (issue 13): open cases by stage, unread inbox
messages per party, webhook pushes pending and failed per party.

Read in one session with a handful of aggregate statements; the intake's `/metrics` calls
`operations_snapshot` at most once per scrape interval (vangnet/metrics.py). Every key is a code
(stage, party code): no case id or tenancy reference ever leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from vangnet.domain import Stage
from vangnet.store.db import SessionFactory
from vangnet.store.inbox import PUSH_FAILED, PUSH_PENDING, PUSH_RETRYING
from vangnet.store.models import CaseRecord, InboxMessage, Party


@dataclass(frozen=True)
class OperationsSnapshot:
    """Every stage but `closed` and every party of the registry is present (0 when nothing), so a
    series does not vanish when its count drops to zero."""

    open_cases: dict[str, int] = field(default_factory=dict)  # stage -> episodes not closed
    inbox_unacked: dict[str, int] = field(default_factory=dict)  # party -> unacked messages
    inbox_oldest_age: dict[str, float] = field(default_factory=dict)  # party -> seconds
    pushes_pending: dict[str, int] = field(default_factory=dict)  # party -> still being pushed
    pushes_failed: dict[str, int] = field(default_factory=dict)  # party -> given up, unacked


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def operations_snapshot(
    session_factory: SessionFactory, *, give_up_after: timedelta, now: datetime | None = None
) -> OperationsSnapshot:
    """The figures as they are now. A push counts as failed when its party refused it for good,
    or when it has been pending or retrying for longer than `give_up_after` (the workflow stops
    retrying a webhook then); failed pushes count only while the message is unacked, i.e. while
    the party has received it neither by push nor by reading its inbox."""
    now = now or datetime.now(UTC)
    cutoff = now - give_up_after
    async with session_factory() as session:
        stages = await session.execute(
            sa.select(CaseRecord.stage, sa.func.count())
            .where(CaseRecord.closed_at.is_(None))
            .group_by(CaseRecord.stage)
        )
        unacked = await session.execute(
            sa.select(InboxMessage.party_code, sa.func.count(), sa.func.min(InboxMessage.created_at))
            .where(InboxMessage.acked_at.is_(None))
            .group_by(InboxMessage.party_code)
        )
        in_flight = InboxMessage.push_state.in_((PUSH_PENDING, PUSH_RETRYING))
        given_up = sa.or_(
            InboxMessage.push_state == PUSH_FAILED,
            sa.and_(in_flight, InboxMessage.created_at < cutoff),
        )
        pushes = await session.execute(
            sa.select(
                InboxMessage.party_code,
                sa.func.sum(sa.case((sa.and_(in_flight, InboxMessage.created_at >= cutoff), 1), else_=0)),
                sa.func.sum(sa.case((sa.and_(given_up, InboxMessage.acked_at.is_(None)), 1), else_=0)),
            )
            .where(InboxMessage.push_state.is_not(None))
            .group_by(InboxMessage.party_code)
        )
        parties = list((await session.execute(sa.select(Party.code))).scalars())
        open_cases = {s.value: 0 for s in Stage if s is not Stage.closed}
        open_cases.update({str(stage): int(n) for stage, n in stages})
        inbox_unacked: dict[str, int] = dict.fromkeys(parties, 0)
        inbox_oldest: dict[str, float] = dict.fromkeys(parties, 0.0)
        for party, n, oldest in unacked:
            inbox_unacked[party] = int(n)
            if oldest is not None:
                inbox_oldest[party] = max(0.0, (now - _aware(oldest)).total_seconds())
        pending: dict[str, int] = {}
        failed: dict[str, int] = {}
        for party, n_pending, n_failed in pushes:
            pending[party] = int(n_pending or 0)
            failed[party] = int(n_failed or 0)
    return OperationsSnapshot(open_cases, inbox_unacked, inbox_oldest, pending, failed)


__all__ = ["OperationsSnapshot", "operations_snapshot"]
