"""The intake's service: one implementation behind the HTTP API and the command line.

`IntakeService` is a thin façade over the modules that do the work, each one job:

- `errors`: refusals (`IntakeError`, the JSON error of RULES §10) and how they are logged;
- `access`: API keys, and who may send and read what (RULES §7, §12 I3);
- `validation` and `parsing`: an event, a JSON body, NDJSON lines, within limits (§12 I6);
- `case_client`: every Temporal call (the `submit_event` update, update-with-start, queries);
- `events`: one event from request to the case's verdict (§12 I1–I4); `batch`: many;
- `inbox`, `keys`: a party's messages; API keys.

Each refusal is logged once, here, with the party, the route and the reason (codes and ids only).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from starter.service import keys as key_store
from starter.service.access import (
    OPERATOR_EVENTS,
    ROLES,
    Principal,
    RegistryCache,
    authenticate,
    check_send,
    may_read,
    principal_for,
    readable_timeline,
    utcnow,
)
from starter.service.batch import BatchIntake
from starter.service.case_client import NOT_READY_WAIT_SECONDS, TEMPORAL_CONCURRENCY, CaseClient
from starter.service.errors import (
    IntakeError,
    database_unavailable,
    forbidden,
    invalid,
    is_database_error,
    log_refusal,
    not_found,
    unavailable,
)
from starter.service.events import EventAccepted, EventIntake, prepare
from starter.service.inbox import acknowledge, inbox_page
from starter.service.keys import DEFAULT_KEY_LIFETIME, CreatedKey, parse_lifetime
from starter.service.parsing import MAX_JSON_DEPTH, ndjson_items, parse_json
from starter.service.validation import ValidatedEvent, validate_event
from vangnet.archive import ArchivedCase, archived_case
from vangnet.store import Store
from vangnet.store.registry import Parties
from vangnet.store.timeline import archived_count, archived_entries

HEALTH_TIMEOUT_SECONDS = 3.0


class IntakeService:
    def __init__(self, store: Store, client: Client, task_queue: str, *,
                 batch_concurrency: int | None = None,
                 temporal_concurrency: int = TEMPORAL_CONCURRENCY,
                 not_ready_wait: float = NOT_READY_WAIT_SECONDS,
                 temporal_timeout: float | None = None) -> None:
        self.store = store
        self.client = client
        self.task_queue = task_queue
        self.registry_cache = RegistryCache(store)
        self.cases = CaseClient(client, task_queue, temporal_concurrency=temporal_concurrency,
                                not_ready_wait=not_ready_wait, timeout=temporal_timeout)
        self.events = EventIntake(store, self.cases)
        self.batches = BatchIntake(self.events, self.registry_cache,
                                   **({"concurrency": batch_concurrency} if batch_concurrency else {}))

    @property
    def not_ready_wait(self) -> float:
        return self.cases.not_ready_wait

    @not_ready_wait.setter
    def not_ready_wait(self, seconds: float) -> None:
        self.cases.not_ready_wait = seconds

    @contextlib.asynccontextmanager
    async def _answering(self, p: Principal | None, route: str) -> AsyncIterator[None]:
        """Every refusal logged once; a database that does not answer is a 503 (RULES §12 I6)."""
        try:
            yield
        except IntakeError as err:
            log_refusal(p.label if p else None, route, err)
            raise
        except Exception as err:
            if not is_database_error(err):
                raise
            refusal = database_unavailable()
            log_refusal(p.label if p else None, route, refusal, error=type(err).__name__)
            raise refusal from None

    async def registry(self) -> Parties:
        return await self.registry_cache.get()

    # -- who is calling ------------------------------------------------------------------------

    async def authenticate(self, authorization: str | None, *, route: str) -> Principal:
        async with self._answering(None, route):
            return await authenticate(self.store, self.registry_cache, authorization)

    async def principal_for(self, code: str) -> Principal:
        return await principal_for(self.registry_cache, code)

    # -- events --------------------------------------------------------------------------------

    async def submit(self, p: Principal, body: Any, *, route: str) -> EventAccepted:
        """One event (RULES §10 `POST /v1/events`)."""
        async with self._answering(p, route):
            parties = await self.registry_cache.get()
            event = prepare(p, body, parties, utcnow())
            return await self.events.apply(p, event, parties)

    async def submit_batch(self, p: Principal, items: list[Any], *, route: str,
                           progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        """Up to MAX_BATCH events; one result per item, in order."""
        async with self._answering(p, route):
            return await self.batches.submit(p, items, route=route, progress=progress)

    # -- reads ---------------------------------------------------------------------------------

    async def _readable(self, p: Principal, case_id: str) -> None:
        """RULES §12 I3: not yours and not there get the same answer."""
        if not await may_read(self.store, p, case_id):
            raise not_found("case_not_found", f"there is no case {case_id}")

    async def case_status(self, p: Principal, case_id: str, *, route: str) -> dict[str, Any]:
        """The `status` query of RULES §9 (the latest episode), for a party involved in the case;
        from the archive (issue 11) once Temporal's retention has removed the case."""
        async with self._answering(p, route):
            await self._readable(p, case_id)
            try:
                return await self.cases.status(case_id)
            except IntakeError as err:
                archived = await self._archived(err, case_id)
                return {**archived.status, "source": archived.source}

    async def case_timeline(self, p: Principal, case_id: str, *, route: str) -> list[dict[str, Any]]:
        """The `timeline` of RULES §9, whole: the entries the case archived to the case store,
        then those it holds (or, after Temporal's retention, those its archived run held)."""
        async with self._answering(p, route):
            await self._readable(p, case_id)
            try:
                tail = await self.cases.timeline_tail(case_id)
                first_run_id, below, entries = tail.first_run_id, tail.archived, tail.entries
            except IntakeError as err:
                archived = await self._archived(err, case_id)
                first_run_id, entries = archived.first_run_id, archived.timeline
                below = await archived_count(self.store.sessions, case_id, first_run_id)
            older = await archived_entries(self.store.sessions, case_id, first_run_id, below)
            return readable_timeline(p, [*older, *entries])

    async def _archived(self, err: IntakeError, case_id: str) -> ArchivedCase:
        """The archived latest episode when Temporal no longer has the case; else `err` again."""
        if err.code != "case_not_found":
            raise err
        archived = await archived_case(self.store, case_id)
        if archived is None:
            raise err
        return archived

    # -- inbox ---------------------------------------------------------------------------------

    async def list_cases(self, p: Principal, filters: Any, cursor: str | None = None, limit: int = 100,
                         *, route: str) -> dict[str, Any]:
        """Issue 10: the episodes the caller may read (RULES §12 I3), from the case store."""
        from vangnet.domain import PartyKind
        from vangnet.store.case_list import BadCursor, Reader, list_cases

        async with self._answering(p, route):
            reader = Reader(None if p.sees_all else (p.party_code or ""),
                            is_corporation=p.kind is PartyKind.corporation)
            try:
                rows, next_cursor = await list_cases(self.store.sessions, reader, filters,
                                                     cursor=cursor, limit=limit)
            except BadCursor as err:
                raise invalid("invalid_request", str(err), "cursor") from None

            def iso(value: Any) -> str | None:
                return value.isoformat() if value is not None else None

            return {
                "cases": [{
                    "case_id": r.case_id, "run_id": r.run_id, "corporation": r.corporation,
                    "municipality": r.municipality, "stage": r.stage, "track": r.track,
                    "outcome": r.outcome, "closed": r.closed_at is not None,
                    "opened_at": iso(r.opened_at), "closed_at": iso(r.closed_at),
                    "next_deadline": iso(r.next_deadline), "updated_at": iso(r.updated_at),
                } for r in rows],
                "next_cursor": next_cursor,
                "has_more": next_cursor is not None,
            }

    async def inbox(self, p: Principal, after: int = 0, limit: int = 100, *, route: str) -> dict[str, Any]:
        async with self._answering(p, route):
            return await inbox_page(self.store, p, after, limit)

    async def ack(self, p: Principal, message_id: int, *, route: str) -> dict[str, Any]:
        async with self._answering(p, route):
            return await acknowledge(self.store, p, message_id)

    # -- health --------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """Temporal and the case store, each `ok` or `unavailable: <why>`; the store is asked
        for its write lock too, since a locked SQLite file still reads fine."""
        async def check(coro: Any) -> str:
            try:
                await asyncio.wait_for(coro, timeout=HEALTH_TIMEOUT_SECONDS)
                return "ok"
            except Exception as err:  # reported, not raised
                return "unavailable: " + ("locked" if "locked" in str(err) else type(err).__name__)

        temporal, database = await asyncio.gather(
            check(self.cases.check_health()), check(self.store.ping(write=True)))
        ok = temporal == "ok" and database == "ok"
        return {"status": "ok" if ok else "unavailable", "temporal": temporal, "database": database}

    # -- keys ----------------------------------------------------------------------------------

    async def create_key(self, code: str, role: str | None = None,
                         lifetime: timedelta | None = DEFAULT_KEY_LIFETIME) -> CreatedKey:
        return await key_store.create_key(self.store, self.registry_cache, code, role, lifetime)

    async def list_keys(self, party_code: str | None = None) -> list[Any]:
        return await key_store.list_keys(self.store, party_code)

    async def revoke_key(self, key_id: int) -> Any:
        return await key_store.revoke_key(self.store, key_id)


async def open_service(settings: Any = None, *, temporal: bool = True) -> tuple[IntakeService, Callable[[], Any]]:
    """Build a service from the process configuration (DATABASE_URL, Temporal's environment);
    returns it with an async `close()`. `temporal=False` for what needs only the store (keys).
    The case store is opened with the intake's short timeout (RULES §12 I6: 503, quickly)."""
    from vangnet.settings import get_settings
    from vangnet.temporal_client import connect

    settings = settings or get_settings()
    store = await Store.open(settings, timeout=settings.intake_db_timeout)
    client: Any = None
    if temporal:
        try:
            client = await connect()
        except BaseException:
            await store.close()
            raise
    service = IntakeService(store, client, settings.task_queue,
                            temporal_timeout=settings.intake_temporal_timeout)

    async def close() -> None:
        await store.close()

    return service, close


__all__ = [
    "IntakeError",
    "Principal",
    "ROLES",
    "OPERATOR_EVENTS",
    "ValidatedEvent",
    "EventAccepted",
    "CreatedKey",
    "IntakeService",
    "DEFAULT_KEY_LIFETIME",
    "MAX_JSON_DEPTH",
    "check_send",
    "validate_event",
    "parse_lifetime",
    "parse_json",
    "ndjson_items",
    "open_service",
    "forbidden",
    "invalid",
    "not_found",
    "unavailable",
]
