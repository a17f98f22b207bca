"""CaseArchiverWorkflow: copy every closed case run into the case store before Temporal's retention
deletes it (vangnet/archive.py). Runs every 15 minutes on the `vangnet-archiver` Schedule.

Visibility lists the closed runs (every closed status) a page at a time; the case store says which
it lacks; each of those is copied by its own `archive_run` activity (retried on its own). Nothing
depends on when the last pass ran: a pass finds whatever Temporal still has and the archive does
not, so a paused schedule or a worker that was down catches up by itself, and two passes at once
copy nothing twice. With `include_running` it also snapshots the open runs (the reports use that).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from vangnet.operations import (
        ARCHIVE_RUN,
        ARCHIVER_WORKFLOW,
        LIST_CASE_RUNS,
        RUNS_TO_ARCHIVE,
        ArchiverInput,
        ArchiverResult,
        ListRunsRequest,
        ListRunsResult,
        RunRefModel,
    )

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1), maximum_attempts=10)
AT_ONCE = 16  # copies in flight


@workflow.defn(name=ARCHIVER_WORKFLOW)
class CaseArchiverWorkflow:
    @workflow.run
    async def run(self, input: ArchiverInput) -> ArchiverResult:
        totals = dict(input.totals)
        token = input.page_token
        while True:
            page = await workflow.execute_activity(
                LIST_CASE_RUNS, ListRunsRequest(running=input.include_running, query=input.query,
                                                page_token=token),
                result_type=ListRunsResult, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RETRY, summary="Afgesloten casussen opzoeken (visibility)",
            )
            todo = await workflow.execute_activity(
                RUNS_TO_ARCHIVE, page.refs, result_type=list[RunRefModel],
                start_to_close_timeout=timedelta(seconds=60), retry_policy=RETRY,
                summary="Nagaan wat nog niet in het archief staat",
            )
            totals["seen"] = totals.get("seen", 0) + len(page.refs)
            for i in range(0, len(todo), AT_ONCE):
                results = await asyncio.gather(*(self._copy(ref) for ref in todo[i:i + AT_ONCE]))
                for result in results:
                    totals[result] = totals.get(result, 0) + 1
            token = page.next_page_token
            if not token:
                return ArchiverResult(totals=totals)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(ArchiverInput(include_running=input.include_running,
                                                       query=input.query, page_token=token,
                                                       totals=totals))

    async def _copy(self, ref: RunRefModel) -> str:
        try:
            return await workflow.execute_activity(
                ARCHIVE_RUN, ref, result_type=str, start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RETRY, summary=f"Archiveren: {ref.case_id}",
            )
        except Exception as err:  # the next pass tries again; the others go on
            workflow.logger.warning("run %s of %s not archived: %s", ref.run_id, ref.case_id, err)
            return "failed"


__all__ = ["CaseArchiverWorkflow"]
