"""A small driver that moves real cases on the real server: send events, move the case's own
virtual clock with `fast_forward`, and read status, timeline, search attributes and inboxes."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from vangnet import calendar
from vangnet.domain import CaseInput, case_id_for
from vangnet.store import Store
from vangnet.store.models import CaseRecord, InboxMessage

_ids = itertools.count(1)
READY_TIMEOUT = 20.0  # seconds to wait for the worker to catch up (readiness, not time travel)


class Case:
    def __init__(self, driver: CaseDriver, handle: WorkflowHandle, corporation: str,
                 municipality: str, tenancy_ref: str) -> None:
        self.driver = driver
        self.handle = handle
        self.corporation = corporation
        self.municipality = municipality
        self.tenancy_ref = tenancy_ref

    @property
    def id(self) -> str:
        return self.handle.id

    @property
    def first_run_id(self) -> str:
        """The run this case (episode) started with; stable across continue-as-new."""
        assert self.handle.first_execution_run_id is not None
        return self.handle.first_execution_run_id

    async def send(self, event_type: str, source: str | None = None, *,
                   event_id: str | None = None, recorded: bool = True, **fields: Any) -> str:
        """Signal one event and wait until the case has processed it.

        `recorded=False` for events that leave no entry with their event_id on the timeline
        (a duplicate, a malformed payload): then wait until the case is idle again (signals are
        processed in order, in the workflow task that follows them)."""
        event_id = event_id or f"e{next(_ids)}"
        payload = {"event_id": event_id, "source": source or self.corporation,
                   **_jsonable(fields)}
        await self.send_raw(event_type, payload, wait=False)
        await self.settled(event_id if recorded else None)
        return event_id

    async def send_raw(self, event_type: str, payload: Any, *, wait: bool = True) -> None:
        """Signal any payload as it is (for malformed events)."""
        await self.handle.signal(event_type, payload)
        if wait:
            await self.settled()

    async def advance(self, duration: timedelta) -> None:
        """Move this case's virtual clock forward; its timers fire on the way."""
        await self.driver.env.fast_forward(self.handle, duration)
        await self.settled()

    async def advance_past(self, moment: datetime | str,
                           margin: timedelta = timedelta(minutes=1)) -> None:
        """Move this case's virtual clock to just after `moment` (a datetime or ISO string)."""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        delta = moment + margin - await self.now()
        assert delta > timedelta(0), f"{moment} is not ahead of the case's clock"
        await self.advance(delta)

    async def now(self) -> datetime:
        return await self.driver.env.get_current_time(self.handle)

    async def status(self) -> dict[str, Any]:
        return await self.handle.query("status")

    async def timeline(self) -> list[dict[str, Any]]:
        return await self.handle.query("timeline")

    async def state(self) -> dict[str, Any]:
        return await self.handle.query("state")

    async def actions(self) -> list[tuple[str, str | None]]:
        return [(t["kind"], t["detail"].get("reason"))
                for t in await self.timeline() if t["category"] == "action"]

    async def action_entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [t for t in await self.timeline()
                if t["category"] == "action" and (kind is None or t["kind"] == kind)]

    async def inbox(self, party_code: str) -> list[InboxMessage]:
        """This case's messages in one party's inbox, in the order of the case's actions.

        The actions of one step run as concurrent activities, so their messages may be written
        in either order; the sequence number in the idempotency key is the case's own order."""
        messages = await self.driver.inbox(party_code, self.id)
        return sorted(messages, key=lambda m: (_seq(m), m.id))

    async def inbox_actions(self, party_code: str) -> list[tuple[str, str | None]]:
        return [(m.action, m.payload.get("reason")) for m in await self.inbox(party_code)]

    async def search_attributes(self) -> dict[str, Any]:
        """The case's search attributes, by name (typed: str, int, datetime)."""
        desc = await self.handle.describe()
        return {pair.key.name: pair.value for pair in desc.typed_search_attributes}

    async def run_id(self) -> str:
        return (await self.handle.describe()).run_id

    async def settled(self, event_id: str | None = None) -> None:
        """Wait until the case has taken `event_id` in and has nothing in flight."""
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while True:
            done = await self._has_settled(event_id)
            if done:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"case {self.id} did not settle (event {event_id})")
            await asyncio.sleep(0.05)

    async def _has_settled(self, event_id: str | None) -> bool:
        desc = await self.handle.describe()
        if desc.status is not None and desc.status.name != "RUNNING":
            return True
        raw = desc.raw_description
        if raw.pending_activities or raw.HasField("pending_workflow_task"):
            return False
        try:
            # A run that has only just continued as new answers no query until its first
            # workflow task (the server may hold that back for a second): not settled yet.
            timeline = await self.handle.query("timeline")
        except RPCError:
            return False
        if event_id is None:
            return True
        return any(t["detail"].get("event_id") == event_id for t in timeline)


class CaseDriver:
    def __init__(self, env: WorkflowEnvironment, store: Store, task_queue: str) -> None:
        self.env = env
        self.store = store
        self.task_queue = task_queue

    async def open(self, event_type: str = "arrears_reported", *, tenancy_ref: str | None = None,
                   corporation: str = "woonbron", municipality: str = "dordrecht",
                   source: str | None = None, event_id: str | None = None,
                   history_limit: int | None = None, **fields: Any) -> Case:
        tenancy_ref = tenancy_ref or f"T{next(_ids):06d}"
        if event_type == "arrears_reported":
            fields.setdefault("arrears_cents", 85_000)
            fields.setdefault("monthly_rent_cents", 85_000)
            fields.setdefault("arrears_since", today_nl())
        event_id = event_id or f"e{next(_ids)}"
        extra = {"history_limit": history_limit} if history_limit is not None else {}
        handle = await self.env.client.start_workflow(
            "TenantCaseWorkflow",
            CaseInput(tenancy_ref=tenancy_ref, corporation=corporation, municipality=municipality,
                      **extra),
            id=case_id_for(corporation, tenancy_ref),
            task_queue=self.task_queue,
            start_signal=event_type,
            start_signal_args=[{"event_id": event_id, "source": source or corporation,
                                **_jsonable(fields)}],
        )
        case = Case(self, handle, corporation, municipality, tenancy_ref)
        await case.settled(event_id)
        return case

    async def inbox(self, party_code: str, case_id: str | None = None) -> list[InboxMessage]:
        async with self.store.sessions() as session:
            query = sa.select(InboxMessage).where(InboxMessage.party_code == party_code)
            if case_id:
                query = query.where(InboxMessage.case_id == case_id)
            rows = await session.execute(query.order_by(InboxMessage.id))
            return list(rows.scalars())

    async def case_messages(self, case_id: str) -> list[InboxMessage]:
        """Every inbox message of one case, whoever it went to, in delivery order."""
        async with self.store.sessions() as session:
            rows = await session.execute(
                sa.select(InboxMessage).where(InboxMessage.case_id == case_id)
                .order_by(InboxMessage.id)
            )
            return list(rows.scalars())

    async def case_records(self, case_id: str) -> list[CaseRecord]:
        """The store's projection rows (one per episode) of a case."""
        async with self.store.sessions() as session:
            rows = await session.execute(
                sa.select(CaseRecord).where(CaseRecord.case_id == case_id)
                .order_by(CaseRecord.opened_at)
            )
            return list(rows.scalars())


def today_nl() -> date:
    """Today in the Netherlands (a new case's virtual clock starts at the real now)."""
    return calendar.local_date(datetime.now(UTC))


def when(value: str) -> datetime:
    """An ISO timestamp from a status, timeline entry or message, as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def entries(timeline: list[dict[str, Any]], category: str | None = None,
            kind: str | None = None) -> list[dict[str, Any]]:
    return [t for t in timeline
            if (category is None or t["category"] == category) and (kind is None or t["kind"] == kind)]


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def _seq(message: InboxMessage) -> int:
    """The action sequence number in a message's key `{case_id}/{run_id}/{seq}`."""
    return int(message.idempotency_key.rsplit("/", 1)[1])


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in fields.items()}
