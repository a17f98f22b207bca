"""`python -m starter archive`: copy into the case store every closed case run that Temporal still
has and the archive lacks (the catch-up of the `vangnet-archiver` Schedule, which does the same
every 15 minutes), and `archive purge`: the retention purge (vangnet/retention.py).

    python -m starter archive                      # every closed run not archived yet
    python -m starter archive --running            # also snapshot the open runs (for reports)
    python -m starter archive --query "Municipality = 'gorinchem'"
    python -m starter archive purge [--dry-run]    # remove what is past its retention
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from starter.cli import app, fail

archive_app = typer.Typer(help="The archive of closed case runs in the case store, and its retention.",
                          no_args_is_help=False, invoke_without_command=True)
app.add_typer(archive_app, name="archive")


@archive_app.callback()
def archive(
    ctx: typer.Context,
    running: Annotated[bool, typer.Option("--running", help="also snapshot the runs still open (reports read them)")] = False,
    query: Annotated[str, typer.Option("--query", help="narrow the visibility query, e.g. \"Municipality = 'gorinchem'\"")] = "",
) -> None:
    """Copy every closed case run that Temporal still has and the archive lacks (idempotent)."""
    if ctx.invoked_subcommand is not None:
        return
    asyncio.run(_catch_up(running, query))


async def _catch_up(running: bool, query: str) -> None:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from vangnet.archive import archive_all
    from vangnet.settings import Settings
    from vangnet.store import Store
    from vangnet.temporal_client import connect, connect_config

    try:
        client = await connect()
    except Exception as err:
        fail(f"cannot connect to Temporal at {connect_config().get('target_host')}: {err}")
    try:
        store = await Store.open(Settings())
    except Exception as err:
        fail(f"cannot open the case store: {err}")
    try:
        with Progress(SpinnerColumn(), TextColumn("archiving: {task.completed} runs copied"),
                      console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("runs")
            counts = await archive_all(client, store.sessions, running=running, extra_query=query,
                                       on_progress=lambda: progress.advance(task))
    except Exception as err:
        fail(f"archiving stopped: {err}")
    finally:
        await store.close()
    typer.echo(f"{counts['seen']} runs found in Temporal: {counts['archived']} archived, "
               f"{counts['snapshot']} open runs snapshotted, {counts['kept']} already in the archive, "
               f"{counts['failed']} failed")
    if counts["failed"]:
        raise typer.Exit(1)


@archive_app.command("purge")
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be removed; remove nothing")] = False,
) -> None:
    """Remove the cases past their retention (config/policy.toml [retention]): archive,
    projection, inbox messages and intake records, one deletion_log row each."""
    asyncio.run(_purge(dry_run))


async def _purge(dry_run: bool) -> None:
    from vangnet.retention import RetentionPolicy, case_hash, purge_expired
    from vangnet.settings import Settings
    from vangnet.store import Store

    settings = Settings()
    try:
        policy = RetentionPolicy.from_policy_file(settings.policy_file)
    except ValueError as err:
        fail(str(err))
    try:
        store = await Store.open(settings)
    except Exception as err:
        fail(f"cannot open the case store: {err}")
    try:
        purged = await purge_expired(store.sessions, policy, dry_run=dry_run)
    finally:
        await store.close()
    verb = "would remove" if dry_run else "removed"
    done = "would be removed" if dry_run else "removed"
    for p in purged:
        rows = ", ".join(f"{n} {table}" for table, n in p.rows.items())
        # the case id on the operator's terminal only; the deletion log keeps its hash
        typer.echo(f"{verb} {p.case_id} (sha256 {case_hash(p.case_id)[:12]}…): {rows}; {p.reason}")
    typer.echo(f"{len(purged)} cases {done}" + ("" if dry_run else "; see the deletion_log table"))
