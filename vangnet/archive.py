"""The archive: every run of a case copied out of Temporal into the case store, so that the
evidence outlives Temporal's namespace retention.

A run is copied once it has closed (completed, continued as new, failed, terminated, timed out,
canceled): its full history (gzip of the JSON that Temporal's Replayer and the Web UI read, with
the SHA-256 of that JSON), its final `status` and `timeline` (from a replay with the current
workflow code: the same code the worker runs builds them), the case context (parties and policy)
and the stages it went through (from its `CaseStage` search-attribute upserts). A *snapshot* of a
run still open (status `running`) is kept the same way for reports, and replaced when the run
closes; a closed run's row is never changed again.

Readers:
- `load_episode` gives the runs of an episode as `vangnet.audit.Run`s (source "archive"), which
  replay exactly as runs fetched from the server; `fetch_episode_with_archive` takes each run from
  Temporal while it has it and from the archive after.
- `archived_case(store, case_id)`: the status and timeline the API answers for a case Temporal no
  longer has.

Nothing here holds personal data: case ids are corporation code plus contract reference.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from vangnet.audit.history import HistoryError, Run, event_time, history_json, make_run, order_runs, parse_history
from vangnet.case_messages import CASE_WORKFLOW
from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import CaseArchive

if TYPE_CHECKING:
    from vangnet.audit.replay import CaseReplayer
    from vangnet.store import Store

log = structlog.get_logger("vangnet.archive")

SOURCE_TEMPORAL = "temporal"
SOURCE_ARCHIVE = "archive"
RUNNING = "running"
CONTINUED_AS_NEW = "continued_as_new"
WORKFLOW_TYPE = CASE_WORKFLOW
# Temporal's execution statuses as the archive names them.
STATUS_NAMES: dict[WorkflowExecutionStatus, str] = {
    WorkflowExecutionStatus.RUNNING: RUNNING,
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: CONTINUED_AS_NEW,
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
}
CLOSED = frozenset(STATUS_NAMES.values()) - {RUNNING}


class ArchiveError(HistoryError):
    """An archived history that cannot be used (missing from the chain, or its SHA-256 differs)."""


# ---------------------------------------------------------------------------------------------
# Building a row from a history
# ---------------------------------------------------------------------------------------------


def pack_history(history: WorkflowHistory) -> tuple[bytes, str]:
    """(gzip of the history's JSON, SHA-256 hex of that JSON). `mtime=0`: the same history
    always packs to the same bytes."""
    raw = history_json(history).encode("utf-8")
    return gzip.compress(raw, compresslevel=6, mtime=0), hashlib.sha256(raw).hexdigest()


def unpack_history(history_gz: bytes, sha256: str, where: str) -> str:
    """The history's JSON, checked against its SHA-256."""
    try:
        raw = gzip.decompress(history_gz)
    except (OSError, EOFError) as err:
        raise ArchiveError(f"{where}: the archived history is not readable ({err})") from None
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ArchiveError(f"{where}: the archived history does not match its SHA-256 (altered or damaged)")
    return raw.decode("utf-8")


def history_stages(history: WorkflowHistory) -> list[list[str]]:
    """[[at, stage], ...]: the `CaseStage` the run started with (carried over a continue-as-new)
    and every one it upserted after, in order: the stage of the case at any moment."""
    out: list[list[str]] = []
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            fields = event.workflow_execution_started_event_attributes.search_attributes.indexed_fields
        elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        else:
            continue
        if "CaseStage" not in fields:
            continue
        try:
            stage = json.loads(fields["CaseStage"].data or b"null")
        except ValueError:
            continue
        if isinstance(stage, str) and (not out or out[-1][1] != stage):
            out.append([event_time(event).isoformat(), stage])
    return out


def _result_status(history: WorkflowHistory) -> dict[str, Any] | None:
    """The status a completed run returned (the workflow returns `status`)."""
    last = history.events[-1]
    if not last.HasField("workflow_execution_completed_event_attributes"):
        return None
    payloads = last.workflow_execution_completed_event_attributes.result.payloads
    try:
        value = json.loads(payloads[0].data) if payloads else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _input(history: WorkflowHistory) -> dict[str, Any]:
    started = history.events[0].workflow_execution_started_event_attributes
    try:
        data = json.loads(started.input.payloads[0].data)
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def row_values(run: Run, status: str, state: dict[str, Any] | None, deterministic: bool,
               *, now: datetime | None = None) -> dict[str, Any]:
    """The `case_archive` row of one run, from its history and the state its replay ended in."""
    from vangnet import rules

    history = run.history
    gz, sha = pack_history(history)
    first = history.events[0]
    as_of = run.last_event_time
    final_status: dict[str, Any] | None = None
    timeline: list[Any] = []
    context = None
    if state:
        case = rules.CaseState.model_validate(state)
        final_status = rules.status(case, as_of)
        timeline = rules.timeline(case)
        context = case.context.model_dump(mode="json") if case.context else None
    if final_status is None:
        final_status = _result_status(history) or {}
    data = _input(history)
    outcome = final_status.get("outcome")
    return {
        "case_id": run.case_id,
        "run_id": run.run_id,
        "first_run_id": run.first_run_id,
        "previous_run_id": run.previous_run_id,
        "status": status,
        "corporation": str(final_status.get("corporation") or data.get("corporation") or ""),
        "municipality": str(final_status.get("municipality") or data.get("municipality") or ""),
        "outcome": outcome if isinstance(outcome, str) else None,
        "started_at": event_time(first),
        "closed_at": as_of if status != RUNNING else None,
        "history_events": len(history.events),
        "history_gz": gz,
        "history_sha256": sha,
        "final_status": final_status,
        "timeline": timeline,
        "context": context,
        "stages": history_stages(history),
        "deterministic": deterministic,
        "archived_at": now or datetime.now(UTC),
    }


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


async def save_row(sessions: SessionFactory, values: dict[str, Any]) -> bool:
    """Insert the row; a snapshot (`running`) already there is replaced, a closed run's row never.
    True when something was written."""
    async with sessions() as session, session.begin():
        ins = dialect_insert(session, CaseArchive).values(**values)
        stmt = ins.on_conflict_do_update(
            index_elements=["case_id", "run_id"],
            set_={k: ins.excluded[k] for k in values if k not in ("case_id", "run_id")},
            where=CaseArchive.status == RUNNING,
        )
        result = await session.execute(stmt)
        return bool(result.rowcount)


@dataclass(frozen=True)
class RunRef:
    """A run found through visibility: what it is and whether it has closed."""

    case_id: str
    run_id: str
    status: str  # a value of STATUS_NAMES
    history_length: int = 0


async def runs_to_copy(sessions: SessionFactory, refs: Sequence[RunRef]) -> list[RunRef]:
    """The refs the archive does not hold yet as they are: a closed run not copied (or copied
    only as a snapshot), or a running run (its snapshot is refreshed unless its length is the
    same as the snapshot's)."""
    if not refs:
        return []
    have: dict[tuple[str, str], tuple[str, int]] = {}
    async with sessions() as session:
        for chunk in _chunks(refs, 500):
            rows = await session.execute(
                sa.select(CaseArchive.case_id, CaseArchive.run_id, CaseArchive.status,
                          CaseArchive.history_events)
                .where(sa.tuple_(CaseArchive.case_id, CaseArchive.run_id).in_(
                    [(r.case_id, r.run_id) for r in chunk]))
            )
            have.update({(r.case_id, r.run_id): (r.status, r.history_events) for r in rows})
    out = []
    for ref in refs:
        held = have.get((ref.case_id, ref.run_id))
        if held is None:
            out.append(ref)
        elif held[0] == RUNNING and (ref.status != RUNNING or ref.history_length != held[1]
                                     or not ref.history_length):
            out.append(ref)
    return out


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Archiver:
    """Copies runs from Temporal into the archive. One replayer is kept (building one costs);
    replays run one at a time."""

    def __init__(self, client: Client, sessions: SessionFactory,
                 replayer: CaseReplayer | None = None) -> None:
        self.client = client
        self.sessions = sessions
        self._replayer = replayer
        self._lock = asyncio.Lock()

    def replayer(self) -> CaseReplayer:
        if self._replayer is None:
            from vangnet.audit.replay import CaseReplayer

            self._replayer = CaseReplayer(quiet=True)
        return self._replayer

    async def copy(self, ref: RunRef) -> str:
        """Fetch, replay and store one run: "archived", "snapshot", or "kept" (already there)."""
        handle = self.client.get_workflow_handle(ref.case_id, run_id=ref.run_id)
        history = await handle.fetch_history()
        run = make_run(history)
        state: dict[str, Any] | None = None
        deterministic = False
        try:
            async with self._lock:
                episode = await self.replayer().replay([run])
            state, deterministic = episode.state, episode.deterministic
        except Exception as err:  # the history is the evidence: keep it regardless
            log.warning("archive_replay_failed", case_id=ref.case_id, run_id=ref.run_id,
                        error=type(err).__name__)
        values = row_values(run, ref.status, state, deterministic)
        written = await save_row(self.sessions, values)
        if not written:
            return "kept"
        return "snapshot" if ref.status == RUNNING else "archived"


async def list_runs(client: Client, *, running: bool = False, extra_query: str = "",
                    page_token: bytes | None = None, page_size: int = 1000
                    ) -> tuple[list[RunRef], bytes | None]:
    """One page of case runs from visibility: the closed ones (every closed status), or with
    `running` the open ones too."""
    query = f"WorkflowType = '{WORKFLOW_TYPE}'"
    if not running:
        query += " AND ExecutionStatus != 'Running'"
    if extra_query:
        query += f" AND ({extra_query})"
    iterator = client.list_workflows(query, page_size=page_size, next_page_token=page_token)
    await iterator.fetch_next_page()
    refs = [RunRef(e.id, e.run_id, STATUS_NAMES.get(e.status, "unknown") if e.status else "unknown",
                   e.history_length or 0)
            for e in iterator.current_page or []]
    return refs, iterator.next_page_token or None


async def archive_all(client: Client, sessions: SessionFactory, *, running: bool = False,
                      extra_query: str = "", concurrency: int = 8,
                      on_progress: Any = None) -> dict[str, int]:
    """Catch-up: copy every closed run Temporal still has (and, with `running`, snapshot every
    open one) that the archive lacks. Idempotent; counts by result."""
    archiver = Archiver(client, sessions)
    counts: dict[str, int] = {"seen": 0, "archived": 0, "snapshot": 0, "kept": 0, "failed": 0}
    gate = asyncio.Semaphore(concurrency)

    async def one(ref: RunRef) -> None:
        async with gate:
            try:
                counts[await archiver.copy(ref)] += 1
            except Exception:  # counted; the next pass tries again
                counts["failed"] += 1
            if on_progress is not None:
                on_progress()

    token: bytes | None = None
    while True:
        refs, token = await list_runs(client, running=running, extra_query=extra_query,
                                      page_token=token)
        counts["seen"] += len(refs)
        todo = await runs_to_copy(sessions, refs)
        counts["kept"] += len(refs) - len(todo)
        await asyncio.gather(*(one(r) for r in todo))
        if not token:
            return counts


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _run_of(row: CaseArchive) -> Run:
    where = f"archive {row.case_id} run {row.run_id}"
    run = parse_history(unpack_history(row.history_gz, row.history_sha256, where), SOURCE_ARCHIVE)
    if run.case_id != row.case_id or run.run_id != row.run_id:
        raise ArchiveError(f"{where}: the archived history is of {run.case_id} run {run.run_id}")
    return run


async def _latest_first_run(session: Any, case_id: str) -> str | None:
    """The first run id of the case's latest archived episode."""
    return (await session.execute(
        sa.select(CaseArchive.first_run_id).where(CaseArchive.case_id == case_id)
        .order_by(CaseArchive.started_at.desc(), CaseArchive.run_id.desc()).limit(1)
    )).scalar()


async def load_episode(sessions: SessionFactory, case_id: str, run_id: str | None = None) -> list[Run]:
    """Every archived run of one episode, oldest first: the episode `run_id` belongs to, or the
    case's latest. Empty when the archive has none; ArchiveError when a run of the chain is
    missing or damaged."""
    async with sessions() as session:
        if run_id is None:
            first = await _latest_first_run(session, case_id)
        else:
            first = (await session.execute(
                sa.select(CaseArchive.first_run_id)
                .where(CaseArchive.case_id == case_id, CaseArchive.run_id == run_id)
            )).scalar()
        if first is None:
            return []
        rows = (await session.execute(
            sa.select(CaseArchive).where(CaseArchive.case_id == case_id,
                                         CaseArchive.first_run_id == first)
        )).scalars().all()
    try:
        [chain] = order_runs([_run_of(r) for r in rows])
    except HistoryError as err:
        raise ArchiveError(str(err)) from None
    if run_id is not None:
        chain = chain[: [r.run_id for r in chain].index(run_id) + 1]
    return chain


async def load_run(sessions: SessionFactory, case_id: str, run_id: str) -> Run | None:
    async with sessions() as session:
        row = await session.get(CaseArchive, (case_id, run_id))
    return _run_of(row) if row is not None else None


def _not_found(err: BaseException) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


@dataclass
class Episode:
    """The runs of one episode and where each came from."""

    runs: list[Run]

    @property
    def sources(self) -> list[str]:
        return [SOURCE_ARCHIVE if r.source == SOURCE_ARCHIVE else SOURCE_TEMPORAL for r in self.runs]

    @property
    def source(self) -> str:
        """"temporal", "archive", or "temporal+archive" when the older runs are gone from Temporal."""
        kinds = sorted(set(self.sources), key=[SOURCE_TEMPORAL, SOURCE_ARCHIVE].index)
        return "+".join(kinds)


async def fetch_episode_with_archive(client: Client | None, sessions: SessionFactory | None,
                                     case_id: str, run_id: str | None = None) -> Episode:
    """Every run of an episode, oldest first, each from Temporal while it has it and from the
    archive once it does not. Raises the server's NOT_FOUND RPCError when neither has the case."""
    runs: list[Run] = []
    current = run_id
    while True:
        run: Run | None = None
        error: BaseException | None = None
        if client is not None:
            try:
                run = make_run(await client.get_workflow_handle(case_id, run_id=current).fetch_history())
            except Exception as err:  # NOT_FOUND falls back, the rest is raised
                if not _not_found(err):
                    raise
                error = err
        if run is None and sessions is not None:
            if current is None:  # the whole latest episode is gone from Temporal
                archived = await load_episode(sessions, case_id)
                if archived:
                    return Episode(archived)
            else:
                run = await load_run(sessions, case_id, current)
                if run is None and runs:
                    raise ArchiveError(
                        f"{case_id}: run {current}, which run {runs[-1].run_id} continued, is neither "
                        "on the server nor in the archive")
        if run is None:
            if error is not None:
                raise error
            raise ArchiveError(f"no case {case_id}" + (f" with run {run_id}" if run_id else "")
                               + " in the archive")
        runs.append(run)
        if run.previous_run_id is None:
            break
        current = run.previous_run_id
    runs.reverse()
    return Episode(runs)


async def archived_episode_heads(sessions: SessionFactory, *, municipality: str | None = None,
                                 closed_since: datetime | None = None) -> list[tuple[str, str]]:
    """(case id, last run id) of every archived episode whose last run is archived as closed
    (not continued as new), for `audit --all`."""
    query = sa.select(CaseArchive.case_id, CaseArchive.run_id).where(
        CaseArchive.status.not_in([RUNNING, CONTINUED_AS_NEW]))
    if municipality:
        query = query.where(CaseArchive.municipality == municipality)
    if closed_since is not None:
        query = query.where(CaseArchive.closed_at >= closed_since)
    async with sessions() as session:
        return [(r.case_id, r.run_id) for r in await session.execute(query.order_by(CaseArchive.case_id))]


# ---------------------------------------------------------------------------------------------
# For the intake: a case Temporal no longer has
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedCase:
    """What the API answers for a case whose runs Temporal has deleted: the `status` and
    `timeline` of RULES §9 as the case's last run ended, and who was involved (RULES §12 I3)."""

    case_id: str
    run_id: str  # the episode's last run
    first_run_id: str
    corporation: str
    municipality: str
    status: dict[str, Any]
    timeline: list[dict[str, Any]]
    parties: frozenset[str] = field(default_factory=frozenset)
    archived_at: datetime | None = None
    source: str = SOURCE_ARCHIVE  # "archive": a closed run; "snapshot": a run open when copied


def involved_parties(corporation: str, timeline: Iterable[dict[str, Any]]) -> frozenset[str]:
    """I3: the tenancy's corporation, every party the case sent a message to, and every party
    that sent an event the case applied (ignored events do not count)."""
    out = {corporation} if corporation else set()
    for entry in timeline:
        detail = entry.get("detail") or {}
        if entry.get("category") == "action":
            out.update(str(p) for p in detail.get("delivered_to") or [])
        elif entry.get("category") == "event" and detail.get("source"):
            out.add(str(detail["source"]))
    return frozenset(out)


async def archived_case(store: Store | SessionFactory, case_id: str) -> ArchivedCase | None:
    """The latest episode of `case_id` as the archive holds it, or None when it holds none.

    For the intake's `GET /v1/cases/{id}` and `/timeline` when Temporal answers NOT_FOUND: check
    the caller against `corporation`, `municipality` and `parties`, then answer `status` or
    `timeline` (and say the source was the archive)."""
    sessions = store if not hasattr(store, "sessions") else store.sessions
    async with sessions() as session:
        first = await _latest_first_run(session, case_id)
        if first is None:
            return None
        row = (await session.execute(
            sa.select(CaseArchive).where(CaseArchive.case_id == case_id,
                                         CaseArchive.first_run_id == first)
            .order_by((CaseArchive.status == CONTINUED_AS_NEW).asc(),
                      CaseArchive.started_at.desc()).limit(1)
        )).scalars().first()
    if row is None:
        return None
    return ArchivedCase(
        case_id=row.case_id, run_id=row.run_id, first_run_id=row.first_run_id,
        corporation=row.corporation, municipality=row.municipality,
        status=dict(row.final_status), timeline=list(row.timeline),
        parties=involved_parties(row.corporation, row.timeline), archived_at=row.archived_at,
        source="snapshot" if row.status == RUNNING else SOURCE_ARCHIVE,
    )


__all__ = [
    "ArchiveError",
    "ArchivedCase",
    "Archiver",
    "CLOSED",
    "Episode",
    "RunRef",
    "SOURCE_ARCHIVE",
    "SOURCE_TEMPORAL",
    "archive_all",
    "archived_case",
    "archived_episode_heads",
    "fetch_episode_with_archive",
    "history_stages",
    "involved_parties",
    "list_runs",
    "load_episode",
    "load_run",
    "pack_history",
    "row_values",
    "runs_to_copy",
    "save_row",
    "unpack_history",
]
