"""`python -m starter webhooks`: the webhook outbox for operators (issue 10).

    python -m starter webhooks status [--party P]          # per party: pending, delivered, failed
    python -m starter webhooks redeliver MESSAGE_ID        # push one message again
    python -m starter webhooks redeliver --party P --failed  # push a party's failed messages again
    python -m starter webhooks secret                      # print a new secret (whsec_…)

The dispatcher (WebhookDispatcherWorkflow, started by the worker) does the pushing: redelivering
makes messages due now, with a fresh give-up period.
"""

from __future__ import annotations

import asyncio

import typer

from starter.cli import app, fail

webhooks_app = typer.Typer(help="Webhook pushes: delivery state, redelivery, secrets.",
                           no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


async def _store():  # noqa: ANN202
    from vangnet.settings import Settings
    from vangnet.store import Store

    return await Store.open(Settings(), seed_registry=False)


@webhooks_app.command("status")
def status(party: str = typer.Option(None, "--party", help="one party's code")) -> None:
    """Per party with a webhook: messages pending, delivered and failed, the oldest pending one and
    the last error code."""
    from vangnet.store.outbox import status as outbox_status

    async def run() -> None:
        store = await _store()
        try:
            rows = await outbox_status(store.sessions, party)
        finally:
            await store.close()
        if not rows:
            typer.echo("no webhook messages" + (f" for {party}" if party else ""))
            return
        typer.echo(f"{'party':<24} {'pending':>8} {'delivered':>10} {'failed':>7}  oldest pending / last error")
        for r in rows:
            oldest = r.oldest_pending.isoformat(timespec="seconds") if r.oldest_pending else "—"
            typer.echo(f"{r.party_code:<24} {r.pending:>8} {r.delivered:>10} {r.failed:>7}  "
                       f"{oldest} / {r.last_error or '—'}")

    asyncio.run(run())


@webhooks_app.command("redeliver")
def redeliver(
    message_id: int = typer.Argument(None, help="one message's id"),
    party: str = typer.Option(None, "--party", help="a party's code (with --failed)"),
    failed: bool = typer.Option(False, "--failed", help="the party's failed messages"),
) -> None:
    """Push a message again, or a party's failed messages (`--party P --failed`)."""
    from vangnet.store.outbox import redeliver as outbox_redeliver

    if (message_id is None) == (party is None):
        fail("give a MESSAGE_ID, or --party P --failed")
    if party is not None and not failed:
        fail("with --party, say --failed (only failed messages are pushed again in bulk)")

    async def run() -> int:
        store = await _store()
        try:
            return await outbox_redeliver(store.sessions, message_id=message_id, party=party)
        finally:
            await store.close()

    n = asyncio.run(run())
    if message_id is not None and n == 0:
        fail(f"message {message_id} does not exist or goes to a party without a webhook")
    typer.echo(f"{n} message(s) due for pushing again")


@webhooks_app.command("secret")
def secret() -> None:
    """Print a new webhook secret (Standard Webhooks `whsec_…`), alone on the last line."""
    from vangnet.webhooks import new_secret

    typer.echo(new_secret())
