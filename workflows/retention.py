"""ArchivePurgeWorkflow: the retention purge of the archive (vangnet/retention.py), daily on the
`vangnet-archive-purge` Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from vangnet.operations import PURGE_EXPIRED, PURGE_WORKFLOW, PurgeInput, PurgeResult


@workflow.defn(name=PURGE_WORKFLOW)
class ArchivePurgeWorkflow:
    @workflow.run
    async def run(self, input: PurgeInput) -> PurgeResult:
        return await workflow.execute_activity(
            PURGE_EXPIRED, input, result_type=PurgeResult,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=10),
            summary="Bewaartermijnen: verlopen casussen verwijderen",
        )


__all__ = ["ArchivePurgeWorkflow"]
