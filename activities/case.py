"""`CaseActivities`: every activity of the case, bound to one store (see `activities/__init__`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.actions import ActionActivities
from activities.context import ContextActivities
from activities.dispatch import Dispatcher
from activities.projection import ProjectionActivities
from activities.timeline import TimelineActivities
from activities.webhooks import WebhookActivities
from vangnet.store import Store


class CaseActivities:
    """All activities a case worker registers: `Worker(..., activities=CaseActivities(store).all())`.

    `policy_file` defaults to `store.settings.policy_file`; it is read now (a broken file stops
    the worker at start) and re-read when it changes on disk.
    """

    def __init__(self, store: Store, policy_file: Path | None = None) -> None:
        self.store = store
        self.context = ContextActivities(store, policy_file)
        self.actions = ActionActivities(store)
        self.projection = ProjectionActivities(store)
        self.webhooks = WebhookActivities(store)
        self.dispatcher = Dispatcher(store, self.webhooks.pusher)  # the webhook outbox (issue 10)
        self.timeline = TimelineActivities(store)

    async def aclose(self) -> None:
        """Release what the activities hold beyond the store (the webhook HTTP client)."""
        await self.webhooks.aclose()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.context.resolve_case_context,
            *self.actions.all(),
            self.projection.record_case,
            self.webhooks.deliver_webhook,
            self.dispatcher.dispatch_webhooks,
            self.timeline.archive_timeline,
        ]
