"""`python -m starter audit` and `python -m starter export`: replay cases with the current workflow
code, render their timelines with the rules they follow, and check them against the agreement.

    python -m starter audit CASE_ID [--run RUN_ID] [--format text|markdown|json]
    python -m starter audit --history FILE [--history FILE ...]      # offline, from exported files
    python -m starter audit --all [--since DATE] [--municipality M]  # the region, for the yearly review
    python -m starter export CASE_ID [--run RUN_ID] [-o PATH]

The replay runs without Temporal's workflow sandbox unless --sandboxed is given (see
vangnet.audit.replay); --all replays in --jobs worker processes (default: one per CPU, at most
one per MIN_CASES_PER_PROCESS cases) while this process fetches the histories and builds the report.

Where Temporal no longer has a run (its namespace retention deleted it), the run is read from the
case store's archive (vangnet/archive.py); the output says which source each case came from.

Exit status: 0 when every audited history replays deterministically, 3 when one does not or
(with --all) could not be fetched (the report is printed either way), 1 on an error (unknown
case, unreachable server, bad file).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from starter.cli import app, fail

NOT_DETERMINISTIC_EXIT = 3
FETCH_CONCURRENCY = 16
# Starting the worker processes takes about 0.5 s, the time this process replays 25 cases in:
# below about 50 cases per process, replaying here is as fast.
MIN_CASES_PER_PROCESS = 50


def _check_format(fmt: str) -> str:
    from vangnet.audit import FORMATS

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


async def _connect():
    from vangnet.temporal_client import connect, connect_config, project_data_converter

    target = connect_config().get("target_host")
    try:
        # Audit and export only read: plain histories need no key, encrypted ones need theirs.
        return await connect(data_converter=project_data_converter(read_only=True))
    except Exception as err:  # one line for the operator
        fail(f"cannot connect to Temporal at {target}: {err}")


async def _connect_or_none():
    """A client, or None (with a note) when Temporal cannot be reached: the archive still answers."""
    from vangnet.temporal_client import connect, connect_config

    try:
        return await connect()
    except Exception as err:  # one line for the operator
        typer.echo(f"note: Temporal at {connect_config().get('target_host')} cannot be reached "
                   f"({err}); reading the case store's archive only", err=True)
        return None


@contextlib.asynccontextmanager
async def _archive_store():
    """The case store (`DATABASE_URL`), whose archive holds the runs Temporal has deleted."""
    from vangnet.settings import Settings
    from vangnet.store import Store

    try:
        store = await Store.open(Settings())
    except Exception as err:  # Temporal alone still answers
        typer.echo(f"note: the case store cannot be opened ({err}); reading Temporal only, "
                   "without the archive", err=True)
        yield None
        return
    try:
        yield store
    finally:
        await store.close()


async def _episode(client, store, case_id: str, run: str | None):
    """The runs of an episode from Temporal, else from the archive; a one-line error if neither."""
    from vangnet.archive import fetch_episode_with_archive
    from vangnet.audit import HistoryError

    if client is None and store is None:
        fail("neither Temporal nor the case store can be reached")
    try:
        sessions = store.sessions if store is not None else None
        return (await fetch_episode_with_archive(client, sessions, case_id, run)).runs
    except HistoryError as err:
        fail(str(err))
    except Exception as err:
        if _not_found(err):
            fail(f"no case {case_id}" + (f" with run {run}" if run else "")
                 + " on this server or in the archive")
        raise


def _not_found(err: Exception) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


@app.command()
def audit(
    case_id: Annotated[str | None, typer.Argument(help="the case (workflow) id, e.g. case-woonbron-T000123")] = None,
    run: Annotated[str | None, typer.Option("--run", help="audit the episode this run belongs to (default: the latest)")] = None,
    history: Annotated[list[Path] | None, typer.Option("--history", help="read the case from exported history file(s) instead of the server (repeat for every run)")] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="audit every case: the region-wide summary")] = False,
    since: Annotated[str | None, typer.Option("--since", help="with --all: cases open on or after this date (YYYY-MM-DD)")] = None,
    municipality: Annotated[str | None, typer.Option("--municipality", help="with --all: only this municipality (code)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, markdown or json")] = "text",
    sandboxed: Annotated[bool, typer.Option("--sandboxed", help="replay in Temporal's workflow sandbox (strict, about half as fast)")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", help=f"with --all: replay in this many worker processes; 1: in this one (default: one per CPU, at most one per {MIN_CASES_PER_PROCESS} cases)")] = None,
) -> None:
    """Replay a case with the current workflow code, show its timeline with the rule each step
    follows, and check every obligation of the agreement and its amendments (RULES §11): met,
    late (by how much) or missed."""
    fmt = _check_format(fmt)
    if all_cases:
        if case_id or history or run:
            fail("--all audits every case: give no CASE_ID, --run or --history with it")
        since_day = None
        if since:
            try:
                since_day = date.fromisoformat(since)
            except ValueError:
                fail(f"--since must be a date (YYYY-MM-DD), not {since!r}")
        if jobs is not None and jobs < 1:
            fail(f"--jobs must be 1 or more, not {jobs}")
        code = asyncio.run(_audit_all(since_day, municipality, fmt, sandboxed, jobs))
    else:
        if since or municipality or jobs is not None:
            fail("--since, --municipality and --jobs go with --all")
        if history:
            if run:
                fail("--run picks a run on the server; with --history give that run's files")
            code = asyncio.run(_audit_files(history, case_id, fmt, sandboxed))
        elif case_id:
            code = asyncio.run(_audit_case(case_id, run, fmt, sandboxed))
        else:
            fail("give a CASE_ID, --history FILE or --all")
    raise typer.Exit(code)


async def _audit_case(case_id: str, run: str | None, fmt: str, sandboxed: bool) -> int:
    client = await _connect_or_none()
    async with _archive_store() as store:
        runs = await _episode(client, store, case_id, run)
    return _print_case(await _replay(runs, sandboxed), fmt)


async def _replay(runs, sandboxed: bool):  # list[Run] -> ReplayedEpisode
    """Replay one episode; a history this process cannot decrypt is an error (exit 1)."""
    from vangnet.audit import CaseReplayer, HistoryError

    try:
        return await CaseReplayer(quiet=True, sandboxed=sandboxed).replay(runs)
    except HistoryError as err:
        fail(str(err))


async def _audit_files(paths: list[Path], case_id: str | None, fmt: str, sandboxed: bool) -> int:
    from vangnet.audit import HistoryError, read_history_files

    try:
        episodes = read_history_files(paths)
    except HistoryError as err:
        fail(str(err))
    if len(episodes) != 1:
        fail(f"the files hold {len(episodes)} episodes; give the runs of one episode")
    runs = episodes[0]
    if case_id and runs[0].case_id != case_id:
        fail(f"the files hold case {runs[0].case_id}, not {case_id}")
    return _print_case(await _replay(runs, sandboxed), fmt)


def _print_case(episode, fmt: str) -> int:  # ReplayedEpisode
    from vangnet.audit import audit_episode, render_case

    report = audit_episode(episode)
    sys.stdout.write(render_case(report, fmt))
    return 0 if report.deterministic else NOT_DETERMINISTIC_EXIT


def _region_query(since: date | None, municipality: str | None) -> str:
    parts = []
    if municipality:
        if not municipality.replace("-", "").isalnum():
            fail(f"--municipality must be a municipality code, not {municipality!r}")
        parts.append(f"Municipality = '{municipality}'")
    if since:
        parts.append(f"(ExecutionStatus = 'Running' OR CloseTime >= '{since.isoformat()}T00:00:00Z')")
    return " AND ".join(parts)


def replay_processes(cases: int, jobs: int | None) -> int:
    """How many worker processes replay `cases` cases (0: replay in this process). `--jobs N`
    gives up to N (1: none); by default one per CPU, but no more than one per
    MIN_CASES_PER_PROCESS cases, and none when only one would be worth starting."""
    from vangnet.audit import default_jobs

    if jobs is not None:
        return 0 if jobs == 1 else min(jobs, max(cases, 1))
    processes = min(default_jobs(), cases // MIN_CASES_PER_PROCESS)
    return processes if processes > 1 else 0


async def _audit_all(since: date | None, municipality: str | None, fmt: str,
                     sandboxed: bool, jobs: int | None) -> int:
    async with _archive_store() as store:
        return await _audit_region(store, since, municipality, fmt, sandboxed, jobs)


async def _audit_region(store, since: date | None, municipality: str | None, fmt: str,
                        sandboxed: bool, jobs: int | None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vangnet.archive import archived_episode_heads, fetch_episode_with_archive, load_episode
    from vangnet.audit import (
        CaseReplayer,
        HistoryError,
        ParallelReplayer,
        RegionSummary,
        audit_episode,
        list_episodes,
        render_region,
    )
    from vangnet.audit.history import Run

    client = await _connect()
    query = _region_query(since, municipality)
    try:
        episodes = [e async for e in list_episodes(client, query)]
    except Exception as err:
        fail(f"cannot list the cases: {err}")
    # Episodes Temporal no longer has (retention): from the case store's archive.
    live_runs = {run_id for _, run_id in episodes}
    since_at = None
    if since is not None:
        from vangnet import calendar

        since_at = calendar.start_of_day(since)
    sessions = store.sessions if store is not None else None
    archived = [] if sessions is None else [
        (c, r) for c, r in await archived_episode_heads(
            sessions, municipality=municipality, closed_since=since_at) if r not in live_runs]
    archived_only = set(archived)
    started = time.perf_counter()
    failed: dict[str, str] = {}
    audits = []
    queue: asyncio.Queue[list[Run] | None] = asyncio.Queue(maxsize=FETCH_CONCURRENCY * 2)
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    queued: set[str] = set()  # first run ids

    async def fetch_one(case_id: str, run_id: str) -> None:
        async with gate:
            try:
                if (case_id, run_id) in archived_only:
                    assert sessions is not None  # archived episodes come from the store
                    runs = await load_episode(sessions, case_id, run_id)
                else:
                    runs = (await fetch_episode_with_archive(client, sessions, case_id, run_id)).runs
                # Visibility forgets a deleted run a while after the run is gone: an episode it
                # still lists may be one the archive gives as well.
                if runs[0].run_id in queued:
                    return
                queued.add(runs[0].run_id)
                await queue.put(runs)
            except Exception as err:  # reported in the summary
                failed[case_id] = f"could not fetch its history: {err}"

    async def fetch_all() -> None:
        await asyncio.gather(*(fetch_one(c, r) for c, r in [*episodes, *archived]))
        await queue.put(None)

    async def fetched() -> AsyncIterator[list[Run]]:
        while (item := await queue.get()) is not None:
            yield item

    episodes = [*episodes, *archived]
    processes = replay_processes(len(episodes), jobs)
    console = Console(stderr=True)
    with contextlib.ExitStack() as stack:
        replayer: ParallelReplayer | CaseReplayer
        if processes:
            replayer = stack.enter_context(ParallelReplayer(processes, sandboxed=sandboxed))
        else:
            replayer = CaseReplayer(quiet=True, sandboxed=sandboxed)
        progress = stack.enter_context(Progress(
            TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True, disable=not episodes))
        task = progress.add_task("cases", total=len(episodes))
        producer = asyncio.create_task(fetch_all())
        try:
            async for episode in replayer.replay_many(fetched()):
                audits.append(audit_episode(episode))
                progress.advance(task)
        except BrokenProcessPool as err:
            producer.cancel()
            fail(f"a replaying worker process stopped ({err}); try --jobs 1")
        except HistoryError as err:  # a history this process cannot decrypt
            producer.cancel()
            fail(str(err))
        await producer
        progress.update(task, completed=len(episodes))
    # Fetched and replayed in whatever order they finish: report them in a fixed one.
    audits.sort(key=lambda a: (a.case_id, a.as_of))
    failed = dict(sorted(failed.items()))
    summary = RegionSummary(audits, time.perf_counter() - started, failed)
    sys.stdout.write(render_region(summary, fmt))
    bad = failed or any(not a.deterministic for a in audits)
    return NOT_DETERMINISTIC_EXIT if bad else 0


@app.command()
def export(
    case_id: Annotated[str, typer.Argument(help="the case (workflow) id")],
    run: Annotated[str | None, typer.Option("--run", help="export the episode this run belongs to (default: the latest)")] = None,
    # A string, not a Path: `-o newdir/` must keep its slash to mean "a folder".
    output: Annotated[str | None, typer.Option("--output", "-o", help="file or folder (ending in /) to write (default: CASE_ID.json here); '-' for stdout")] = None,
) -> None:
    """Write the case's history as JSON that Temporal's Replayer and the Web UI import read.
    An episode that continued as new has one file per run: NAME.1.json, NAME.2.json, ..."""
    asyncio.run(_export(case_id, run, output))


async def _export(case_id: str, run: str | None, output: str | Path | None) -> None:
    from vangnet.audit import history_json

    client = await _connect_or_none()
    async with _archive_store() as store:
        runs = await _episode(client, store, case_id, run)
    if output is not None and str(output) == "-":
        if len(runs) > 1:
            fail(f"{case_id} has {len(runs)} runs (continue-as-new): write them to files with -o")
        sys.stdout.write(history_json(runs[0].history))
        return
    for path, r in zip(export_paths(case_id, output, len(runs)), runs, strict=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(history_json(r.history), encoding="utf-8")
        where = "the case store's archive" if r.source == "archive" else "Temporal"
        typer.echo(f"wrote {path} (run {r.run_id}, {len(r.history.events)} events, from {where})")


def export_paths(case_id: str, output: str | Path | None, count: int) -> list[Path]:
    """Where the runs of one episode go: NAME.json, or NAME.1.json ... NAME.n.json. `output`
    is a file, or a folder (an existing one, or any path given with a trailing slash)."""
    if output is None:
        base = Path(f"{case_id}.json")
    elif Path(output).is_dir() or str(output).endswith(("/", os.sep)):
        base = Path(output) / f"{case_id}.json"
    else:
        base = Path(output)
    if count == 1:
        return [base]
    stem = base.name[:-5] if base.name.endswith(".json") else base.name
    return [base.with_name(f"{stem}.{i}.json") for i in range(1, count + 1)]
