"""What the reports read: every case episode in the case store, from the projection (`case_record`:
which episodes exist, where, since when, how they ended) and the archive (`case_archive`: the
timeline, the context and the stages of each episode's last run).

Open cases have a timeline in the archive too: before a report is built, the report workflow (and
`starter report`, unless `--no-refresh`) snapshots every open run into the archive with the same
replay the archiver uses (vangnet/archive.py). So a report reads the case store alone, is
reproducible from it, and needs no worker to answer queries; the snapshot says as of when it was
taken. An episode the projection knows but the archive has no timeline for (Temporal was
unreachable at the refresh) is counted where the projection suffices and listed as incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vangnet.archive import CONTINUED_AS_NEW, RUNNING
from vangnet.audit.references import parse_time
from vangnet.store.db import SessionFactory
from vangnet.store.models import CaseArchive, CaseRecord


@dataclass
class EpisodeData:
    case_id: str
    first_run_id: str
    corporation: str
    municipality: str
    opened_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    stage: str | None  # the projection's (latest) stage
    timeline: list[dict[str, Any]] | None = None  # None: no archived timeline
    context: dict[str, Any] | None = None
    stages: list[tuple[datetime, str]] = field(default_factory=list)
    snapshot: bool = False  # the timeline is a snapshot of an open run
    archived_at: datetime | None = None

    def known_until(self) -> datetime | None:
        """How far an open case's timeline reaches: when its snapshot was taken, or its last
        step when that lies later (a case on a skipped clock, as in `starter simulate`)."""
        if not self.snapshot:
            return None
        last = parse_time(self.timeline[-1]["at"]) if self.timeline else None
        return max((m for m in (last, self.archived_at) if m is not None), default=None)

    def state_until(self, end: datetime) -> dict[str, Any]:
        """The case state as `vangnet.audit.compliance.check` reads it, with the timeline cut at
        `end` (what the case knew then)."""
        closed = self.closed_at is not None and self.closed_at < end
        return {
            "corporation": self.corporation,
            "municipality": self.municipality,
            "closed": closed,
            "outcome": self.outcome if closed else None,
            "context": self.context or {},
            "timeline": [e for e in self.timeline or [] if parse_time(e["at"]) < end],
        }

    def open_at(self, moment: datetime) -> bool:
        return (self.opened_at is not None and self.opened_at < moment
                and (self.closed_at is None or self.closed_at >= moment))

    def stage_at(self, moment: datetime) -> str | None:
        """The stage the case had just before `moment` (its published stages), else the
        projection's."""
        if not self.stages:
            return self.stage
        stage = None
        for at, name in self.stages:
            if at < moment:
                stage = name
        return stage


async def load_episodes(sessions: SessionFactory, *, municipality: str | None = None,
                        corporation: str | None = None) -> list[EpisodeData]:
    """Every episode, joined from the projection and the archive, in case-id order."""
    rq = sa.select(CaseRecord)
    aq = sa.select(CaseArchive.case_id, CaseArchive.run_id, CaseArchive.first_run_id,
                   CaseArchive.status, CaseArchive.corporation, CaseArchive.municipality,
                   CaseArchive.outcome, CaseArchive.started_at, CaseArchive.closed_at,
                   CaseArchive.timeline, CaseArchive.context, CaseArchive.stages,
                   CaseArchive.final_status, CaseArchive.archived_at)
    if municipality:
        rq = rq.where(CaseRecord.municipality == municipality)
        aq = aq.where(CaseArchive.municipality == municipality)
    if corporation:
        rq = rq.where(CaseRecord.corporation == corporation)
        aq = aq.where(CaseArchive.corporation == corporation)
    async with sessions() as session:
        records = (await session.execute(rq)).scalars().all()
        archived = (await session.execute(aq.order_by(CaseArchive.started_at))).all()

    episodes: dict[tuple[str, str], EpisodeData] = {}
    for r in records:
        episodes[(r.case_id, r.run_id)] = EpisodeData(
            case_id=r.case_id, first_run_id=r.run_id, corporation=r.corporation,
            municipality=r.municipality, opened_at=r.opened_at, closed_at=r.closed_at,
            outcome=r.outcome, stage=r.stage)
    runs: dict[tuple[str, str], list[Any]] = {}
    for row in archived:
        runs.setdefault((row.case_id, row.first_run_id), []).append(row)
    for key, rows in runs.items():
        last = next((r for r in reversed(rows) if r.status != CONTINUED_AS_NEW), rows[-1])
        status = last.final_status or {}
        ep = episodes.get(key)
        if ep is None:  # the projection lacks it (or it was cleared): the archive knows it
            opened = status.get("opened_at")
            closed = status.get("closed_at")
            ep = episodes[key] = EpisodeData(
                case_id=last.case_id, first_run_id=last.first_run_id,
                corporation=last.corporation, municipality=last.municipality,
                opened_at=parse_time(opened) if opened else None,
                closed_at=parse_time(closed) if closed else None,
                outcome=last.outcome, stage=status.get("stage"))
        ep.timeline = list(last.timeline or [])
        ep.context = last.context
        ep.snapshot = last.status == RUNNING
        ep.archived_at = last.archived_at
        stages: list[tuple[datetime, str]] = []
        for r in rows:
            for at, name in r.stages or []:
                if not stages or stages[-1][1] != name:
                    stages.append((parse_time(at), name))
        ep.stages = stages
        if ep.opened_at is None and ep.timeline:
            ep.opened_at = parse_time(ep.timeline[0]["at"])
    return sorted(episodes.values(), key=lambda e: (
        e.case_id, e.opened_at.isoformat() if e.opened_at else "", e.first_run_id))


__all__ = ["EpisodeData", "load_episodes"]
