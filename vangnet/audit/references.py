"""Which rule of RULES.md each timeline entry follows, and a readable line for it.

Rules are R1..R12 of RULES §6, decisions are those of §8 ("decision 3"), amendments those of §11
("A4"), as the catalogue (vangnet.vocabulary) gives them; a few entries depend on
what caused them (help after a summons follows R7, not R3; collection resumed by a pause running
out follows R4, by a breached arrangement R6, by help that ended without result A2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vangnet import calendar, vocabulary

# Rule references: views of the one catalogue (vangnet.vocabulary).
EVENT_RULES: dict[str, str] = {name: row.rule for name, row in vocabulary.EVENTS.items()}
ACTION_RULES: dict[str, str] = {str(a): row.rule for a, row in vocabulary.ACTIONS.items()}
MPZO_REASON_RULES: dict[str, str] = {str(r): row.rule
                                     for r, row in vocabulary.MPZO_REASONS.items()}
ESCALATION_RULES: dict[str, str] = {str(r): row.rule for r, row in vocabulary.ESCALATIONS.items()}
DEADLINE_RULES: dict[str, str] = {str(d): row.rule for d, row in vocabulary.DEADLINES.items()}

IGNORED_RULE = "R12"

_HIDDEN = {"event_id", "source", "seq", "receivers", "delivered_to", "occurred_at", "reason"}


@dataclass(frozen=True)
class Row:
    """One timeline entry as an auditor reads it."""

    at: datetime
    category: str
    kind: str
    who: str
    what: str
    rule: str
    detail: dict[str, Any]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fields(detail: dict[str, Any]) -> str:
    parts = []
    for key, value in detail.items():
        if key in _HIDDEN or value is None:
            continue
        if key.endswith("_cents") and isinstance(value, int):
            value = f"€{value / 100:,.2f}"
        elif isinstance(value, str) and len(value) > 10 and value[10:11] == "T":
            try:  # an instant: shown in Dutch local time, like the rest of the report
                value = parse_time(value).astimezone(calendar.TZ).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                pass
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        parts.append(f"{key} {value}")
    return "; ".join(parts)


def rows(timeline: list[dict[str, Any]]) -> list[Row]:
    """The timeline with who, what and rule for each entry."""
    out: list[Row] = []
    cause: dict[str, Any] | None = None
    summons = aftercare = False
    for entry in timeline:
        category, kind = entry["category"], entry["kind"]
        detail = dict(entry.get("detail") or {})
        at = parse_time(entry["at"])
        rule = ""
        if category == "event":
            cause = entry
            rule = EVENT_RULES.get(kind, "§4")
            if kind in ("help_accepted", "debt_help_started") and summons:
                rule = "R7"
            elif kind == "payment_received" and detail.get("arrears_cents") == 0:
                rule = "R10; decision 8"
            elif kind == "summons_served":
                summons = True
            elif kind == "arrears_reported" and aftercare:
                rule, aftercare = "R10 (relapse); R1", False
            who = str(detail.get("source", "?"))
        elif category == "deadline":
            cause = entry
            rule = DEADLINE_RULES.get(kind, "§6")
            who = "vangnet (deadline)"
        elif category == "ignored":
            rule = IGNORED_RULE
            who = str(detail.get("source", "?"))
        else:
            reason = detail.get("reason")
            rule = ACTION_RULES.get(kind, "§5")
            if kind == "mpzo_notified":
                rule = MPZO_REASON_RULES.get(str(reason), "R5")
            elif kind == "escalation_raised":
                rule = ESCALATION_RULES.get(str(reason), "§5")
            elif kind == "collection_resumed" and cause is not None and cause["kind"] == "arrangement_breached":
                rule = "R6"
            elif kind == "collection_resumed" and cause is not None and cause["kind"] in (
                    "debt_help_ended", "help_refused", "no_contact"):
                rule = "A2"  # help that ended without result
            if kind == "aftercare_started":
                aftercare = True
            receivers = detail.get("delivered_to") or detail.get("receivers") or []
            who = "vangnet → " + ", ".join(map(str, receivers))
        out.append(Row(at, category, kind, who, _what(category, kind, detail, at), rule, detail))
    return out


def _what(category: str, kind: str, detail: dict[str, Any], at: datetime) -> str:
    text = kind
    if category == "action" and detail.get("reason"):
        text += f" ({detail['reason']})"
    if category == "ignored":
        return f"{kind} ignored: {detail.get('reason', '')}"
    extra = _fields(detail)
    if extra:
        text += f": {extra}"
    occurred = detail.get("occurred_at")
    if category == "event" and occurred:
        happened = parse_time(occurred)
        lag = (calendar.local_date(at) - calendar.local_date(happened)).days
        if lag > 0:
            text += f" [happened {calendar.local_date(happened).isoformat()}, reported {lag} day(s) later]"
    return text
