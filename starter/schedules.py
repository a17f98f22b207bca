"""`python -m starter schedules`: vangnet's Temporal Schedules (vangnet/schedules.py).

    python -m starter schedules apply     # create or update them (the worker does this at start)
    python -m starter schedules list      # state, next runs, recent runs

Pause, unpause and trigger them in the Web UI (Schedules) or with `temporal schedule ...`.
"""

from __future__ import annotations

import asyncio

import typer

from starter.cli import app, fail

schedules_app = typer.Typer(help="vangnet's Temporal Schedules: archiver, reports, retention purge.",
                            no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")


async def _client():
    from vangnet.temporal_client import connect, connect_config

    try:
        return await connect()
    except Exception as err:
        fail(f"cannot connect to Temporal at {connect_config().get('target_host')}: {err}")


@schedules_app.command("apply")
def apply() -> None:
    """Create the schedules, or update them to the configuration (a paused one stays paused)."""
    from vangnet.schedules import apply_schedules
    from vangnet.settings import Settings

    async def run() -> None:
        settings = Settings()
        for a in await apply_schedules(await _client(), settings, settings.task_queue):
            typer.echo(f"{a.schedule_id}: {a.result}" + (" (paused)" if a.paused else ""))

    asyncio.run(run())


@schedules_app.command("list")
def list_() -> None:
    """Each schedule: paused or not, its next runs and its recent runs."""
    from vangnet.schedules import describe_schedules

    async def run() -> None:
        for s in await describe_schedules(await _client()):
            if "error" in s:
                typer.echo(f"{s['id']}: not there ({s['error']}); run `starter schedules apply`")
                continue
            state = "PAUSED" if s["paused"] else "active"
            typer.echo(f"{s['id']}: {state}, runs {s['workflow']}; next {', '.join(s['next']) or '—'}"
                       + (f"; recent {', '.join(s['recent'])}" if s["recent"] else ""))

    asyncio.run(run())
