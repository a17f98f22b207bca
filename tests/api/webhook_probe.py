"""A workflow for tests only: runs `deliver_webhook` once (no retries), so that each error path
of the activity is logged as the worker logs a failed attempt (tests/api/test_logs_hold_no_secrets.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import DELIVER_WEBHOOK
    from vangnet.domain import WebhookRequest, WebhookResult


@workflow.defn
class DeliverOnce:
    @workflow.run
    async def run(self, req: WebhookRequest) -> str:
        try:
            result = await workflow.execute_activity(
                DELIVER_WEBHOOK, req, result_type=WebhookResult,
                start_to_close_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(maximum_attempts=1))
        except ActivityError as err:
            return f"failed: {type(err.cause).__name__}"
        return f"delivered: {result.status_code or result.skipped}"
