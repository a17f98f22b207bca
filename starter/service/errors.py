"""The intake's refusals: an `IntakeError` carries the HTTP status and the JSON error of RULES §10
(`{"error": {"code", "message", "field"?, "case_id"?}}`), and each refusal is logged once, with
the party, the route and the reason: codes and ids only (RULES §3, §12 I5), never the body."""

from __future__ import annotations

from collections import Counter
from typing import Any

import structlog

log = structlog.get_logger("vangnet.intake")

# Statuses whose messages name only codes and ids (422 messages may echo the caller's input).
_LOGGED_MESSAGES = frozenset({401, 403, 404, 409, 413})


def _known_fields() -> frozenset[str]:
    """Every field name the intake defines: an event's, the envelope's and the query's. A refused
    field outside these is the caller's own text (an unknown key may be anything, a name or a
    BSN included), so it is logged as `(other)`, never as sent (RULES §12 I5, issue 12)."""
    from starter.schemas import ENVELOPE_FIELDS
    from vangnet.domain import EVENT_MODELS

    names = {"type", "source", "after", "limit", "role", "party", "message_id", "case_id",
             *ENVELOPE_FIELDS}
    for model in EVENT_MODELS.values():
        names.update(model.model_fields)
    return frozenset(names)


KNOWN_FIELDS = _known_fields()


class IntakeError(Exception):
    """A refusal: HTTP status plus the JSON error `{"error": {"code", "message", "field"?}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 case_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.case_id = case_id

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.case_id:
            out["case_id"] = self.case_id
        return out

    def body(self) -> dict[str, Any]:
        return {"error": self.detail()}


def unauthorized(code: str, message: str) -> IntakeError:
    return IntakeError(401, code, message)


def forbidden(message: str, code: str = "forbidden") -> IntakeError:
    return IntakeError(403, code, message)


def not_found(code: str, message: str) -> IntakeError:
    return IntakeError(404, code, message)


def conflict(code: str, message: str, case_id: str | None = None) -> IntakeError:
    return IntakeError(409, code, message, case_id=case_id)


def too_large(code: str, message: str) -> IntakeError:
    return IntakeError(413, code, message)


def invalid(code: str, message: str, field: str | None = None) -> IntakeError:
    return IntakeError(422, code, message, field)


def unavailable(message: str, code: str = "unavailable") -> IntakeError:
    return IntakeError(503, code, message)


def temporal_unavailable() -> IntakeError:
    return unavailable("the case engine (Temporal) did not answer; retry later with the same "
                       "event_id", "temporal_unavailable")


def database_unavailable() -> IntakeError:
    return unavailable("the case store (database) did not answer; retry later with the same "
                       "event_id", "database_unavailable")


def is_database_error(err: BaseException) -> bool:
    """A database that is locked, unreachable or gone (not a bug in a statement)."""
    import sqlalchemy.exc as sa_exc

    if isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                        sa_exc.TimeoutError)):
        return True
    if isinstance(err, sa_exc.DBAPIError):
        # A connection that broke under a rollback or a statement can arrive as a plain
        # DBAPIError around the driver's own error (issue 15: PostgreSQL refusing connections
        # mid-request was answered 500): the connection was invalidated, or what it wraps is a
        # connection error.
        if err.connection_invalidated:
            return True
        orig = err.orig
        return orig is not None and orig is not err and is_database_error(orig)
    # asyncpg's connection errors reach us unwrapped when the server cannot be reached at all.
    if isinstance(err, (OSError, TimeoutError)) and not isinstance(err, FileNotFoundError):
        return True
    return type(err).__module__.startswith("asyncpg") and "Connection" in type(err).__name__


def refusal_fields(party: str | None, route: str, err: IntakeError) -> dict[str, Any]:
    fields: dict[str, Any] = {"party": party, "route": route, "status": err.status,
                              "code": err.code}
    if err.field:
        known = all(part in KNOWN_FIELDS or part.isdigit() for part in err.field.split("."))
        fields["field"] = err.field if known else "(other)"
    if err.status in _LOGGED_MESSAGES:
        fields["reason"] = err.message
    return fields


def log_refusal(party: str | None, route: str, err: IntakeError, **extra: Any) -> None:
    """One line per refusal: party, route, status, code, field, and the message unless it may
    echo caller input (422: the field is logged, not the message)."""
    log.warning("request_refused", **refusal_fields(party, route, err), **extra)


class RefusalLog:
    """The refusals of one batch: the first `limit` logged one by one, the rest counted and
    summarised in one line at the end (a batch of 10,000 bad items is not 10,000 log lines)."""

    def __init__(self, party: str | None, route: str, limit: int) -> None:
        self.party = party
        self.route = route
        self.limit = limit
        self.logged = 0
        self.counts: Counter[tuple[int, str]] = Counter()

    def add(self, err: IntakeError, **extra: Any) -> None:
        self.counts[(err.status, err.code)] += 1
        if self.logged < self.limit:
            self.logged += 1
            log_refusal(self.party, self.route, err, **extra)

    def summarise(self) -> None:
        unlogged = sum(self.counts.values()) - self.logged
        if unlogged > 0:
            log.warning("batch_refusals", party=self.party, route=self.route,
                        refused=sum(self.counts.values()), logged_one_by_one=self.logged,
                        by_code={f"{status} {code}": n for (status, code), n
                                 in sorted(self.counts.items())})


__all__ = [
    "IntakeError", "unauthorized", "forbidden", "not_found", "conflict", "too_large", "invalid",
    "unavailable", "temporal_unavailable", "database_unavailable", "is_database_error",
    "log_refusal", "refusal_fields", "RefusalLog",
]
