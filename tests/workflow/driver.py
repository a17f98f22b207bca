"""A small driver that moves real cases on the real server: send events, move the case's own
virtual clock with `fast_forward`, and read status, timeline and inboxes."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from vangnet.domain import CaseInput, case_id_for
from vangnet.store import Store
from vangnet.store.models import InboxMessage

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

    async def send(self, event_type: str, source: str | None = None, *,
                   event_id: str | None = None, **fields: Any) -> str:
        event_id = event_id or f"e{next(_ids)}"
        payload = {"event_id": event_id, "source": source or self.corporation,
                   **_jsonable(fields)}
        await self.handle.signal(event_type, payload)
        await self.settled(event_id)
        return event_id

    async def advance(self, duration: timedelta) -> None:
        """Move this case's virtual clock forward; its timers fire on the way."""
        await self.driver.env.fast_forward(self.handle, duration)
        await self.settled()

    async def now(self) -> datetime:
        return await self.driver.env.get_current_time(self.handle)

    async def status(self) -> dict[str, Any]:
        return await self.handle.query("status")

    async def timeline(self) -> list[dict[str, Any]]:
        return await self.handle.query("timeline")

    async def actions(self) -> list[tuple[str, str | None]]:
        return [(t["kind"], t["detail"].get("reason"))
                for t in await self.timeline() if t["category"] == "action"]

    async def settled(self, event_id: str | None = None) -> None:
        """Wait until the case has taken `event_id` in and has no activity in flight."""
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
        if desc.raw_description.pending_activities:
            return False
        if event_id is None:
            return True
        try:
            timeline = await self.handle.query("timeline")
        except RPCError:
            return False
        return any(t["detail"].get("event_id") == event_id for t in timeline)


class CaseDriver:
    def __init__(self, env: WorkflowEnvironment, store: Store, task_queue: str) -> None:
        self.env = env
        self.store = store
        self.task_queue = task_queue

    async def open(self, event_type: str = "arrears_reported", *, tenancy_ref: str | None = None,
                   corporation: str = "woonbron", municipality: str = "dordrecht",
                   source: str | None = None, event_id: str | None = None,
                   **fields: Any) -> Case:
        tenancy_ref = tenancy_ref or f"T{next(_ids):06d}"
        if event_type == "arrears_reported":
            fields.setdefault("arrears_cents", 85_000)
            fields.setdefault("monthly_rent_cents", 85_000)
            fields.setdefault("arrears_since", date.today())
        event_id = event_id or f"e{next(_ids)}"
        handle = await self.env.client.start_workflow(
            "TenantCaseWorkflow",
            CaseInput(tenancy_ref=tenancy_ref, corporation=corporation, municipality=municipality),
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


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in fields.items()}
