"""The webhook outbox (issue 10): pushes are the dispatcher's job, never the case's.

The delivering transaction of an action (activities/actions.py) marks each new message to a party
with a webhook `pending`, due now (`push_next_at`). The dispatcher (activities/dispatch.py) claims
due messages, pushes them and records the outcome here:

| state | meaning |
|---|---|
| `pending` | not delivered yet; `push_next_at` says when the next attempt is due, `push_error` what the last one met |
| `delivered` | the receiver answered 2xx (`delivered_at`) |
| `failed` | refused for good (a 4xx other than 408/425/429, a refused URL) or still undelivered after the give-up period (default 3 days) |

A claim moves `push_next_at` a lease ahead with a compare-and-set on its old value, so two
dispatchers never push the same message at once; a dispatcher that dies mid-push leaves the message
due again when the lease ends. Older rows in `retrying` (pushed by a case run itself, before issue
10) have no `push_next_at` and are left to that run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from vangnet.store.db import SessionFactory
from vangnet.store.inbox import PUSH_DELIVERED, PUSH_FAILED, PUSH_PENDING, PUSH_RETRYING
from vangnet.store.models import InboxMessage

LEASE = timedelta(minutes=2)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
GIVE_UP = timedelta(days=3)
STATES = (PUSH_PENDING, PUSH_DELIVERED, PUSH_FAILED)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … at most 1 h."""
    return min(FIRST_RETRY * (2 ** min(max(0, attempts - 1), 20)), MAX_RETRY)


async def mark_pending(session: AsyncSession, message_ids: Sequence[int], now: datetime) -> None:
    """In the delivering transaction: these new messages are to be pushed, from now on."""
    if message_ids:
        await session.execute(
            sa.update(InboxMessage)
            .where(InboxMessage.id.in_(list(message_ids)), InboxMessage.push_state.is_(None))
            .values(push_state=PUSH_PENDING, push_next_at=now, push_since=now)
        )


async def claim_due(session_factory: SessionFactory, now: datetime, limit: int = 100
                    ) -> list[InboxMessage]:
    """Up to `limit` due messages, oldest due first, each claimed for LEASE."""
    async with session_factory() as session:
        rows = (await session.execute(
            sa.select(InboxMessage.id, InboxMessage.push_next_at)
            .where(InboxMessage.push_state == PUSH_PENDING, InboxMessage.push_next_at <= now)
            .order_by(InboxMessage.push_next_at, InboxMessage.id).limit(limit)
        )).all()
    claimed: list[int] = []
    async with session_factory() as session, session.begin():
        for row in rows:
            result = await session.execute(
                sa.update(InboxMessage)
                .where(InboxMessage.id == row.id, InboxMessage.push_state == PUSH_PENDING,
                       InboxMessage.push_next_at == row.push_next_at)
                .values(push_next_at=now + LEASE)
            )
            if result.rowcount == 1:
                claimed.append(row.id)
    if not claimed:
        return []
    async with session_factory() as session:
        found = (await session.execute(
            sa.select(InboxMessage).where(InboxMessage.id.in_(claimed)).order_by(InboxMessage.id)
        )).scalars()
        return list(found)


async def record_outcome(session_factory: SessionFactory, message_id: int, *, now: datetime,
                         delivered: bool, error: str | None = None, final: bool = False,
                         give_up: timedelta = GIVE_UP) -> str:
    """One attempt's outcome; returns the message's new state. A delivered message stays so."""
    async with session_factory() as session, session.begin():
        msg = await session.get(InboxMessage, message_id, with_for_update=True)
        if msg is None or msg.push_state == PUSH_DELIVERED:
            return PUSH_DELIVERED if msg is not None else PUSH_FAILED
        attempts = msg.push_attempts + 1
        values: dict = {"push_attempts": attempts, "pushed_at": now}
        if delivered:
            values |= {"push_state": PUSH_DELIVERED, "delivered_at": now, "push_next_at": None,
                       "push_error": None}
        else:
            since = msg.push_since or msg.created_at
            next_at = now + backoff(attempts)
            if final or next_at > since + give_up:
                values |= {"push_state": PUSH_FAILED, "push_next_at": None, "push_error": error}
            else:
                values |= {"push_state": PUSH_PENDING, "push_next_at": next_at, "push_error": error}
        await session.execute(sa.update(InboxMessage).where(InboxMessage.id == message_id).values(**values))
        return values.get("push_state", PUSH_PENDING)


@dataclass(frozen=True)
class PartyStatus:
    party_code: str
    pending: int
    delivered: int
    failed: int
    oldest_pending: datetime | None
    last_error: str | None


async def status(session_factory: SessionFactory, party: str | None = None) -> list[PartyStatus]:
    """Per party with a webhook: messages pending, delivered and failed (`retrying` counts as pending)."""
    state = sa.case((InboxMessage.push_state == PUSH_RETRYING, PUSH_PENDING),
                    else_=InboxMessage.push_state)
    query = (sa.select(InboxMessage.party_code, state.label("state"), sa.func.count(),
                       sa.func.min(InboxMessage.created_at))
             .where(InboxMessage.push_state.in_([*STATES, PUSH_RETRYING]))
             .group_by(InboxMessage.party_code, state))
    if party:
        query = query.where(InboxMessage.party_code == party)
    async with session_factory() as session:
        rows = (await session.execute(query)).all()
        errors: dict[str, Any] = dict((await session.execute(
            sa.select(InboxMessage.party_code, sa.func.max(InboxMessage.push_error))
            .where(InboxMessage.push_error.is_not(None),
                   InboxMessage.push_state.in_([PUSH_PENDING, PUSH_FAILED]))
            .group_by(InboxMessage.party_code))).all())
    by_party: dict[str, dict] = {}
    for code, st, n, oldest in rows:
        entry = by_party.setdefault(code, {"pending": 0, "delivered": 0, "failed": 0, "oldest": None})
        entry[st] += n
        if st == PUSH_PENDING:
            entry["oldest"] = oldest
    return [PartyStatus(code, e["pending"], e["delivered"], e["failed"], e["oldest"], errors.get(code))
            for code, e in sorted(by_party.items())]


async def redeliver(session_factory: SessionFactory, *, message_id: int | None = None,
                    party: str | None = None, failed_only: bool = True,
                    now: datetime | None = None) -> int:
    """Make messages due again now, with a fresh give-up period: one message (any state but
    never-pushed), or a party's failed ones. Returns how many."""
    now = now or datetime.now(UTC)
    query = sa.update(InboxMessage).where(InboxMessage.push_state.is_not(None))
    if message_id is not None:
        query = query.where(InboxMessage.id == message_id)
    elif party:
        query = query.where(InboxMessage.party_code == party)
        if failed_only:
            query = query.where(InboxMessage.push_state == PUSH_FAILED)
    else:
        raise ValueError("redeliver needs a message id or a party")
    async with session_factory() as session, session.begin():
        result = await session.execute(query.values(
            push_state=PUSH_PENDING, push_next_at=now, push_since=now, delivered_at=None))
        return result.rowcount or 0


def delivery_view(msg: InboxMessage) -> dict | None:
    """A message's delivery state as GET /v1/inbox shows it (null: the party has no webhook)."""
    if msg.push_state is None:
        return None
    state = PUSH_PENDING if msg.push_state == PUSH_RETRYING else msg.push_state
    if state not in STATES:
        state = PUSH_FAILED
    return {
        "state": state,
        "attempts": msg.push_attempts,
        "last_error": msg.push_error,
        "next_attempt_at": msg.push_next_at.isoformat() if msg.push_next_at and state == PUSH_PENDING else None,
        "delivered_at": msg.delivered_at.isoformat() if msg.delivered_at else None,
    }


__all__ = ["GIVE_UP", "LEASE", "PartyStatus", "STATES", "backoff", "claim_due", "delivery_view",
           "mark_pending", "record_outcome", "redeliver", "status"]
