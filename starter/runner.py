"""Shared plumbing of the intake's commands: open the service, pick the caller, turn errors into
one line. The commands do their work through `starter.service.IntakeService`, like the HTTP API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from starter.cli import fail

if TYPE_CHECKING:  # the service pulls in Temporal and SQLAlchemy: loaded when a command runs
    from starter.service import IntakeService, Principal

T = TypeVar("T")

# Options the case commands share: who is acting.
PartyOption = typer.Option(
    None, "--party", "-p", metavar="CODE",
    help="act as this party (registry code), or as `operator` / `auditor`",
)
KeyOption = typer.Option(
    None, "--key", envvar="VANGNET_API_KEY", show_envvar=True, metavar="KEY",
    help="act as the owner of this API key (instead of --party)",
)


def _configure_logging() -> None:
    from vangnet.logging import configure_logging
    from vangnet.settings import get_settings

    settings = get_settings()
    # Commands answer people directly; log lines only when asked for with VANGNET_LOG_LEVEL.
    level = settings.log_level if "VANGNET_LOG_LEVEL" in os.environ else "ERROR"
    configure_logging(level, settings.log_format)


def run(work: Callable[[IntakeService], Awaitable[T]], *, temporal: bool = True) -> T:
    """Run `work` with a service built from the process configuration; every error is one line."""
    from starter.service import IntakeError, open_service

    _configure_logging()

    async def main() -> T:
        try:
            service, close = await open_service(temporal=temporal)
        except Exception as err:  # one line for people
            fail(_connect_error(err))
        try:
            return await work(service)
        finally:
            await close()

    try:
        return asyncio.run(main())
    except IntakeError as err:
        where = f" [{err.field}]" if err.field else ""
        fail(f"{err.message}{where} ({err.status} {err.code})")
    except Exception as err:  # one line for people
        from starter.service.errors import database_unavailable, is_database_error

        if not is_database_error(err):
            raise
        refusal = database_unavailable()
        fail(f"{refusal.message} ({type(err).__name__}; {refusal.status} {refusal.code})")
    except KeyboardInterrupt:
        fail("interrupted", 130)


def _connect_error(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    try:
        from vangnet.temporal_client import connect_config

        target = connect_config().get("target_host", "?")
    except Exception:
        target = "?"
    return f"cannot open the case store or reach Temporal at {target}: {text[:300]}"


async def caller(service: IntakeService, party: str | None, key: str | None,
                 default: str | None = None) -> Principal:
    """The principal a command acts as: --key (authenticated like the API), else --party."""
    if key:
        return await service.authenticate(f"Bearer {key}", route="cli")
    if party or default:
        return await service.principal_for(party or default)  # type: ignore[arg-type]
    fail("say who is acting: --party CODE (or --key KEY / VANGNET_API_KEY)")


def parse_value(raw: str) -> Any:
    """A FIELD=VALUE value: JSON when it parses (numbers, true/false, null), else the text."""
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return raw
