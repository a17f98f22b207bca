"""WebhookDispatcherWorkflow (issue 10): the one long-running loop that pushes the webhook outbox.

Each round runs the activity `dispatch_webhooks` (activities/dispatch.py), then waits for a nudge
(an action activity signals `nudge` when it wrote messages to push) or `poll_seconds`, whichever
comes first; a full round goes again at once. After `rounds_per_run` rounds it continues as new,
so its history stays short. The worker starts it (id `webhook-dispatcher-<task queue>`) and keeps
one running; it holds no state besides the round count, so replacing it loses nothing.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from vangnet.domain import DispatcherInput, DispatchRequest, DispatchResult

DISPATCHER_WORKFLOW = "WebhookDispatcherWorkflow"
NUDGE = "nudge"
DISPATCH_TIMEOUT = timedelta(minutes=5)


def dispatcher_id(task_queue: str) -> str:
    return f"webhook-dispatcher-{task_queue}"


@workflow.defn(name=DISPATCHER_WORKFLOW)
class WebhookDispatcherWorkflow:
    def __init__(self) -> None:
        self._nudged = False

    @workflow.signal(name=NUDGE)
    def nudge(self) -> None:
        self._nudged = True

    @workflow.run
    async def run(self, input: DispatcherInput) -> None:
        for _ in range(input.rounds_per_run):
            self._nudged = False
            result = await workflow.execute_activity(
                "dispatch_webhooks", DispatchRequest(limit=input.limit), result_type=DispatchResult,
                start_to_close_timeout=DISPATCH_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                summary="Webhooks versturen die aan de beurt zijn",
            )
            if workflow.info().is_continue_as_new_suggested():
                break
            if result.more or self._nudged:
                continue
            try:
                await workflow.wait_condition(lambda: self._nudged,
                                              timeout=timedelta(seconds=input.poll_seconds),
                                              timeout_summary="Wachten op berichten om te versturen")
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(input)


async def start_dispatcher(client, task_queue: str, poll_seconds: float = 10.0):  # noqa: ANN001, ANN201
    """Start the dispatcher if it does not run (idempotent); returns its handle."""
    from temporalio.common import WorkflowIDConflictPolicy

    return await client.start_workflow(
        DISPATCHER_WORKFLOW, DispatcherInput(poll_seconds=poll_seconds), id=dispatcher_id(task_queue),
        task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="Webhooks: de uitgaande berichten naar partijen",
    )


__all__ = ["DISPATCHER_WORKFLOW", "NUDGE", "WebhookDispatcherWorkflow", "dispatcher_id",
           "start_dispatcher"]
