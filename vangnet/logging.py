"""Structured logging for every vangnet process (structlog), console or JSON.

`configure_logging(settings.log_level, settings.log_format)` once at process start. Log lines carry
codes and ids only (case id, action, party code, message id): never reasons, free text or payloads,
which may hold information about people (RULES §3).

Standard-library loggers (temporalio, sqlalchemy, alembic, uvicorn) go through the same renderer.

No secrets or bodies in logs (RULES §12 I5): a traceback is rendered without its frames' locals
(they held API keys, webhook secrets and request bodies), and every line, traceback included,
passes `redact` on the way out: values under names that sound secret, and anything that looks
like an API key, a bearer token, a signature or a long hex digest, are replaced; so are the
secrets a process registers with `register_secret` (the webhook secrets it signs with).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import IO, Any, Literal

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from vangnet.tracing import add_trace_context

Format = Literal["console", "json"]
REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"(?i)(secret|passw|token|authori[sz]ation|signature|cookie|api_?key|bearer|credential)"
    r"|^key$"
)
_SECRET_TEXT = [
    (re.compile(r"vn_[A-Za-z0-9_-]{8,}"), "vn_" + REDACTED),  # our API keys
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;]+"), "Bearer " + REDACTED),
    (re.compile(r"(?i)sha256=[0-9a-f]{16,}"), "sha256=" + REDACTED),  # webhook signatures
    (re.compile(r"\b[0-9a-fA-F]{40,}\b"), REDACTED),  # digests: key hashes, HMACs
]
_registered: set[str] = set()
_registered_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Have every later log line hide `value` (a webhook secret, say) wherever it appears."""
    global _registered_pattern
    if not value or len(value) < 4 or value in _registered:
        return
    _registered.add(value)
    _registered_pattern = re.compile("|".join(re.escape(v) for v in
                                              sorted(_registered, key=len, reverse=True)))


def redact_text(text: str) -> str:
    if _registered_pattern is not None:
        text = _registered_pattern.sub(REDACTED, text)
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_NAME.search(k) and v
                    else _redact(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the secret-looking parts of a log line replaced (see the module)."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue  # structlog's own (the stdlib record, the logger)
        if _SECRET_NAME.search(key) and value:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


def configure_logging(level: str | int = "INFO", fmt: str = "console",
                      stream: IO[str] | None = None, *, cache_loggers: bool = True) -> None:
    """Configure structlog and the standard library's root logger.

    `level`: a level name ("DEBUG", "info", …) or number. `fmt`: "console" (human, coloured on a
    terminal) or "json" (one object per line, for collectors). `stream`: where lines go
    (default stderr). `cache_loggers=False` for a configuration that is put back afterwards
    (tests): a logger used under a cached configuration keeps it for good.
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
    out = stream or sys.stderr
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        # A traceback as data, without the frames' locals (RULES §12 I5).
        exc: list[Any] = [structlog.processors.ExceptionRenderer(
            ExceptionDictTransformer(show_locals=False))]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        # A plain traceback text (no locals), so that it is redacted like the rest of the line.
        exc = [structlog.processors.format_exc_info]

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=cache_loggers,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exc,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_vangnet", False):
            root.removeHandler(old)
    handler._vangnet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    # SQLAlchemy's engine logger repeats statements (and parameters) at INFO, aiosqlite every
    # statement with its parameters at DEBUG: keep them quiet (RULES §12 I5).
    for name in ("sqlalchemy.engine", "aiosqlite"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


__all__ = ["configure_logging", "redact", "redact_text", "register_secret", "REDACTED"]
