"""The outbox dispatcher (issue 10): pushes the inbox messages that are due, outside every case.

`Dispatcher.dispatch_due(now)` claims due messages (vangnet/store/outbox.py), pushes them a few at
a time, and records each outcome: delivered, due again after a backoff (30 s doubling to 1 h), or
failed (refused for good, or still undelivered after VANGNET_WEBHOOK_GIVE_UP_HOURS, default 72).
A receiver that is down therefore costs nobody but itself: no case and no new episode waits.

The activity `dispatch_webhooks` runs one round of it for WebhookDispatcherWorkflow
(workflows/dispatcher.py), which the worker keeps running.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from temporalio import activity

from activities.webhooks import Pusher
from vangnet import metrics
from vangnet.domain import DispatchRequest, DispatchResult
from vangnet.store import Store
from vangnet.store.inbox import PUSH_DELIVERED, PUSH_FAILED
from vangnet.store.models import InboxMessage, Party
from vangnet.store.outbox import claim_due, record_outcome

log = structlog.get_logger("vangnet.dispatch")

DISPATCH_WEBHOOKS = "dispatch_webhooks"
PARALLEL = 8


class Dispatcher:
    def __init__(self, store: Store, pusher: Pusher | None = None) -> None:
        self.store = store
        self.pusher = pusher or Pusher(store.settings)
        self.give_up = timedelta(hours=store.settings.webhook_give_up_hours)

    async def aclose(self) -> None:
        await self.pusher.aclose()

    async def dispatch_due(self, now: datetime | None = None, limit: int = 100) -> DispatchResult:
        """One round: push what is due at `now` (the clock is a parameter so tests can move it)."""
        now = now or datetime.now(UTC)
        claimed = await claim_due(self.store.sessions, now, limit)
        if not claimed:
            return DispatchResult()
        async with self.store.sessions() as session:
            codes = sorted({m.party_code for m in claimed})
            parties = {p.code: p for p in (await session.execute(
                sa.select(Party).where(Party.code.in_(codes)))).scalars()}
        gate = asyncio.Semaphore(PARALLEL)
        states: list[str] = []

        async def one(msg: InboxMessage) -> None:
            async with gate:
                party = parties.get(msg.party_code)
                if party is None or not party.webhook_url:
                    state = await record_outcome(self.store.sessions, msg.id, now=now, delivered=False,
                                                 error="no_webhook", final=True, give_up=self.give_up)
                else:
                    outcome = await self.pusher.push(msg, party)
                    state = await record_outcome(self.store.sessions, msg.id, now=now,
                                                 delivered=outcome.delivered, error=outcome.error,
                                                 final=outcome.final, give_up=self.give_up)
                metrics.count_webhook_attempt(msg.party_code, "retrying" if state == "pending" else state)
                states.append(state)

        await asyncio.gather(*(one(m) for m in claimed))
        result = DispatchResult(
            attempted=len(claimed),
            delivered=states.count(PUSH_DELIVERED),
            failed=states.count(PUSH_FAILED),
            more=len(claimed) >= limit,
        )
        log.info("webhooks_dispatched", attempted=result.attempted, delivered=result.delivered,
                 failed=result.failed)
        return result

    @activity.defn(name=DISPATCH_WEBHOOKS)
    async def dispatch_webhooks(self, req: DispatchRequest) -> DispatchResult:
        return await self.dispatch_due(limit=req.limit)


NUDGE_EVERY = 1.0  # seconds: at most one nudge per second per worker process (a month-end run
# writes thousands of messages; the dispatcher's history must not get a signal for each); a nudge
# asked for within that second is sent once at its end.
_last_nudge: dict[str, float] = {}
_trailing: dict[str, asyncio.Task[None]] = {}


async def nudge_dispatcher(task_queue: str) -> None:
    """From an activity: tell the dispatcher that messages are due (it also polls; best effort)."""
    from workflows.dispatcher import NUDGE, dispatcher_id

    try:
        handle = activity.client().get_workflow_handle(dispatcher_id(task_queue))
    except RuntimeError:  # an activity run without a client (tests): the dispatcher polls anyway
        return

    async def send() -> None:
        _last_nudge[task_queue] = asyncio.get_running_loop().time()
        try:
            await handle.signal(NUDGE)
        except Exception:  # noqa: BLE001 - the dispatcher may not run (tests); it polls anyway
            pass

    wait = _last_nudge.get(task_queue, -NUDGE_EVERY) + NUDGE_EVERY - asyncio.get_running_loop().time()
    if wait <= 0:
        await send()
    elif task_queue not in _trailing or _trailing[task_queue].done():
        async def later() -> None:
            await asyncio.sleep(wait)
            await send()

        _trailing[task_queue] = asyncio.create_task(later())


__all__ = ["DISPATCH_WEBHOOKS", "Dispatcher", "nudge_dispatcher"]
