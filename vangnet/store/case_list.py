"""The case list (issue 10, `GET /v1/cases`): episodes from the case store's `case_record`, filtered,
paged by an opaque cursor, and only those the reader may read (RULES §12 I3).

Served from the case store, not from Temporal: fast, and it outlives Temporal's retention. A row
is one episode (case id + first run id), as projected by its case; `next_deadline` is kept by runs
that started with the patch case-list-v1.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from vangnet.store.db import SessionFactory
from vangnet.store.intake_events import APPLIED
from vangnet.store.models import CaseRecord, InboxMessage, IntakeEvent

MAX_PAGE = 500


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class CaseFilter:
    stage: str | None = None
    municipality: str | None = None
    corporation: str | None = None
    deadline_before: datetime | None = None
    state: str | None = None  # "open" | "closed" | None (both)


@dataclass(frozen=True)
class Reader:
    """Who reads: `party_code` None reads everything (operators, auditors)."""

    party_code: str | None
    is_corporation: bool = False


def encode_cursor(case_id: str, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([case_id, run_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        case_id, run_id = json.loads(raw)
        if not (isinstance(case_id, str) and isinstance(run_id, str)):
            raise ValueError
        return case_id, run_id
    except Exception:  # noqa: BLE001
        raise BadCursor("cursor is not one this API gave out") from None


def readable(reader: Reader) -> sa.ColumnElement[bool] | None:
    """RULES §12 I3 as a condition on `case_record` (None: everything)."""
    if reader.party_code is None:
        return None
    code = reader.party_code
    messages = sa.exists().where(InboxMessage.case_id == CaseRecord.case_id,
                                 InboxMessage.party_code == code)
    events = sa.exists().where(IntakeEvent.case_id == CaseRecord.case_id, IntakeEvent.source == code,
                               IntakeEvent.verdict == APPLIED)
    own = [CaseRecord.corporation == code] if reader.is_corporation else []
    return sa.or_(*own, messages, events)


async def list_cases(session_factory: SessionFactory, reader: Reader, filters: CaseFilter, *,
                     cursor: str | None = None, limit: int = 100) -> tuple[list[CaseRecord], str | None]:
    """A page of episodes in (case_id, run_id) order after `cursor`, and the next page's cursor
    (None: this was the last page)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    query = sa.select(CaseRecord)
    condition = readable(reader)
    if condition is not None:
        query = query.where(condition)
    if filters.stage:
        query = query.where(CaseRecord.stage == filters.stage)
    if filters.municipality:
        query = query.where(CaseRecord.municipality == filters.municipality)
    if filters.corporation:
        query = query.where(CaseRecord.corporation == filters.corporation)
    if filters.deadline_before is not None:
        query = query.where(CaseRecord.next_deadline.is_not(None),
                            CaseRecord.next_deadline < filters.deadline_before)
    if filters.state == "open":
        query = query.where(CaseRecord.closed_at.is_(None))
    elif filters.state == "closed":
        query = query.where(CaseRecord.closed_at.is_not(None))
    if cursor:
        case_id, run_id = decode_cursor(cursor)
        query = query.where(sa.tuple_(CaseRecord.case_id, CaseRecord.run_id) > sa.tuple_(case_id, run_id))
    query = query.order_by(CaseRecord.case_id, CaseRecord.run_id).limit(limit + 1)
    async with session_factory() as session:
        rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].case_id, rows[-1].run_id) if more else None)


__all__ = ["BadCursor", "CaseFilter", "MAX_PAGE", "Reader", "decode_cursor", "encode_cursor",
           "list_cases", "readable"]
