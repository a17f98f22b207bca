"""`python -m starter send | status | timeline | inbox`: the intake's calls for people.

They talk to Temporal and the case store directly, through the same service as the HTTP API
(`starter.service`): the same validation, authorisation and duplicate detection.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from starter.cli import app, fail
from starter.runner import KeyOption, PartyOption, caller, parse_value, run

if TYPE_CHECKING:
    from starter.service import IntakeService

console = Console()


@app.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: python -m starter send arrears_reported --party woonbron --tenancy HV-1001 "
    "--municipality dordrecht arrears_cents=85000 monthly_rent_cents=85000 arrears_since=2025-10-01",
)
def send(
    event_type: str = typer.Argument(..., metavar="TYPE", help="the event (signal) name, e.g. arrears_reported"),
    fields: list[str] = typer.Argument(None, metavar="[FIELD=VALUE]...", help="the event's fields"),
    tenancy: str = typer.Option(..., "--tenancy", "-t", help="the corporation's tenancy (contract) reference"),
    municipality: str = typer.Option(..., "--municipality", "-m", help="municipality code, e.g. dordrecht"),
    corporation: str = typer.Option(None, "--corporation", "-c",
                                    help="corporation code (default: --party, when that is a corporation)"),
    event_id: str = typer.Option(None, "--event-id", help="unique per sender (default: a new one)"),
    occurred_at: str = typer.Option(None, "--occurred-at", help="when it happened (ISO 8601)"),
    party: str = PartyOption,
    key: str = KeyOption,
) -> None:
    """Send one event for a tenancy (as a party, checked like the HTTP API)."""
    body: dict[str, Any] = {"type": event_type, "tenancy_ref": tenancy, "municipality": municipality}
    for item in fields or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"{item!r} is not FIELD=VALUE")
        body[name] = parse_value(value)
    body["event_id"] = event_id or f"cli-{uuid.uuid4().hex[:16]}"
    if occurred_at:
        body["occurred_at"] = occurred_at

    async def work(service: IntakeService) -> None:
        p = await caller(service, party, key)
        body["corporation"] = corporation or (p.party_code if p.kind == "corporation" else None)
        if body["corporation"] is None:
            fail("--corporation is needed (the tenancy's housing corporation)")
        out = await service.submit(p, body, route="cli send")
        if out.duplicate:
            typer.echo(f"duplicate: {p.label} already sent event {out.event_id} for {out.case_id}; "
                       "nothing applied again")
        else:
            typer.echo(f"accepted: {event_type} (event {out.event_id}) for case {out.case_id}")

    run(work)


@app.command()
def status(
    case_id: str = typer.Argument(..., help="case id, e.g. case-woonbron-HV-1001"),
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
    party: str = PartyOption,
    key: str = KeyOption,
) -> None:
    """Show a case's status (default: as auditor; --party/--key to see it as a party)."""

    async def work(service: IntakeService) -> None:
        p = await caller(service, party, key, default="auditor")
        result = await service.case_status(p, case_id, route="cli status")
        if as_json:
            typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
            return
        table = Table(title=f"case {case_id}", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for name in ("stage", "track", "collection", "arrears_cents", "months_in_arrears",
                     "next_deadline", "closed", "outcome", "corporation", "municipality",
                     "collection_paused_until", "eviction_date", "mpzo_reasons", "opened_at",
                     "closed_at", "relapse_of"):
            if name not in result:
                continue
            value = result[name]
            if name == "arrears_cents" and isinstance(value, int):
                value = f"{value} (€ {value / 100:,.2f})"
            elif name == "next_deadline" and isinstance(value, dict):
                value = f"{value.get('kind')} at {value.get('due_at')}"
            elif isinstance(value, list):
                value = ", ".join(map(str, value)) or "—"
            table.add_row(name, "—" if value is None else str(value))
        console.print(table)

    run(work)


@app.command()
def timeline(
    case_id: str = typer.Argument(..., help="case id, e.g. case-woonbron-HV-1001"),
    as_json: bool = typer.Option(False, "--json", help="print the timeline as JSON"),
    party: str = PartyOption,
    key: str = KeyOption,
) -> None:
    """Show a case's timeline: events, actions, deadlines and ignored events, in order."""

    async def work(service: IntakeService) -> None:
        p = await caller(service, party, key, default="auditor")
        entries = await service.case_timeline(p, case_id, route="cli timeline")
        if as_json:
            typer.echo(json.dumps(entries, indent=2, ensure_ascii=False))
            return
        typer.echo(f"timeline of {case_id} ({len(entries)} entries)")
        for e in entries:
            at = str(e.get("at", ""))[:19].replace("T", " ")
            typer.echo(f"{at}  {e.get('category', ''):<8}  {e.get('kind', '')}")
            detail = ", ".join(f"{k}={v}" for k, v in (e.get("detail") or {}).items())
            if detail:
                typer.echo(f"{'':21}{detail}")

    run(work)


inbox_app = typer.Typer(help="A party's inbox: the messages the cases send it.", no_args_is_help=True)
app.add_typer(inbox_app, name="inbox")


@inbox_app.command("list")
def inbox_list(
    after: int = typer.Option(0, "--after", min=0, help="show messages after this cursor (message id)"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    unacked: bool = typer.Option(False, "--unacked", help="only messages not yet acknowledged"),
    as_json: bool = typer.Option(False, "--json", help="print the page as JSON"),
    party: str = PartyOption,
    key: str = KeyOption,
) -> None:
    """List a party's messages, oldest first."""

    async def work(service: IntakeService) -> None:
        p = await caller(service, party, key)
        page = await service.inbox(p, after, limit, route="cli inbox list")
        messages = page["messages"]
        if unacked:
            messages = [m for m in messages if m["acked_at"] is None]
        if as_json:
            typer.echo(json.dumps({**page, "messages": messages}, indent=2, ensure_ascii=False))
            return
        if not messages:
            typer.echo(f"no messages for {p.label} after {after}")
            return
        typer.echo(f"inbox of {p.label}:")
        for m in messages:
            acked = "  (acknowledged)" if m["acked_at"] else ""
            typer.echo(f"#{m['id']}  {m['created_at'][:16].replace('T', ' ')}  {m['case_id']}  "
                       f"{m['action']}{acked}")
            text = m["payload"].get("text")
            if text:
                typer.echo(f"      {text}")
        if page["has_more"]:
            typer.echo(f"more: --after {page['next_cursor']}")

    run(work, temporal=False)


@inbox_app.command("ack")
def inbox_ack(
    message_ids: list[int] = typer.Argument(..., metavar="MESSAGE_ID...", help="message ids to mark handled"),
    party: str = PartyOption,
    key: str = KeyOption,
) -> None:
    """Mark messages handled."""

    async def work(service: IntakeService) -> None:
        p = await caller(service, party, key)
        for message_id in message_ids:
            await service.ack(p, message_id, route="cli inbox ack")
            typer.echo(f"acknowledged message {message_id}")

    run(work, temporal=False)
