"""Structured logging for every vangnet process (structlog), console or JSON.

`configure_logging(settings.log_level, settings.log_format)` once at process start. Log lines carry
codes and ids only (case id, action, party code, message id): never reasons, free text or payloads,
which may hold information about people (RULES §3).

Standard-library loggers (temporalio, sqlalchemy, alembic) go through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

from vangnet.tracing import add_trace_context

Format = Literal["console", "json"]


def configure_logging(level: str | int = "INFO", fmt: str = "console") -> None:
    """Configure structlog and the standard library's root logger.

    `level`: a level name ("DEBUG", "info", …) or number. `fmt`: "console" (human, coloured on a
    terminal) or "json" (one object per line, for collectors).
    """
    if isinstance(level, str):
        numeric = logging.getLevelNamesMapping().get(level.upper())
        if numeric is None:
            raise ValueError(f"unknown log level {level!r}")
    else:
        numeric = int(level)
    fmt = fmt.lower()
    if fmt not in ("console", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected 'console' or 'json'")

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,  # trace_id/span_id of the current span, when tracing is on (issue 13)
    ]
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        exc: list[Any] = [structlog.processors.dict_tracebacks]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        exc = []

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exc,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_vangnet", False):
            root.removeHandler(old)
    handler._vangnet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    # SQLAlchemy's engine logger repeats statements (and parameters) at INFO: keep it quiet.
    logging.getLogger("sqlalchemy.engine").setLevel(max(numeric, logging.WARNING))


__all__ = ["configure_logging"]
