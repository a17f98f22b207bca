"""Batches of events (RULES §10 `POST /v1/events/batch`, `python -m starter import`).

Up to MAX_BATCH events, one result per item in order; one bad item never sinks the others.
Events for the same case are applied one after the other in item order; different cases run
concurrently (bounded). What the items need from the case store is read for all of them at once
(their earlier verdicts, the municipalities of the cases they may open), and their verdicts are
written in a few transactions. Refusals are logged one by one up to a limit, then summarised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from starter.schemas import MAX_BATCH
from starter.service.access import Principal, RegistryCache, utcnow
from starter.service.errors import (
    IntakeError,
    RefusalLog,
    database_unavailable,
    invalid,
    is_database_error,
    log_refusal,
    too_large,
)
from starter.service.events import EventIntake, prepare
from starter.service.validation import ValidatedEvent
from vangnet.store.cases import municipalities_of
from vangnet.store.intake_events import Verdict, find_events, record_verdicts

log = structlog.get_logger("vangnet.intake")

BATCH_CONCURRENCY = 64  # cases in flight per batch (each until its case has applied its event)
# An event Temporal did not take in time is tried again (the same update id: never twice
# applied) after these pauses, before its item is answered 503: a batch is a long call, and its
# sender would otherwise have to pick the 503s out and send them again.
TEMPORAL_RETRY_PAUSES = (0.5, 2.0)
# A batch keeps many cases busy at once, so each may take longer to take its event in than a
# single call's case: it waits this long (the batch as a whole is a call of minutes anyway).
BATCH_PATIENCE_SECONDS = 60.0
PROGRESS_EVERY_ITEMS = 1000
PROGRESS_EVERY_SECONDS = 5.0
REFUSALS_LOGGED = 20  # per batch, one line each; the rest in one summary line
VERDICTS_PER_WRITE = 200


class BatchIntake:
    def __init__(self, events: EventIntake, registry: RegistryCache, *,
                 concurrency: int = BATCH_CONCURRENCY) -> None:
        self.events = events
        self.registry = registry
        self.concurrency = concurrency

    async def submit(self, p: Principal, items: list[Any], *, route: str,
                     progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        total = len(items)
        if total > MAX_BATCH:
            err = too_large("batch_too_large", f"a batch holds at most {MAX_BATCH} events, not {total}")
            log_refusal(p.label, route, err)
            raise err
        store = self.events.store
        parties = await self.registry.get()
        now = utcnow()
        results: list[dict[str, Any] | None] = [None] * total
        refusals = RefusalLog(p.label, route, REFUSALS_LOGGED)
        counter = _Progress(p, route, total, progress)

        def finished(i: int, result: dict[str, Any]) -> None:
            results[i] = result
            counter.done(accepted=result["status"] == 202)

        def refused(i: int, err: IntakeError, case_id: str | None = None) -> None:
            refusals.add(err, index=i)
            result: dict[str, Any] = {"index": i, "status": err.status, "error": err.detail()}
            if case_id:
                result["case_id"] = case_id
            finished(i, result)

        prepared: list[tuple[int, ValidatedEvent]] = []
        first_of: dict[str, ValidatedEvent] = {}  # event_id -> its first item in this batch
        for i, item in enumerate(items):
            if isinstance(item, IntakeError):  # e.g. an NDJSON line that is not JSON
                refused(i, item)
                continue
            try:
                event = prepare(p, item, parties, now)
            except IntakeError as err:
                refused(i, err)
                continue
            first = first_of.setdefault(event.event_id, event)
            if first is not event and (first.case_id, first.type) != (event.case_id, event.type):
                refused(i, invalid("event_id_reused",
                                   f"{p.label} used event_id {event.event_id!r} for {first.type} on "
                                   f"{first.case_id} earlier in this batch", "event_id"))
                continue
            prepared.append((i, event))

        try:
            prior = await find_events(store.sessions, p.source, [e.event_id for _, e in prepared])
            municipalities = await municipalities_of(
                store.sessions, {e.case_id for _, e in prepared if e.opening})
        except Exception as err:
            if not is_database_error(err):
                raise
            for i, event in prepared:
                refused(i, database_unavailable(), event.case_id)
            return _in_order(results)

        groups: dict[str, list[tuple[int, ValidatedEvent]]] = {}
        for i, event in prepared:
            groups.setdefault(event.case_id, []).append((i, event))
        verdicts: list[Verdict] = []
        writing = asyncio.Lock()

        async def write(force: bool = False) -> None:
            async with writing:
                if not verdicts or (len(verdicts) < VERDICTS_PER_WRITE and not force):
                    return
                batch, verdicts[:] = list(verdicts), []
                try:
                    await record_verdicts(store.sessions, batch)
                except Exception as err:  # the events are in history all the same
                    log.warning("intake_record_failed", party=p.label, route=route,
                                events=len(batch), error=type(err).__name__)

        slots = asyncio.Semaphore(self.concurrency)
        seen_here: set[str] = set()  # event ids this batch has had a verdict for

        async def run(entries: list[tuple[int, ValidatedEvent]]) -> None:
            async with slots:
                for i, event in entries:
                    if event.event_id in seen_here:  # an earlier item of this batch, in history
                        finished(i, {"index": i, "status": 202, "case_id": event.case_id,
                                     "event_id": event.event_id, "duplicate": True})
                        continue
                    try:
                        out = await self._apply(p, event, parties, prior.get(event.event_id),
                                                municipalities.get(event.case_id), verdicts)
                    except IntakeError as err:
                        refused(i, err, event.case_id)
                        continue
                    except Exception as err:  # one item never sinks the others
                        if is_database_error(err):
                            refused(i, database_unavailable(), event.case_id)
                            continue
                        refusals.add(IntakeError(500, "internal_error", ""), index=i,
                                     error=type(err).__name__)
                        finished(i, {"index": i, "status": 500, "case_id": event.case_id, "error": {
                            "code": "internal_error", "message": "this event could not be processed"}})
                        continue
                    finally:
                        await write()
                    seen_here.add(event.event_id)
                    finished(i, {"index": i, "status": 202, "case_id": out.case_id,
                                 "event_id": out.event_id, "duplicate": out.duplicate})

        await asyncio.gather(*(run(entries) for entries in groups.values()))
        await write(force=True)
        refusals.summarise()
        counter.close(rejected=sum(refusals.counts.values()))
        return _in_order(results)


    async def _apply(self, p: Principal, event: ValidatedEvent, parties: Any, prior: Any,
                     municipality: str | None, verdicts: list[Verdict]) -> Any:
        for pause in (*TEMPORAL_RETRY_PAUSES, None):
            try:
                return await self.events.apply(p, event, parties, prior=prior,
                                               case_municipality=municipality, verdicts=verdicts,
                                               patience=BATCH_PATIENCE_SECONDS)
            except IntakeError as err:
                if err.code != "temporal_unavailable" or pause is None:
                    raise
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")


class _Progress:
    """Counts, calls the caller's progress callback, and logs `batch_progress` for long batches."""

    def __init__(self, p: Principal, route: str, total: int,
                 callback: Callable[[int, int], None] | None) -> None:
        self.p, self.route, self.total, self.callback = p, route, total, callback
        self.count = self.accepted = 0
        self.started = self.last_at = time.monotonic()
        self.last_count = 0

    def done(self, accepted: bool) -> None:
        self.count += 1
        self.accepted += accepted
        if self.callback:
            self.callback(self.count, self.total)
        now = time.monotonic()
        if self.total >= PROGRESS_EVERY_ITEMS and (
            self.count - self.last_count >= PROGRESS_EVERY_ITEMS
            or now - self.last_at >= PROGRESS_EVERY_SECONDS
            or self.count == self.total
        ):
            self.last_at, self.last_count = now, self.count
            log.info("batch_progress", party=self.p.label, route=self.route, done=self.count,
                     total=self.total, accepted=self.accepted, rejected=self.count - self.accepted,
                     seconds=round(now - self.started, 1))

    def close(self, rejected: int) -> None:
        if self.total >= PROGRESS_EVERY_ITEMS or rejected:
            log.info("batch_done", party=self.p.label, route=self.route, total=self.total,
                     accepted=self.accepted, rejected=rejected,
                     seconds=round(time.monotonic() - self.started, 1))


def _in_order(results: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    return [r for r in results if r is not None]


__all__ = ["BatchIntake", "BATCH_CONCURRENCY", "PROGRESS_EVERY_ITEMS", "REFUSALS_LOGGED"]
