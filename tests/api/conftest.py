"""Intake fixtures: the real intake app (in-process, httpx + ASGITransport) on the real worker and
the real dev server (`temporal_env`, `store`, `worker` from tests/conftest.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest_asyncio
from temporalio.service import RPCError

from starter.api import create_app
from starter.service import IntakeService
from vangnet.store import Store

_ids = itertools.count(1)
SETTLE_TIMEOUT = 60.0


def new_ref() -> str:
    return f"T{next(_ids):05d}-{id(object()) % 10_000:04d}"


def new_event_id() -> str:
    return f"ev-{next(_ids)}"


def arrears(tenancy_ref: str, *, corporation: str = "woonbron", municipality: str = "dordrecht",
            event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "type": "arrears_reported",
        "tenancy_ref": tenancy_ref,
        "corporation": corporation,
        "municipality": municipality,
        "event_id": event_id or new_event_id(),
        "arrears_cents": 85_000,
        "monthly_rent_cents": 85_000,
        "arrears_since": (date.today() - timedelta(days=10)).isoformat(),
    }
    body.update(extra)
    return body


def event(event_type: str, tenancy_ref: str, *, corporation: str = "woonbron",
          municipality: str = "dordrecht", event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "tenancy_ref": tenancy_ref, "corporation": corporation,
            "municipality": municipality, "event_id": event_id or new_event_id(), **fields}


class Api:
    """The intake over HTTP, plus what a test needs to look behind it."""

    def __init__(self, http: httpx.AsyncClient, service: IntakeService, store: Store) -> None:
        self.http = http
        self.service = service
        self.store = store
        self.client = service.client
        self._keys: dict[str, str] = {}

    async def key(self, code: str) -> str:
        """A (cached) API key for a party code, or for `operator` / `auditor`."""
        if code not in self._keys:
            self._keys[code] = (await self.service.create_key(code)).key
        return self._keys[code]

    async def headers(self, code: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.key(code)}"} if code else {}

    async def post(self, path: str, as_: str | None, *, headers: dict[str, str] | None = None,
                   **kwargs: Any) -> httpx.Response:
        return await self.http.post(path, headers={**await self.headers(as_), **(headers or {})}, **kwargs)

    async def get(self, path: str, as_: str | None, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, headers=await self.headers(as_), **kwargs)

    async def send(self, as_: str, body: dict[str, Any], *, settle: bool = True) -> httpx.Response:
        """POST /v1/events; on 202 wait until the case has taken the event in."""
        r = await self.post("/v1/events", as_, json=body)
        if settle and r.status_code == 202 and not r.json()["duplicate"]:
            await self.settled(r.json()["case_id"], body["event_id"], source=as_)
        return r

    async def open_case(self, tenancy_ref: str | None = None, **kw: Any) -> str:
        ref = tenancy_ref or new_ref()
        corporation = kw.get("corporation", "woonbron")
        r = await self.send(corporation, arrears(ref, **kw))
        assert r.status_code == 202, r.text
        return r.json()["case_id"]

    async def settled(self, case_id: str, event_id: str | None = None, source: str | None = None) -> None:
        """Wait until the case shows `event_id` (from `source`) on its timeline and has no
        activity in flight."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        handle = self.client.get_workflow_handle(case_id)
        while True:
            try:
                desc = await handle.describe()
                if desc.status is not None and desc.status.name != "RUNNING":
                    return
                if not desc.raw_description.pending_activities:
                    if event_id is None:
                        return
                    timeline = await handle.query("timeline")
                    if any(t["detail"].get("event_id") == event_id
                           and source in (None, t["detail"].get("source")) for t in timeline):
                        return
            except RPCError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"case {case_id} did not settle (event {event_id})")
            await asyncio.sleep(0.05)

    async def timeline(self, case_id: str) -> list[dict[str, Any]]:
        return await self.client.get_workflow_handle(case_id).query("timeline")


@pytest_asyncio.fixture
async def service(temporal_env, store, task_queue, worker) -> IntakeService:
    return IntakeService(store, temporal_env.client, task_queue)


@pytest_asyncio.fixture
async def api(service: IntakeService, store: Store) -> AsyncIterator[Api]:
    app = create_app(service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as http:
        yield Api(http, service, store)
