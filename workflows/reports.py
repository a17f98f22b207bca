"""AdviesgroepReportWorkflow: one report for the Adviesgroep, as the `vangnet-report-quarterly`
and `vangnet-report-annual` Schedules start it (or `temporal schedule trigger`).

1. the period: from the input, else from the moment the schedule meant the run for
   (`TemporalScheduledStartTime`; a late or caught-up run reports the same period);
2. the archive brought up to date (a child CaseArchiverWorkflow that also snapshots open runs),
   so the report reads the timelines of open and closed cases from the case store alone;
3. the report written to the reports directory (public and internal versions);
4. a message in the Adviesgroep's inbox, and by webhook where it has one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import DELIVER_WEBHOOK
    from vangnet.domain import WebhookRequest, WebhookResult
    from vangnet.operations import (
        BUILD_REPORT,
        DELIVER_REPORT,
        REPORT_WORKFLOW,
        ArchiverInput,
        ReportDelivery,
        ReportFiles,
        ReportInput,
        ReportMessage,
        ReportRequest,
    )
    from vangnet.reports.period import Period, scheduled_period
    from workflows.archiver import CaseArchiverWorkflow

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5), maximum_attempts=20)
WEBHOOK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                            maximum_interval=timedelta(minutes=10))


@workflow.defn(name=REPORT_WORKFLOW)
class AdviesgroepReportWorkflow:
    @workflow.run
    async def run(self, input: ReportInput) -> ReportFiles:
        info = workflow.info()
        if input.period_from and input.period_until:
            period = Period(input.period_from, input.period_until,
                            input.label or f"{input.period_from}_{input.period_until}")
        else:
            when = info.typed_search_attributes.get(SCHEDULED_START) or workflow.now()
            period = scheduled_period(input.kind, when)
        await workflow.execute_child_workflow(
            CaseArchiverWorkflow.run, ArchiverInput(include_running=True, query=input.archive_query),
            id=f"{info.workflow_id}-archief", static_summary="Archief bijwerken voor het rapport",
        )
        files = await workflow.execute_activity(
            BUILD_REPORT,
            ReportRequest(kind=input.kind, period_from=period.start, period_until=period.until,
                          label=period.label, run_key=f"{info.workflow_id}/{info.run_id}"),
            result_type=ReportFiles, start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RETRY, summary=f"Rapport maken: {input.kind} {period.label}",
        )
        delivery = await workflow.execute_activity(
            DELIVER_REPORT,
            ReportMessage(idempotency_key=f"rapport/{info.workflow_id}/{info.run_id}", files=files),
            result_type=ReportDelivery, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY, summary="Bericht aan de Adviesgroep",
        )
        await asyncio.gather(*(self._webhook(m, files) for m in delivery.webhook_message_ids))
        return files

    async def _webhook(self, message_id: int, files: ReportFiles) -> None:
        try:
            await workflow.execute_activity(
                DELIVER_WEBHOOK,
                WebhookRequest(message_id=message_id, case_id=f"rapport-{files.kind}-{files.label}"),
                result_type=WebhookResult, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(days=1), retry_policy=WEBHOOK_RETRY,
                summary=f"Webhook: bericht {message_id}",
            )
        except ActivityError as err:
            workflow.logger.warning("webhook not delivered (message %s stays in the inbox): %s",
                                    message_id, err.cause)


__all__ = ["AdviesgroepReportWorkflow"]
