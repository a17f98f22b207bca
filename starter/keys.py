"""`python -m starter keys create | list | revoke`: the intake's API keys (RULES §10).

`keys create PARTY_CODE` prints a new key once, alone on the last line; only its SHA-256 hash is
stored. `keys create operator` and `keys create auditor` make keys for those roles (no party).
Keys expire: after 365 days unless `--expires-in` says otherwise (`90d`, `12w`, `48h`, `never`);
an expired key is answered 401 `key_expired`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from starter.cli import app
from starter.runner import run

if TYPE_CHECKING:
    from starter.service import IntakeService

keys_app = typer.Typer(help="API keys of the intake: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    party_code: str = typer.Argument(..., metavar="PARTY_CODE",
                                     help="registry code of the party, or `operator` / `auditor`"),
    role: str = typer.Option(None, "--role", "-r",
                             help="party (default), operator (may close cases) or auditor (reads everything)"),
    expires_in: str = typer.Option("365d", "--expires-in", metavar="DURATION",
                                   help="lifetime: e.g. 365d, 12w, 48h, 30m, or never"),
) -> None:
    """Create a key; it is printed once, alone on the last line."""
    from starter.service import parse_lifetime

    async def work(service: IntakeService) -> None:
        created = await service.create_key(party_code, role, parse_lifetime(expires_in))
        row = created.row
        who = f"party {row.party_code}" if row.party_code else f"the {row.role} role"
        until = (f"it expires on {row.expires_at.isoformat()[:10]}" if row.expires_at
                 else "it does not expire")
        typer.echo(f"Created API key {row.id} for {who}; {until}.")
        typer.echo("Store it now: it is shown only this once (only its hash is kept).")
        typer.echo("Use it as: Authorization: Bearer <key>")
        typer.echo(created.key)

    run(work, temporal=False)


@keys_app.command("list")
def list_(
    party: str = typer.Option(None, "--party", "-p", help="only this party's keys"),
) -> None:
    """List keys (ids, owners, dates; never the keys themselves)."""

    async def work(service: IntakeService) -> None:
        rows = await service.list_keys(party)
        if not rows:
            typer.echo("no API keys" + (f" for {party}" if party else ""))
            return
        table = Table(title="API keys")
        for column in ("id", "party", "role", "created", "expires", "revoked"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row.id), row.party_code or "—", row.role, row.created_at.isoformat()[:19],
                          row.expires_at.isoformat()[:19] if row.expires_at else "never",
                          row.revoked_at.isoformat()[:19] if row.revoked_at else "")
        Console().print(table)

    run(work, temporal=False)


@keys_app.command("revoke")
def revoke(key_id: int = typer.Argument(..., metavar="KEY_ID", help="the id `keys list` shows")) -> None:
    """Revoke a key: calls with it get 401 from now on."""

    async def work(service: IntakeService) -> None:
        row = await service.revoke_key(key_id)
        who = row.party_code or row.role
        typer.echo(f"revoked API key {row.id} ({who}) at {row.revoked_at.isoformat()[:19]}")

    run(work, temporal=False)
