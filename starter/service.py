"""The intake's service layer: one implementation behind the HTTP API and the command line.

Everything a party can do goes through `IntakeService`: authentication (API keys), authorisation
(RULES §7), validation (RULES §4, through `vangnet.domain.parse_event`, the same function the
workflow applies to its signals), duplicate detection, and the Temporal calls:

- an event becomes a signal named after its type on the case workflow `case-{corporation}-{ref}`;
  the events that may open a case (`OPENING_EVENTS`) use signal-with-start, which starts a new run
  (a new episode) when the previous one has closed;
- reads are the workflow's `status` and `timeline` queries; inboxes come from the case store.

Errors are `IntakeError`s carrying the HTTP status and the JSON error of RULES §10; each refusal is
logged once, here, with the party, the route and the reason (codes and ids only: no personal data).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from starter.schemas import ENVELOPE_FIELDS, MAX_BATCH, Envelope
from vangnet import search_attributes as sa_keys
from vangnet import texts
from vangnet.domain import (
    EVENT_SENDERS,
    OPENING_EVENTS,
    CaseInput,
    EventBase,
    InvalidEvent,
    PartyKind,
    case_id_for,
    parse_event,
)
from vangnet.store import Store
from vangnet.store import apikeys
from vangnet.store.inbox import ack as ack_message
from vangnet.store.inbox import list_messages
from vangnet.store.intake import claim_event, release_event
from vangnet.store.models import ApiKey, Party

log = structlog.get_logger("vangnet.intake")

WORKFLOW_TYPE = "TenantCaseWorkflow"
ROLES = apikeys.ROLES  # party, operator, auditor
OPERATOR_EVENTS = frozenset(t for t, kinds in EVENT_SENDERS.items() if PartyKind.operator in kinds)
RPC_TIMEOUT = timedelta(seconds=10)
NOT_READY_WAIT_SECONDS = 5.0  # a query waits this long for a run's first workflow task
REGISTRY_TTL_SECONDS = 5.0
BATCH_CONCURRENCY = 16  # cases in flight per batch
TEMPORAL_CONCURRENCY = 64  # Temporal calls in flight per process, all requests together
PROGRESS_EVERY_ITEMS = 1000
PROGRESS_EVERY_SECONDS = 5.0


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class IntakeError(Exception):
    """A refusal: HTTP status plus the JSON error `{"error": {"code", "message", "field"?}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out

    def body(self) -> dict[str, Any]:
        return {"error": self.detail()}


def unauthorized(code: str, message: str) -> IntakeError:
    return IntakeError(401, code, message)


def forbidden(message: str, code: str = "forbidden") -> IntakeError:
    return IntakeError(403, code, message)


def not_found(code: str, message: str) -> IntakeError:
    return IntakeError(404, code, message)


def invalid(code: str, message: str, field: str | None = None) -> IntakeError:
    return IntakeError(422, code, message, field)


def unavailable(message: str, code: str = "unavailable") -> IntakeError:
    return IntakeError(503, code, message)


# ---------------------------------------------------------------------------------------------
# Who is calling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a party (with its registry kind) or the role operator / auditor."""

    role: str  # "party" | "operator" | "auditor"
    party_code: str | None = None
    kind: PartyKind | None = None
    key_id: int | None = None

    @property
    def label(self) -> str:
        return self.party_code or self.role

    @property
    def source(self) -> str:
        """The `source` of the events it sends: its party code, or "operator"."""
        return self.party_code or self.role

    @property
    def sees_all(self) -> bool:
        return self.role in ("operator", "auditor")


@dataclass(frozen=True)
class Registry:
    """The registry as the intake needs it, read at once (small) and cached for a few seconds."""

    kinds: dict[str, PartyKind]
    social_service_of: dict[str, str]  # municipality -> social service
    municipalities_of: dict[str, frozenset[str]]  # social team -> municipalities it serves

    def serves(self, party_code: str, kind: PartyKind | None, municipality: str) -> bool:
        """Does this municipality, social service or social team serve `municipality`?
        The MPZO serves the whole region; a corporation serves no municipality (it owns tenancies)."""
        if self.kinds.get(municipality) is not PartyKind.municipality:
            return False
        if kind is PartyKind.municipality:
            return party_code == municipality
        if kind is PartyKind.social_service:
            return self.social_service_of.get(municipality) == party_code
        if kind is PartyKind.social_team:
            return municipality in self.municipalities_of.get(party_code, frozenset())
        return kind is PartyKind.mpzo

    def may_read(self, p: Principal, corporation: str, municipality: str) -> bool:
        """RULES §7 for reads: a party sees only the cases it is involved in."""
        if p.sees_all:
            return True
        if p.kind is PartyKind.corporation:
            return p.party_code == corporation
        return p.party_code is not None and self.serves(p.party_code, p.kind, municipality)


@dataclass(frozen=True)
class Intake:
    """A validated event, ready to become a signal."""

    type: str
    envelope: Envelope
    event: EventBase

    @property
    def case_id(self) -> str:
        return case_id_for(self.envelope.corporation, self.envelope.tenancy_ref)

    def payload(self) -> dict[str, Any]:
        """The signal payload (RULES §9): {event_id, source, occurred_at, ...fields}."""
        return self.event.model_dump(mode="json", exclude={"type"})


@dataclass(frozen=True)
class Outcome:
    case_id: str
    event_id: str
    duplicate: bool


@dataclass(frozen=True)
class CreatedKey:
    key: str
    row: ApiKey


# ---------------------------------------------------------------------------------------------
# Validation (no I/O)
# ---------------------------------------------------------------------------------------------


def parse_intake(body: Any, source: str, now: datetime) -> Intake:
    """Validate one intake event as of `now` (RULES §11 A12: dates in a plausible window, integer
    amounts, safe event ids); raise IntakeError(422) naming the field."""
    if not isinstance(body, dict):
        raise invalid("invalid_event", "an event must be a JSON object")
    if "source" in body:
        raise invalid(
            "invalid_event", "source is taken from your API key: leave it out of the event", "source"
        )
    event_type = body.get("type")
    if event_type is None:
        raise invalid("invalid_event", "type: field required", "type")
    if not isinstance(event_type, str):
        raise invalid("unknown_event_type", "type must be a string naming an event", "type")
    if event_type not in EVENT_SENDERS:
        # parse_event's message lists the known types
        try:
            parse_event(event_type, {}, now=now)
        except InvalidEvent as err:
            raise invalid("unknown_event_type", err.message, "type") from None
    try:
        envelope = Envelope.model_validate({k: body[k] for k in ENVELOPE_FIELDS if k in body})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        msg = "field required" if first["type"] == "missing" else first["msg"]
        raise invalid("invalid_event", f"{field}: {msg}" if field else msg, field) from None
    fields = {k: v for k, v in body.items() if k not in ENVELOPE_FIELDS and k != "type"}
    fields["source"] = source
    try:
        event = parse_event(event_type, fields, now=now)
    except InvalidEvent as err:
        raise invalid("invalid_event", err.message, err.field) from None
    return Intake(type=event_type, envelope=envelope, event=event)


def authorize_event(p: Principal, event_type: str, corporation: str, municipality: str,
                    reg: Registry) -> None:
    """RULES §4 "who" and §7 for sending; raise IntakeError(403)."""
    if p.role == "auditor":
        raise forbidden("an auditor key reads cases; it cannot send events")
    if p.role == "operator":
        if event_type not in OPERATOR_EVENTS:
            allowed = ", ".join(sorted(OPERATOR_EVENTS))
            raise forbidden(f"an operator may send only {allowed}, not {event_type}")
        return
    kind = p.kind
    senders = EVENT_SENDERS[event_type]
    if kind not in senders:
        allowed = ", ".join(sorted(k.value for k in senders))
        raise forbidden(
            f"{p.label} ({kind.value if kind else 'party'}) may not send {event_type}; "
            f"it may be sent by: {allowed}"
        )
    if kind is PartyKind.corporation:
        if corporation != p.party_code:
            raise forbidden(
                f"{p.label} may send events only for its own tenancies, not for corporation {corporation!r}"
            )
    elif not reg.serves(p.label, kind, municipality):
        raise forbidden(f"{p.label} does not serve municipality {municipality!r}")


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


class IntakeService:
    def __init__(self, store: Store, client: Client, task_queue: str, *,
                 batch_concurrency: int = BATCH_CONCURRENCY,
                 temporal_concurrency: int = TEMPORAL_CONCURRENCY,
                 not_ready_wait: float = NOT_READY_WAIT_SECONDS) -> None:
        self.store = store
        self.client = client
        self.task_queue = task_queue
        self.batch_concurrency = batch_concurrency
        self.not_ready_wait = not_ready_wait
        self._temporal_slots = asyncio.Semaphore(temporal_concurrency)
        self._registry: Registry | None = None
        self._registry_at = 0.0
        self._registry_lock = asyncio.Lock()

    # -- logging -----------------------------------------------------------------------------

    @staticmethod
    def log_refusal(p: Principal | None, route: str, err: IntakeError, **extra: Any) -> None:
        """One line per refusal: party, route, status, code, field, and the message unless it may
        echo caller input (422: the field is logged, not the message)."""
        fields: dict[str, Any] = {
            "party": p.label if p else None,
            "route": route,
            "status": err.status,
            "code": err.code,
        }
        if err.field:
            fields["field"] = err.field
        if err.status in (401, 403, 404, 409, 413):
            fields["reason"] = err.message
        log.warning("request_refused", **fields, **extra)

    # -- registry ----------------------------------------------------------------------------

    async def registry(self) -> Registry:
        now = time.monotonic()
        if self._registry is not None and now - self._registry_at < REGISTRY_TTL_SECONDS:
            return self._registry
        async with self._registry_lock:
            if self._registry is not None and time.monotonic() - self._registry_at < REGISTRY_TTL_SECONDS:
                return self._registry
            async with self.store.sessions() as session:
                parties = list((await session.execute(sa.select(Party))).scalars())
            kinds: dict[str, PartyKind] = {}
            for party in parties:
                try:
                    kinds[party.code] = PartyKind(party.kind)
                except ValueError:
                    continue
            self._registry = Registry(
                kinds=kinds,
                social_service_of={
                    p.code: p.social_service for p in parties
                    if p.kind == PartyKind.municipality and p.social_service
                },
                municipalities_of={
                    p.code: frozenset(p.municipalities or ()) for p in parties
                    if p.kind == PartyKind.social_team
                },
            )
            self._registry_at = time.monotonic()
            return self._registry

    # -- who is calling ----------------------------------------------------------------------

    async def authenticate(self, authorization: str | None, *, route: str) -> Principal:
        """The principal of an `Authorization: Bearer <key>` header; IntakeError(401) otherwise."""
        try:
            if not authorization:
                raise unauthorized("missing_key", "no API key: send it as `Authorization: Bearer <key>`")
            scheme, _, token = authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise unauthorized("missing_key", "the Authorization header must be `Bearer <key>`")
            row = await apikeys.find_key(self.store.sessions, token)
            if row is None:
                raise unauthorized("invalid_key", "unknown or revoked API key")
            if row.role == "party":
                reg = await self.registry()
                kind = reg.kinds.get(row.party_code or "")
                if kind is None:
                    raise unauthorized("invalid_key", "the key's party is no longer in the registry")
                return Principal("party", row.party_code, kind, row.id)
            return Principal(row.role, None, PartyKind.operator if row.role == "operator" else None, row.id)
        except IntakeError as err:
            self.log_refusal(None, route, err)
            raise

    async def principal_for(self, code: str) -> Principal:
        """The principal for a party code (or `operator` / `auditor`), for the command line, which
        runs with the store's own credentials. IntakeError(422) for an unknown code."""
        if code in ("operator", "auditor"):
            return Principal(code, None, PartyKind.operator if code == "operator" else None)
        reg = await self.registry()
        kind = reg.kinds.get(code)
        if kind is None:
            raise invalid("unknown_party", f"{code!r} is not a party in the registry (nor operator or auditor)")
        return Principal("party", code, kind)

    # -- events ------------------------------------------------------------------------------

    async def submit(self, p: Principal, body: Any, *, route: str) -> Outcome:
        """One event (RULES §10 `POST /v1/events`)."""
        try:
            reg = await self.registry()
            intake = self._prepare(p, body, reg)
            return await self._apply(p, intake, reg)
        except IntakeError as err:
            self.log_refusal(p, route, err)
            raise

    def _prepare(self, p: Principal, body: Any, reg: Registry) -> Intake:
        """Validation, registry and §7 checks that need no Temporal call."""
        intake = parse_intake(body, p.source, datetime.now(UTC))
        env = intake.envelope
        if reg.kinds.get(env.corporation) is not PartyKind.corporation:
            raise invalid("unknown_corporation",
                          f"corporation {env.corporation!r} is not a housing corporation in the registry",
                          "corporation")
        if reg.kinds.get(env.municipality) is not PartyKind.municipality:
            raise invalid("unknown_municipality",
                          f"municipality {env.municipality!r} is not a municipality in the registry",
                          "municipality")
        authorize_event(p, intake.type, env.corporation, env.municipality, reg)
        return intake

    async def _apply(self, p: Principal, intake: Intake, reg: Registry) -> Outcome:
        case_id = intake.case_id
        event_id = intake.event.event_id
        claim = await claim_event(self.store.sessions, p.source, event_id, case_id, intake.type)
        if not claim.new:
            if (claim.case_id, claim.type) != (case_id, intake.type):
                raise invalid(
                    "event_id_reused",
                    f"{p.label} already used event_id {event_id!r} for {claim.type} on {claim.case_id}",
                    "event_id",
                )
            return Outcome(case_id, event_id, duplicate=True)
        try:
            async with self._temporal_slots:
                await self._signal(p, intake, reg)
        except BaseException:
            # Nothing half-applied: the claim goes when the signal did not (a retry applies it;
            # should the signal have landed after all, the case ignores the repeated event_id).
            await asyncio.shield(release_event(self.store.sessions, p.source, event_id))
            raise
        return Outcome(case_id, event_id, duplicate=False)

    async def _signal(self, p: Principal, intake: Intake, reg: Registry) -> None:
        case_id = intake.case_id
        env = intake.envelope
        opening = intake.type in OPENING_EVENTS
        desc = await self._describe(case_id)
        running = desc is not None and desc.status == WorkflowExecutionStatus.RUNNING
        # A case is closed when its last run completed, or while a closing run finishes (its
        # outcome is set, webhooks still going out).
        outcome = _keyword(desc, sa_keys.CASE_OUTCOME) if desc is not None else None
        closed = desc is not None and (
            desc.status == WorkflowExecutionStatus.COMPLETED or (running and outcome is not None)
        )
        new_episode = opening and desc is not None and not running
        if desc is not None and (running or closed) and not new_episode:
            corporation, municipality = await self._case_parties(desc)
            if not reg.may_read(p, corporation, municipality):
                raise forbidden(f"{p.label} is not a party to case {case_id}")
            if closed:
                raise await self._closed_error(case_id, desc)
            if municipality and municipality != env.municipality:
                raise invalid(
                    "municipality_mismatch",
                    f"case {case_id} is in municipality {municipality!r}, not {env.municipality!r}",
                    "municipality",
                )
        if opening:
            await self._signal_with_start(intake)
            return
        if not running:
            raise _no_open_case(case_id)
        handle = self.client.get_workflow_handle(case_id)
        try:
            await handle.signal(intake.type, intake.payload(), rpc_timeout=RPC_TIMEOUT)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise _temporal_unavailable(err) from None
            # The case closed between the look and the signal.
            again = await self._describe(case_id)
            if again is not None and again.status == WorkflowExecutionStatus.COMPLETED:
                raise await self._closed_error(case_id, again) from None
            raise _no_open_case(case_id) from None

    async def _signal_with_start(self, intake: Intake) -> None:
        env = intake.envelope
        try:
            await self.client.start_workflow(
                WORKFLOW_TYPE,
                CaseInput(tenancy_ref=env.tenancy_ref, corporation=env.corporation,
                          municipality=env.municipality),
                id=intake.case_id,
                task_queue=self.task_queue,
                start_signal=intake.type,
                start_signal_args=[intake.payload()],
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=texts.case_summary(env.corporation, env.municipality, env.tenancy_ref),
                static_details=texts.case_details(),
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa_keys.MUNICIPALITY, env.municipality),
                    SearchAttributePair(sa_keys.HOUSING_CORPORATION, env.corporation),
                ]),
                rpc_timeout=RPC_TIMEOUT,
            )
        except RPCError as err:
            raise _temporal_unavailable(err) from None

    async def _describe(self, case_id: str) -> WorkflowExecutionDescription | None:
        try:
            return await self.client.get_workflow_handle(case_id).describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                return None  # not a workflow id Temporal accepts: no such case
            raise _temporal_unavailable(err) from None

    async def _case_parties(self, desc: WorkflowExecutionDescription) -> tuple[str, str]:
        """(corporation, municipality) of a case: its search attributes (set at start), else its
        `status` query."""
        corporation = _keyword(desc, sa_keys.HOUSING_CORPORATION)
        municipality = _keyword(desc, sa_keys.MUNICIPALITY)
        if corporation and municipality:
            return corporation, municipality
        status = await self._query(desc.id, "status", run_id=desc.run_id)
        return str(status.get("corporation") or ""), str(status.get("municipality") or "")

    async def _closed_error(self, case_id: str, desc: WorkflowExecutionDescription) -> IntakeError:
        outcome = _keyword(desc, sa_keys.CASE_OUTCOME)
        if outcome is None and desc.status == WorkflowExecutionStatus.COMPLETED:
            try:
                handle = self.client.get_workflow_handle(case_id, run_id=desc.run_id)
                result = await handle.result(follow_runs=False, rpc_timeout=RPC_TIMEOUT)
                outcome = (result or {}).get("outcome") if isinstance(result, dict) else None
            except Exception:  # noqa: BLE001 - the message loses the outcome, nothing else
                outcome = None
        what = f" (outcome: {outcome})" if outcome else ""
        return IntakeError(
            409, "case_closed",
            f"case {case_id} is closed{what}: it accepts no further events; "
            f"new arrears, a self-referral or a concern open a new case",
        )

    async def _query(self, case_id: str, name: str, run_id: str | None = None) -> Any:
        handle = self.client.get_workflow_handle(case_id, run_id=run_id)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.not_ready_wait
        delay = 0.05
        while True:
            try:
                return await handle.query(name, rpc_timeout=RPC_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise not_found("case_not_found", f"there is no case {case_id}") from None
                if not _not_ready(err):
                    raise _temporal_unavailable(err) from None
                if loop.time() >= give_up:
                    raise unavailable(
                        f"case {case_id} is opening or starting a new run and cannot answer "
                        f"{name} yet; try again in a few seconds", "case_not_ready",
                    ) from None
            except WorkflowQueryFailedError as err:
                raise unavailable(f"case {case_id} could not answer {name}: {err}") from None
            # The run's first workflow task has not completed (the server may hold back the
            # first task of a run that continued as new for a second): it answers shortly.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # -- batches -----------------------------------------------------------------------------

    async def submit_batch(
        self, p: Principal, items: list[Any], *, route: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Up to MAX_BATCH events; one result per item, in order. Events for the same case are
        applied one after the other in item order; different cases run concurrently (bounded)."""
        total = len(items)
        if total > MAX_BATCH:
            err = IntakeError(413, "batch_too_large", f"a batch holds at most {MAX_BATCH} events, not {total}")
            self.log_refusal(p, route, err)
            raise err
        reg = await self.registry()
        results: list[dict[str, Any] | None] = [None] * total
        groups: dict[str, list[tuple[int, Intake]]] = {}
        counts = {"done": 0, "accepted": 0, "rejected": 0}
        started = time.monotonic()
        last_log = [started, 0]

        def finished(i: int, result: dict[str, Any]) -> None:
            results[i] = result
            counts["done"] += 1
            counts["accepted" if result["status"] == 202 else "rejected"] += 1
            if progress:
                progress(counts["done"], total)
            now = time.monotonic()
            if total >= PROGRESS_EVERY_ITEMS and (
                counts["done"] - last_log[1] >= PROGRESS_EVERY_ITEMS
                or now - last_log[0] >= PROGRESS_EVERY_SECONDS
                or counts["done"] == total
            ):
                last_log[0], last_log[1] = now, counts["done"]
                log.info("batch_progress", party=p.label, route=route, done=counts["done"], total=total,
                         accepted=counts["accepted"], rejected=counts["rejected"],
                         seconds=round(now - started, 1))

        def refused(i: int, err: IntakeError, case_id: str | None = None) -> None:
            self.log_refusal(p, route, err, index=i)
            result: dict[str, Any] = {"index": i, "status": err.status, "error": err.detail()}
            if case_id:
                result["case_id"] = case_id
            finished(i, result)

        for i, item in enumerate(items):
            if isinstance(item, IntakeError):  # e.g. an NDJSON line that is not JSON
                refused(i, item)
                continue
            try:
                intake = self._prepare(p, item, reg)
            except IntakeError as err:
                refused(i, err)
                continue
            groups.setdefault(intake.case_id, []).append((i, intake))

        slots = asyncio.Semaphore(self.batch_concurrency)

        async def run(entries: list[tuple[int, Intake]]) -> None:
            async with slots:
                for i, intake in entries:
                    try:
                        out = await self._apply(p, intake, reg)
                    except IntakeError as err:
                        refused(i, err, intake.case_id)
                        continue
                    except Exception as err:  # noqa: BLE001 - one item never sinks the others
                        log.exception("batch_item_failed", party=p.label, route=route, index=i,
                                      case_id=intake.case_id, error=type(err).__name__)
                        refused(i, IntakeError(500, "internal_error", "this event could not be processed"))
                        continue
                    finished(i, {"index": i, "status": 202, "case_id": out.case_id,
                                 "event_id": out.event_id, "duplicate": out.duplicate})

        await asyncio.gather(*(run(entries) for entries in groups.values()))
        if total >= PROGRESS_EVERY_ITEMS or counts["rejected"]:
            log.info("batch_done", party=p.label, route=route, total=total, accepted=counts["accepted"],
                     rejected=counts["rejected"], seconds=round(time.monotonic() - started, 1))
        return [r for r in results if r is not None]

    # -- reads -------------------------------------------------------------------------------

    async def _readable_case(self, p: Principal, case_id: str) -> WorkflowExecutionDescription:
        desc = await self._describe(case_id)
        if desc is None:
            raise not_found("case_not_found", f"there is no case {case_id}")
        corporation, municipality = await self._case_parties(desc)
        reg = await self.registry()
        if not reg.may_read(p, corporation, municipality):
            raise forbidden(f"{p.label} is not involved in case {case_id}")
        return desc

    async def case_status(self, p: Principal, case_id: str, *, route: str) -> dict[str, Any]:
        """The `status` query of RULES §9 (the latest episode), for a party involved in the case."""
        try:
            desc = await self._readable_case(p, case_id)
            return await self._query(case_id, "status", run_id=desc.run_id)
        except IntakeError as err:
            self.log_refusal(p, route, err)
            raise

    async def case_timeline(self, p: Principal, case_id: str, *, route: str) -> list[dict[str, Any]]:
        try:
            desc = await self._readable_case(p, case_id)
            return await self._query(case_id, "timeline", run_id=desc.run_id)
        except IntakeError as err:
            self.log_refusal(p, route, err)
            raise

    # -- inbox -------------------------------------------------------------------------------

    async def inbox(self, p: Principal, after: int = 0, limit: int = 100, *, route: str) -> dict[str, Any]:
        """The party's messages with id > after, oldest first (cursor paging)."""
        try:
            if p.party_code is None:
                raise forbidden(f"an {p.role} key has no inbox: inboxes belong to parties")
            if after < 0:
                raise invalid("invalid_request", "after must be 0 or more", "after")
            if not 1 <= limit <= 1000:
                raise invalid("invalid_request", "limit must be between 1 and 1000", "limit")
        except IntakeError as err:
            self.log_refusal(p, route, err)
            raise
        rows = await list_messages(self.store.sessions, p.party_code, after, limit)
        cursor = rows[-1].id if rows else after
        has_more = bool(rows) and len(rows) == limit and bool(
            await list_messages(self.store.sessions, p.party_code, cursor, 1)
        )
        return {
            "messages": [
                {
                    "id": m.id,
                    "case_id": m.case_id,
                    "action": m.action,
                    "idempotency_key": m.idempotency_key,
                    "created_at": m.created_at.isoformat(),
                    "acked_at": m.acked_at.isoformat() if m.acked_at else None,
                    "payload": m.payload,
                }
                for m in rows
            ],
            "next_cursor": cursor,
            "has_more": has_more,
        }

    async def ack(self, p: Principal, message_id: int, *, route: str) -> dict[str, Any]:
        try:
            if p.party_code is None:
                raise forbidden(f"an {p.role} key has no inbox: inboxes belong to parties")
            if not await ack_message(self.store.sessions, p.party_code, message_id):
                raise not_found("message_not_found", f"{p.party_code} has no message {message_id}")
        except IntakeError as err:
            self.log_refusal(p, route, err)
            raise
        return {"message_id": message_id, "acked": True}

    # -- health ------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        async def check(coro: Any) -> str:
            try:
                await asyncio.wait_for(coro, timeout=3)
                return "ok"
            except Exception as err:  # noqa: BLE001 - reported, not raised
                return f"unavailable: {type(err).__name__}"

        temporal, database = await asyncio.gather(
            check(self.client.service_client.check_health()), check(self.store.ping())
        )
        ok = temporal == "ok" and database == "ok"
        return {"status": "ok" if ok else "unavailable", "temporal": temporal, "database": database}

    # -- keys --------------------------------------------------------------------------------

    async def create_key(self, code: str, role: str | None = None) -> CreatedKey:
        """A new key for a party (role `party`) or for the role `operator` / `auditor`."""
        if role is None:
            role = code if code in ("operator", "auditor") else "party"
        if role not in ROLES:
            raise invalid("invalid_role", f"unknown role {role!r}; expected one of: {', '.join(ROLES)}", "role")
        if role == "party":
            if code in ("operator", "auditor"):
                raise invalid("invalid_role", f"{code!r} is a role, not a party: use --role {code}", "role")
            reg = await self.registry()
            if code not in reg.kinds:
                raise invalid("unknown_party", f"{code!r} is not a party in the registry", "party")
            key, row = await apikeys.create_key(self.store.sessions, code, "party")
        else:
            if code != role:
                raise invalid(
                    "invalid_role",
                    f"an {role} key belongs to no party: run `keys create {role}` (got party {code!r})",
                    "party",
                )
            key, row = await apikeys.create_key(self.store.sessions, None, role)
        log.info("api_key_created", key_id=row.id, party=row.party_code, role=row.role)
        return CreatedKey(key, row)

    async def list_keys(self, party_code: str | None = None) -> list[ApiKey]:
        return await apikeys.list_keys(self.store.sessions, party_code)

    async def revoke_key(self, key_id: int) -> ApiKey:
        row = await apikeys.revoke_key(self.store.sessions, key_id)
        if row is None:
            raise not_found("key_not_found", f"there is no key with id {key_id}")
        log.info("api_key_revoked", key_id=row.id, party=row.party_code, role=row.role)
        return row


def _keyword(desc: WorkflowExecutionDescription, key: Any) -> str | None:
    try:
        return desc.typed_search_attributes.get(key)
    except Exception:  # noqa: BLE001 - a search attribute of another type: treat as absent
        return None


def _no_open_case(case_id: str) -> IntakeError:
    return not_found(
        "no_open_case",
        f"there is no open case {case_id}; a case opens with "
        + ", ".join(sorted(OPENING_EVENTS)),
    )


def _not_ready(err: RPCError) -> bool:
    """Temporal's WorkflowNotReady: the run cannot answer queries before its first workflow task."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION and (
        b"WorkflowNotReadyFailure" in (err.raw_grpc_status or b"")
        or "not scheduled yet" in err.message
    )


def _temporal_unavailable(err: RPCError) -> IntakeError:
    log.warning("temporal_call_failed", status=err.status.name if err.status else None)
    return unavailable("the case engine (Temporal) did not answer; retry later with the same event_id",
                       "temporal_unavailable")


async def open_service(settings: Any = None, *, temporal: bool = True) -> tuple[IntakeService, Callable[[], Any]]:
    """Build a service from the process configuration (DATABASE_URL, Temporal's environment);
    returns it with an async `close()`. `temporal=False` for what needs only the store (keys)."""
    from vangnet.settings import get_settings
    from vangnet.temporal_client import connect

    settings = settings or get_settings()
    store = await Store.open(settings)
    client: Any = None
    if temporal:
        try:
            client = await connect()
        except BaseException:
            await store.close()
            raise
    service = IntakeService(store, client, settings.task_queue)

    async def close() -> None:
        await store.close()

    return service, close


def ndjson_items(raw: bytes) -> list[tuple[int, Any]]:
    """(line number, event or IntakeError) for each non-blank line of an NDJSON document."""
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except (ValueError, UnicodeDecodeError):
            items.append((number, invalid("invalid_json", f"line {number} is not valid JSON")))
    return items


__all__ = [
    "IntakeError",
    "Principal",
    "Registry",
    "Intake",
    "Outcome",
    "CreatedKey",
    "IntakeService",
    "parse_intake",
    "authorize_event",
    "open_service",
    "ndjson_items",
]
