"""Failpoints for the fault test (tests/faults): with VANGNET_FAILPOINT_INTAKE set, an intake
call stops at named steps of taking in an event, so that the test can kill the intake or pause
the Temporal server exactly there. Unset in normal runs: then `reached` does nothing.

    VANGNET_FAILPOINT_INTAKE="exit:before_update"   # the process dies at that step
    VANGNET_FAILPOINT_INTAKE="hold:/some/dir"       # at every step, wait for the test:
        the intake writes DIR/<step>.<token>.reached (a token per call) and goes on once
        DIR/<step>.<token>.go exists (it removes that file)

Steps: `before_update` (the event is valid and about to go to its case), `after_update` (the
case's verdict is known, not yet recorded), `after_record` (recorded, not yet answered).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import structlog

ENV = "VANGNET_FAILPOINT_INTAKE"
STEPS = ("before_update", "after_update", "after_record")
EXIT_CODE = 87

log = structlog.get_logger("vangnet.intake")
_SETTING = os.environ.get(ENV, "")


async def reached(step: str) -> None:
    if not _SETTING:
        return
    action, _, arg = _SETTING.partition(":")
    if action == "exit" and arg == step:
        log.warning("failpoint_exit", step=step)
        os._exit(EXIT_CODE)
    if action == "hold":
        folder = Path(arg)
        token = uuid.uuid4().hex
        go = folder / f"{step}.{token}.go"
        (folder / f"{step}.{token}.reached").touch()
        while not go.exists():
            await asyncio.sleep(0.005)
        go.unlink(missing_ok=True)


__all__ = ["ENV", "STEPS", "EXIT_CODE", "reached"]
