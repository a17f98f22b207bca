"""tests/ops: the intake fixtures of tests/api (the real app on the real worker and server), and
`logs`, the structured log lines a test writes, as event dicts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from tests.api.conftest import api, service  # noqa: F401
from vangnet.logging import configure_logging


class Records(logging.Handler):
    """Keeps the event dicts structlog hands to the standard library (with the level name)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            self.events.append({**record.msg, "_level": record.levelname})


@pytest.fixture
def logs() -> Iterator[Records]:
    """The process's logging as `python -m starter serve` configures it (JSON, DEBUG here), plus a
    handler that records every line; everything is put back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    records = Records()
    try:
        configure_logging("DEBUG", "json")
        # Loggers first used during this test must not keep this configuration afterwards
        # (structlog caches a logger on first use): later tests capture logs their own way.
        structlog.configure(cache_logger_on_first_use=False)
        root.addHandler(records)
        yield records
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        structlog.configure(**saved)
