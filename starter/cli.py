"""The `python -m starter` command line (typer). Each command lives in its own module and
registers itself on `app`; this module only builds the app and loads them.

Errors: a command exits non-zero with a one-line reason on stderr (`fail()`), never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

import typer

app = typer.Typer(
    name="starter",
    help="vangnet: send events, read cases and inboxes, serve the intake, audit, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules; each does `from starter.cli import app` and decorates its commands.
COMMAND_MODULES: list[str] = [
    # the intake (issue #3): HTTP API, events, cases, inboxes, keys, import
    "starter.serve",
    "starter.events",
    "starter.keys",
    "starter.importer",
    "starter.registry",
    # operators and auditors (issue #4): audit, export, simulate
    "starter.audit",
    "starter.simulate",
    # evidence and reports (issue #11): archive, report, schedules
    "starter.archive",
    "starter.report",
    "starter.schedules",
    # delivery outside the case (issue 10): the webhook outbox
    "starter.webhooks",
]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)


def main() -> None:
    load_commands()
    try:
        app(prog_name="python -m starter")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    # Leave without the interpreter's teardown: the Temporal client's Rust threads can outlive the
    # event loop and abort the process while it finalizes ("PyGILState_Release ... must be current
    # when releasing", temporalio/sdk-python#300), turning a finished command into exit 134.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
