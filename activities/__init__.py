"""The case's activities: case context, the actions of RULES §5 and §11, and the case projection.

Activities need the case store, so they are bound to a `Store` built once per worker process:

    from activities import CaseActivities
    from vangnet.store import Store

    store = await Store.open(settings)                      # migrates, seeds the registry if empty
    worker = Worker(client, task_queue=settings.task_queue, workflows=[...],
                    activities=CaseActivities(store, settings.policy_file).all())
    ...
    await store.close()

Workflows call them by name (this module imports nothing heavy, so a workflow may import the names
inside `workflow.unsafe.imports_passed_through()`):

    await workflow.execute_activity(RESOLVE_CASE_CONTEXT, CaseContextRequest(...), result_type=CaseContext, ...)
    await workflow.execute_activity(action_name, ActionRequest(...), result_type=DeliveryResult, ...)
    await workflow.execute_activity(RECORD_CASE, CaseProjection(...), ...)

Errors: an unknown or wrongly-kinded party raises `ApplicationError(type="UnknownParty",
non_retryable=True)`; a malformed request `InvalidActionRequest`; an idempotency key reused for a
different message `IdempotencyConflict` (both non-retryable). Database trouble is retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vangnet.domain import ACTIONS

RESOLVE_CASE_CONTEXT = "resolve_case_context"
RECORD_CASE = "record_case"
DELIVER_WEBHOOK = "deliver_webhook"  # POST one inbox message to its party's webhook (activities/webhooks.py)
ARCHIVE_TIMELINE = "archive_timeline"  # keep a case's older timeline entries in the store (activities/timeline.py)
ACTION_ACTIVITIES: tuple[str, ...] = ACTIONS  # each action's activity is named after the action

# ApplicationError types raised by these activities.
UNKNOWN_PARTY = "UnknownParty"
INVALID_ACTION_REQUEST = "InvalidActionRequest"
IDEMPOTENCY_CONFLICT = "IdempotencyConflict"

if TYPE_CHECKING:
    from activities.case import CaseActivities


def __getattr__(name: str) -> Any:
    if name == "CaseActivities":
        from activities.case import CaseActivities

        return CaseActivities
    raise AttributeError(f"module 'activities' has no attribute {name!r}")


__all__ = [
    "CaseActivities",
    "RESOLVE_CASE_CONTEXT",
    "RECORD_CASE",
    "DELIVER_WEBHOOK",
    "ARCHIVE_TIMELINE",
    "ACTION_ACTIVITIES",
    "UNKNOWN_PARTY",
    "INVALID_ACTION_REQUEST",
    "IDEMPOTENCY_CONFLICT",
]
