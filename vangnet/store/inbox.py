"""Party inboxes: the messages the case's actions produce (RULES §5), delivered exactly once.

A message is unique per (party_code, idempotency_key). Delivery is `INSERT … ON CONFLICT DO NOTHING`
on that key, so a retried activity (or two racing attempts) leaves one row; the caller learns the
row's id and whether it already existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import InboxMessage

MAX_PAGE = 1000


class IdempotencyConflict(ValueError):
    """The idempotency key is already used by a different message for the same party (a bug in
    whoever derives the keys: retrying cannot help)."""


@dataclass(frozen=True)
class NewMessage:
    party_code: str
    idempotency_key: str
    case_id: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivered:
    message_id: int
    party_code: str
    duplicate: bool


async def _deliver(session: AsyncSession, msg: NewMessage, now: datetime) -> Delivered:
    ins = (
        dialect_insert(session, InboxMessage)
        .values(
            party_code=msg.party_code,
            idempotency_key=msg.idempotency_key,
            case_id=msg.case_id,
            action=msg.action,
            payload=msg.payload,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["party_code", "idempotency_key"])
        .returning(InboxMessage.id)
    )
    new_id = (await session.execute(ins)).scalar()
    if new_id is not None:
        return Delivered(new_id, msg.party_code, duplicate=False)
    row = (
        await session.execute(
            sa.select(InboxMessage.id, InboxMessage.case_id, InboxMessage.action).where(
                InboxMessage.party_code == msg.party_code,
                InboxMessage.idempotency_key == msg.idempotency_key,
            )
        )
    ).one()
    if (row.case_id, row.action) != (msg.case_id, msg.action):
        raise IdempotencyConflict(
            f"idempotency key {msg.idempotency_key!r} for {msg.party_code!r} already holds message "
            f"{row.id} ({row.action} of {row.case_id}), not {msg.action} of {msg.case_id}"
        )
    return Delivered(row.id, msg.party_code, duplicate=True)


async def deliver_in(
    session: AsyncSession, messages: Sequence[NewMessage], *, now: datetime | None = None
) -> list[Delivered]:
    """Deliver several messages in the caller's transaction (which must commit for them to
    count); results in the same order."""
    now = now or datetime.now(UTC)
    return [await _deliver(session, m, now) for m in messages]


async def deliver_many(
    session_factory: SessionFactory, messages: Sequence[NewMessage], *, now: datetime | None = None
) -> list[Delivered]:
    """Deliver several messages in one transaction of their own; results in the same order."""
    async with session_factory() as session, session.begin():
        return await deliver_in(session, messages, now=now)


async def deliver(
    session_factory: SessionFactory,
    party_code: str,
    idempotency_key: str,
    case_id: str,
    action: str,
    payload: dict[str, Any],
) -> tuple[int, bool]:
    """Deliver one message exactly once; returns (message_id, duplicate)."""
    [d] = await deliver_many(
        session_factory, [NewMessage(party_code, idempotency_key, case_id, action, payload)]
    )
    return d.message_id, d.duplicate


async def list_messages(
    session_factory: SessionFactory,
    party_code: str,
    after_id: int = 0,
    limit: int = 100,
    *,
    unacked_only: bool = False,
) -> list[InboxMessage]:
    """The party's messages with id > after_id, oldest first, at most `limit` (1..1000).
    The last message's id is the cursor for the next page."""
    limit = max(1, min(int(limit), MAX_PAGE))
    query = (
        sa.select(InboxMessage)
        .where(InboxMessage.party_code == party_code, InboxMessage.id > after_id)
        .order_by(InboxMessage.id)
        .limit(limit)
    )
    if unacked_only:
        query = query.where(InboxMessage.acked_at.is_(None))
    async with session_factory() as session:
        return list((await session.execute(query)).scalars())


async def ack(
    session_factory: SessionFactory, party_code: str, message_id: int, *, now: datetime | None = None
) -> bool:
    """Mark the party's message handled (idempotent: the first ack time is kept).
    False when the party has no message with that id (another party's message included)."""
    now = now or datetime.now(UTC)
    async with session_factory() as session, session.begin():
        found = (
            await session.execute(
                sa.select(InboxMessage.id).where(
                    InboxMessage.id == message_id, InboxMessage.party_code == party_code
                )
            )
        ).scalar()
        if found is None:
            return False
        await session.execute(
            sa.update(InboxMessage)
            .where(InboxMessage.id == message_id, InboxMessage.acked_at.is_(None))
            .values(acked_at=now)
        )
        return True


# Webhook push states (migration 0003_i13); null: the party has no webhook.
PUSH_PENDING = "pending"
PUSH_RETRYING = "retrying"
PUSH_DELIVERED = "delivered"
PUSH_FAILED = "failed"
PUSH_SKIPPED = "skipped"  # the party's webhook was removed before the push
PUSH_STATES = (PUSH_PENDING, PUSH_RETRYING, PUSH_DELIVERED, PUSH_FAILED, PUSH_SKIPPED)


async def mark_push_pending(session: AsyncSession, message_ids: Sequence[int]) -> None:
    """In the delivering transaction: these new messages go to a party's webhook as well."""
    if message_ids:
        await session.execute(
            sa.update(InboxMessage)
            .where(InboxMessage.id.in_(list(message_ids)), InboxMessage.push_state.is_(None))
            .values(push_state=PUSH_PENDING)
        )


async def record_push(
    session_factory: SessionFactory, message_id: int, state: str, *, now: datetime | None = None
) -> None:
    """One push attempt's outcome (`retrying`, `delivered`, `failed` or `skipped`). A message once delivered
    stays delivered, whatever a late retry reports."""
    if state not in PUSH_STATES:
        raise ValueError(f"unknown push state {state!r}")
    now = now or datetime.now(UTC)
    async with session_factory() as session, session.begin():
        await session.execute(
            sa.update(InboxMessage)
            .where(
                InboxMessage.id == message_id,
                sa.or_(InboxMessage.push_state.is_(None), InboxMessage.push_state != PUSH_DELIVERED),
            )
            .values(push_state=state, push_attempts=InboxMessage.push_attempts + 1, pushed_at=now)
        )


__all__ = [
    "PUSH_PENDING",
    "PUSH_RETRYING",
    "PUSH_DELIVERED",
    "PUSH_FAILED",
    "PUSH_SKIPPED",
    "mark_push_pending",
    "record_push",
    "IdempotencyConflict",
    "NewMessage",
    "Delivered",
    "deliver",
    "deliver_in",
    "deliver_many",
    "list_messages",
    "ack",
]
