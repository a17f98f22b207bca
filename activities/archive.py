"""Activities of the archiver (vangnet/archive.py): find case runs through visibility, keep the
ones the archive lacks, copy each.

`archive_run` is the one activity that talks to two things: it reads one run's history from
Temporal and writes one row to the case store. Splitting it would carry every case's history
through the archiver workflow's own history (and into its payload limits).
"""

from __future__ import annotations

import base64

import structlog
from temporalio import activity

from vangnet.archive import Archiver, RunRef, list_runs, runs_to_copy
from vangnet.operations import (
    ARCHIVE_RUN,
    LIST_CASE_RUNS,
    RUNS_TO_ARCHIVE,
    ListRunsRequest,
    ListRunsResult,
    RunRefModel,
)
from vangnet.store import Store

log = structlog.get_logger("vangnet.archive")


def _ref(m: RunRefModel) -> RunRef:
    return RunRef(m.case_id, m.run_id, m.status, m.history_length)


def _model(r: RunRef) -> RunRefModel:
    return RunRefModel(case_id=r.case_id, run_id=r.run_id, status=r.status,
                       history_length=r.history_length)


class ArchiveActivities:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._archiver: Archiver | None = None

    def _copier(self) -> Archiver:
        if self._archiver is None:
            self._archiver = Archiver(activity.client(), self.store.sessions)
        return self._archiver

    @activity.defn(name=LIST_CASE_RUNS)
    async def list_case_runs(self, req: ListRunsRequest) -> ListRunsResult:
        token = base64.b64decode(req.page_token) if req.page_token else None
        refs, next_token = await list_runs(activity.client(), running=req.running, extra_query=req.query,
                                           page_token=token, page_size=req.page_size)
        return ListRunsResult(
            refs=[_model(r) for r in refs],
            next_page_token=base64.b64encode(next_token).decode() if next_token else None,
        )

    @activity.defn(name=RUNS_TO_ARCHIVE)
    async def runs_to_archive(self, refs: list[RunRefModel]) -> list[RunRefModel]:
        return [_model(r) for r in await runs_to_copy(self.store.sessions, [_ref(m) for m in refs])]

    @activity.defn(name=ARCHIVE_RUN)
    async def archive_run(self, ref: RunRefModel) -> str:
        result = await self._copier().copy(_ref(ref))
        log.info("run_archived", case_id=ref.case_id, run_id=ref.run_id, status=ref.status,
                 result=result)
        return result

    def all(self) -> list:
        return [self.list_case_runs, self.runs_to_archive, self.archive_run]
