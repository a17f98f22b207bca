"""`python -m starter report`: the reports for the Adviesgroep from the case store, in Dutch.

    python -m starter report --period 2026-Q3                          # the quarterly monitoring report
    python -m starter report --from 2026-07-01 --until 2026-09-30 --municipality gorinchem
    python -m starter report --kind naleving --period 2026             # the annual account of compliance
    python -m starter report --period 2026-Q3 --internal --format html -o out/

Output: XLSX (one sheet per table), CSV (one file per table), Markdown and an HTML page with its
charts inline, into `-o` (default: the reports directory, VANGNET_REPORTS_DIR). Small counts are
suppressed unless `--internal` (for the region's operators only).

Before it counts, the report brings the archive up to date (every closed run archived, every open
run snapshotted: the timelines of open cases); `--no-refresh` reads the case store as it is.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from starter.cli import app, fail


@app.command()
def report(
    period: Annotated[str | None, typer.Option("--period", help="a quarter (2026-Q3), a year (2026) or a month (2026-07)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first day (YYYY-MM-DD), with --until")] = None,
    until: Annotated[str | None, typer.Option("--until", help="last day, included (YYYY-MM-DD)")] = None,
    kind: Annotated[str, typer.Option("--kind", help="monitoring (the quarterly report) or naleving (the annual account of compliance)")] = "monitoring",
    municipality: Annotated[str | None, typer.Option("--municipality", help="only this municipality (code)")] = None,
    corporation: Annotated[str | None, typer.Option("--corporation", help="only this housing corporation (code)")] = None,
    fmt: Annotated[list[str] | None, typer.Option("--format", help="xlsx, csv, md, html (repeat; default all)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="folder to write into (default: VANGNET_REPORTS_DIR/KIND/PERIOD)")] = None,
    internal: Annotated[bool, typer.Option("--internal", help="show small counts and the cases behind missed obligations: for the region's operators only")] = False,
    refresh: Annotated[bool, typer.Option("--refresh/--no-refresh", help="archive closed runs and snapshot open ones first (needs Temporal)")] = True,
) -> None:
    """Build the monitoring report or the annual account of compliance from the case store."""
    from vangnet.reports import FORMATS, KINDS, PeriodError, parse_period
    from vangnet.reports.period import between

    if kind not in KINDS:
        fail(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    formats = tuple(fmt or FORMATS)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {', '.join(unknown)}")
    try:
        if period and (from_ or until):
            fail("give --period or --from/--until, not both")
        if period:
            chosen = parse_period(period)
        elif from_ and until:
            try:
                chosen = between(date.fromisoformat(from_), date.fromisoformat(until))
            except ValueError as err:
                fail(f"--from and --until must be dates (YYYY-MM-DD): {err}")
        else:
            fail("give --period (e.g. 2026-Q3) or both --from and --until")
    except PeriodError as err:
        fail(str(err))
    for name, code in (("--municipality", municipality), ("--corporation", corporation)):
        if code is not None and not code.replace("-", "").isalnum():
            fail(f"{name} must be a party code, not {code!r}")
    asyncio.run(_report(kind, chosen, municipality, corporation, formats, output, internal, refresh))


async def _report(kind, period, municipality, corporation, formats, output, internal,
                  refresh) -> None:
    from vangnet.reports import make_report, write_report
    from vangnet.settings import Settings
    from vangnet.store import Store
    from vangnet.store.registry import read_parties

    settings = Settings()
    try:
        store = await Store.open(settings)
    except Exception as err:
        fail(f"cannot open the case store: {err}")
    try:
        async with store.sessions() as session:
            parties = await read_parties(session)
            for name, code, want in (("--municipality", municipality, "municipality"),
                                     ("--corporation", corporation, "corporation")):
                if code is not None and parties.kind(code) != want:
                    fail(f"{name} {code!r} is not a {want} in the registry")
        if refresh:
            await _refresh(store)
        built = await make_report(store.sessions, kind, period, municipality=municipality,
                                  corporation=corporation)
    finally:
        await store.close()
    folder = output or settings.reports_dir / kind / period.slug
    files = write_report(built, Path(folder), suppress=not internal, formats=formats)
    version = "internal (small counts shown)" if internal else "small counts (<5) suppressed"
    typer.echo(f"{built.title}: {built.episodes} cases, {version}")
    if built.incomplete:
        typer.echo(f"note: {len(built.incomplete)} cases have no timeline in the archive "
                   "(run `starter archive --running` with Temporal up)", err=True)
    for path in files:
        typer.echo(f"wrote {path}")


async def _refresh(store) -> None:
    from vangnet.archive import archive_all
    from vangnet.temporal_client import connect, connect_config

    try:
        client = await connect()
        counts = await archive_all(client, store.sessions, running=True)
    except Exception as err:
        typer.echo(f"note: could not bring the archive up to date from Temporal at "
                   f"{connect_config().get('target_host')} ({err}); reporting from the case store "
                   "as it is", err=True)
        return
    typer.echo(f"archive brought up to date: {counts['archived']} closed runs archived, "
               f"{counts['snapshot']} open runs snapshotted", err=True)
