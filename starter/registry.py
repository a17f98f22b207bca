"""`python -m starter registry load | show`: the party registry in the case store (RULES §1).

Routing is data: edit config/registry.toml (or the file named by VANGNET_REGISTRY_FILE) and load
it; running cases pick the change up with their next message. No release, no restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from starter.cli import app, fail
from vangnet.policy import PolicyError, load_checked
from vangnet.settings import get_settings
from vangnet.store import Store
from vangnet.store.models import Party, Route
from vangnet.store.registry import RegistryError, load_registry

registry_app = typer.Typer(help="The party registry: load it from its file, show it.",
                           no_args_is_help=True)
app.add_typer(registry_app, name="registry")


@registry_app.command("load")
def load(
    file: Path = typer.Option(None, "--file", "-f", help="registry file (default: VANGNET_REGISTRY_FILE)"),
) -> None:
    """Validate the registry file and upsert every party and route in one transaction.

    The policy file must keep to the agreement with the new registry (RULES §11 A10: its
    sections name known parties), or nothing is loaded: the worker would not start with it."""
    settings = get_settings()
    path = file or settings.registry_file
    if not path.is_file():
        fail(f"no registry file at {path}")
    try:
        load_checked(settings.policy_file, path)
    except RegistryError as err:
        fail(str(err))
    except PolicyError as err:
        fail(f"{err}; nothing loaded")

    async def work() -> None:
        store = await Store.open(settings, seed_registry=False)
        try:
            summary = await load_registry(store.sessions, path)
        finally:
            await store.close()
        typer.echo(f"loaded {summary.parties} parties and {summary.routes} routes from {path}")

    try:
        asyncio.run(work())
    except RegistryError as err:
        fail(str(err))


@registry_app.command("show")
def show() -> None:
    """List the parties and the pairs not connected to RIS."""

    async def work() -> tuple[list[Party], list[Route]]:
        store = await Store.open(get_settings())
        try:
            async with store.sessions() as session:
                parties = list((await session.execute(
                    sa.select(Party).order_by(Party.kind, Party.code))).scalars())
                routes = list((await session.execute(sa.select(Route))).scalars())
        finally:
            await store.close()
        return parties, routes

    parties, routes = asyncio.run(work())
    table = Table(title="parties")
    for column in ("code", "kind", "name", "social service", "social team", "crisis protocol", "webhook"):
        table.add_column(column)
    for p in parties:
        table.add_row(p.code, p.kind, p.name, p.social_service or "", p.social_team or "",
                      p.crisis_protocol or "", "yes" if p.webhook_url else "")
    console = Console()
    console.print(table)
    if routes:
        rt = Table(title="routes (corporation/municipality pairs)")
        for column in ("corporation", "municipality", "RIS", "alternative channel"):
            rt.add_column(column)
        for r in routes:
            rt.add_row(r.corporation, r.municipality, "yes" if r.ris_connected else "no",
                       r.alternative_channel or "")
        console.print(rt)
