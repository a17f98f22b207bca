"""A party's inbox over the intake (RULES §10 `GET /v1/inbox`, `POST /v1/inbox/{id}/ack`): the
messages its cases sent it, oldest first, paged by cursor."""

from __future__ import annotations

from typing import Any

from starter.service.access import Principal
from starter.service.errors import forbidden, invalid, not_found
from vangnet.store import Store
from vangnet.store.inbox import ack as ack_message
from vangnet.store.inbox import list_messages
from vangnet.store.outbox import delivery_view

MAX_PAGE = 1000


def _owner(p: Principal) -> str:
    if p.party_code is None:
        raise forbidden(f"an {p.role} key has no inbox: inboxes belong to parties")
    return p.party_code


async def inbox_page(store: Store, p: Principal, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """The party's messages with id > after, oldest first (cursor paging)."""
    party = _owner(p)
    if after < 0:
        raise invalid("invalid_request", "after must be 0 or more", "after")
    if not 1 <= limit <= MAX_PAGE:
        raise invalid("invalid_request", f"limit must be between 1 and {MAX_PAGE}", "limit")
    rows = await list_messages(store.sessions, party, after, limit)
    cursor = (rows[-1].id or after) if rows else after
    has_more = bool(rows) and len(rows) == limit and bool(
        await list_messages(store.sessions, party, cursor, 1)
    )
    return {
        "messages": [
            {
                "id": m.id,
                "case_id": m.case_id,
                "action": m.action,
                "idempotency_key": m.idempotency_key,
                "created_at": m.created_at.isoformat(),
                "acked_at": m.acked_at.isoformat() if m.acked_at else None,
                "payload": m.payload,
                "delivery": delivery_view(m),
            }
            for m in rows
        ],
        "next_cursor": cursor,
        "has_more": has_more,
    }


async def acknowledge(store: Store, p: Principal, message_id: int) -> dict[str, Any]:
    party = _owner(p)
    if not await ack_message(store.sessions, party, message_id):
        raise not_found("message_not_found", f"{party} has no message {message_id}")
    return {"message_id": message_id, "acked": True}


__all__ = ["inbox_page", "acknowledge"]
