"""Retention of the archive: how long the case store keeps a closed case, by outcome, and the purge
that removes it when that time is up.

The periods are policy (`[retention]` in config/policy.toml, days after the case closed). The
defaults are decisions of issue 11, documented in the README:

| outcome | kept | why |
|---|---|---|
| `evicted` | 5 years (1826 days) | the outcome the agreement exists to prevent: evaluations and complaints look back furthest |
| `resolved` | 2 years (731 days) | the year it closed and the next one's annual account, and past the relapse window (12 months) |
| `tenancy_ended` | 2 years | as resolved |
| `withdrawn` | 1 year (366 days) | closed by an operator (often a duplicate): the annual account of its year |
| no outcome (a run that failed or was terminated) | 2 years | time to find out what went wrong |

A case is purged as a whole: when every episode of it has closed and each is past its own period
(an open episode, a new one after a relapse included, keeps the whole case). The purge removes, in
one transaction per case, its archived runs, its projection rows, its inbox messages and its
intake records (the events the intake accepted for it), and writes one `deletion_log` row: the
SHA-256 of the case id (whoever holds a case id can check it was purged; the log names no case),
what was removed (counts per table) and when. Temporal's own copy is gone long before (its
namespace retention is 30 days in production).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from vangnet.store.db import SessionFactory
from vangnet.store.models import (
    CaseArchive,
    CaseRecord,
    CaseTimelineEntry,
    DeletionLog,
    InboxMessage,
    IntakeEvent,
)

RUNNING = "running"


class RetentionPolicy(BaseModel):
    """Days the case store keeps a case after it closed, by outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolved: int = Field(default=731, ge=1, le=36500)
    evicted: int = Field(default=1826, ge=1, le=36500)
    tenancy_ended: int = Field(default=731, ge=1, le=36500)
    withdrawn: int = Field(default=366, ge=1, le=36500)
    no_outcome: int = Field(default=731, ge=1, le=36500)

    def days_for(self, outcome: str | None) -> int:
        if outcome in ("resolved", "evicted", "tenancy_ended", "withdrawn"):
            return int(getattr(self, outcome))
        return self.no_outcome

    @classmethod
    def from_policy_file(cls, path: Path) -> RetentionPolicy:
        """`[retention]` of the policy file (absent: the defaults); a clear error naming the file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"policy file {path}: {err}") from None
        try:
            return cls.model_validate(data.get("retention") or {})
        except Exception as err:  # pydantic's message, with the file named
            raise ValueError(f"policy file {path}, [retention]: {err}") from None


def case_hash(case_id: str) -> str:
    return hashlib.sha256(case_id.encode("utf-8")).hexdigest()


@dataclass
class Purged:
    case_id: str
    reason: str
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class _Episode:
    first_run_id: str
    closed_at: datetime | None
    outcome: str | None
    open: bool


async def _episodes(session: Any) -> dict[str, dict[str, _Episode]]:
    """Every case's episodes, from the projection and the archive together."""
    cases: dict[str, dict[str, _Episode]] = {}
    for r in await session.execute(sa.select(CaseRecord.case_id, CaseRecord.run_id,
                                             CaseRecord.closed_at, CaseRecord.outcome)):
        cases.setdefault(r.case_id, {})[r.run_id] = _Episode(r.run_id, r.closed_at, r.outcome,
                                                             r.closed_at is None)
    rows = await session.execute(sa.select(
        CaseArchive.case_id, CaseArchive.first_run_id, CaseArchive.status, CaseArchive.closed_at,
        CaseArchive.outcome).order_by(CaseArchive.started_at))
    for r in rows:
        ep = cases.setdefault(r.case_id, {}).setdefault(
            r.first_run_id, _Episode(r.first_run_id, None, None, False))
        if r.status == RUNNING:
            ep.open = True
        elif r.status != "continued_as_new":
            ep.closed_at = max(filter(None, (ep.closed_at, r.closed_at)), default=None)
            ep.outcome = ep.outcome or r.outcome
    return cases


def _expired(episodes: dict[str, _Episode], policy: RetentionPolicy, now: datetime) -> str | None:
    """Why the case may go (its last period to run out), or None while it must stay."""
    if not episodes or any(e.open or e.closed_at is None for e in episodes.values()):
        return None
    last: tuple[datetime, _Episode] | None = None
    for e in episodes.values():
        assert e.closed_at is not None  # every episode is closed (above)
        until = e.closed_at + timedelta(days=policy.days_for(e.outcome))
        if until > now:
            return None
        if last is None or until > last[0]:
            last = (until, e)
    assert last is not None
    e = last[1]
    return (f"retention: {e.outcome or 'no outcome'} {policy.days_for(e.outcome)} days after "
            f"closing on {e.closed_at.date().isoformat()}")


async def purge_expired(sessions: SessionFactory, policy: RetentionPolicy, *,
                        now: datetime | None = None, dry_run: bool = False) -> list[Purged]:
    """Remove every case past its retention (see the module docstring); with `dry_run`, say what
    would go and remove nothing."""
    now = now or datetime.now(UTC)
    async with sessions() as session:
        cases = await _episodes(session)
    out: list[Purged] = []
    for case_id in sorted(cases):
        reason = _expired(cases[case_id], policy, now)
        if reason is None:
            continue
        purged = await _purge_case(sessions, case_id, cases[case_id], reason, now, dry_run)
        if purged is not None:
            out.append(purged)
    return out


async def _purge_case(sessions: SessionFactory, case_id: str, episodes: dict[str, _Episode],
                      reason: str, now: datetime, dry_run: bool) -> Purged | None:
    tables = {"case_archive": CaseArchive, "case_record": CaseRecord,
              "inbox_message": InboxMessage, "intake_event": IntakeEvent,
              "case_timeline": CaseTimelineEntry}
    async with sessions() as session, session.begin():
        # Checked again in this transaction: a case that opened a new episode meanwhile stays.
        again = (await _episodes_of(session, case_id))
        if set(again) != set(episodes) or any(e.open for e in again.values()):
            return None
        where = {name: model.case_id == case_id for name, model in tables.items()}
        rows = {}
        for name, model in tables.items():
            rows[name] = (await session.execute(
                sa.select(sa.func.count()).select_from(model).where(where[name]))).scalar_one()
        if dry_run:
            return Purged(case_id, reason, rows)
        for name, model in tables.items():
            await session.execute(sa.delete(model).where(where[name]))
        session.add(DeletionLog(case_id_sha256=case_hash(case_id), what=rows, reason=reason[:200],
                                deleted_at=now))
    return Purged(case_id, reason, rows)


async def _episodes_of(session: Any, case_id: str) -> dict[str, _Episode]:
    out: dict[str, _Episode] = {}
    for r in await session.execute(sa.select(CaseRecord.run_id, CaseRecord.closed_at)
                                   .where(CaseRecord.case_id == case_id)):
        out[r.run_id] = _Episode(r.run_id, r.closed_at, None, r.closed_at is None)
    for r in await session.execute(sa.select(CaseArchive.first_run_id, CaseArchive.status)
                                   .where(CaseArchive.case_id == case_id)):
        ep = out.setdefault(r.first_run_id, _Episode(r.first_run_id, None, None, False))
        ep.open = ep.open or r.status == RUNNING
    return out


__all__ = ["Purged", "RetentionPolicy", "case_hash", "purge_expired"]
