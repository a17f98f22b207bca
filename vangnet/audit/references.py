"""Which rule of RULES.md each timeline entry follows, and a readable line for it.

Rules are R1..R12 of RULES §6, decisions are those of §8 ("decision 3"); a few entries depend on
what caused them (help after a summons follows R7, not R3; collection resumed by a pause running
out follows R4, by a breached arrangement R6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vangnet import calendar

EVENT_RULES: dict[str, str] = {
    "arrears_reported": "R1",
    "payment_received": "R2",
    "reminder_sent": "R2",
    "self_referral": "R2, R3",
    "signal_bounced": "R5(b)",
    "no_contact": "R5(b)",
    "help_refused": "R5(b)",
    "help_accepted": "R3",
    "debt_help_started": "R3",
    "payment_arrangement_agreed": "R3",
    "arrangement_breached": "R6",
    "concern_reported": "R5(d)",
    "mpzo_plan_ready": "R5",
    "care_started": "R5",
    "summons_served": "R5(a)",
    "judgment_given": "§4",
    "eviction_announced": "R8",
    "crisis_meeting_held": "R8, R9",
    "eviction_postponed": "R9",
    "moratorium_granted": "R9; decision 5",
    "moratorium_rejected": "R9",
    "eviction_executed": "R11",
    "tenancy_ended": "R11",
    "case_closed": "R11",
}

ACTION_RULES: dict[str, str] = {
    "tenant_notice_sent": "R1",
    "early_signal_submitted": "R2; decision 1",
    "casusregie_assigned": "R3; footnote 2",
    "collection_paused": "R3; decision 4",
    "collection_resumed": "R4",
    "mpzo_notified": "R5",
    "postponement_consultation_requested": "R7",
    "crisis_protocol_invoked": "R8",
    "moratorium_requested": "R9; decision 5",
    "escalation_raised": "§5",
    "aftercare_started": "R10; decision 8",
    "aftercare_completed": "R10",
    "case_closed": "R11",
}

MPZO_REASON_RULES: dict[str, str] = {
    "summons_served": "R5(a)",
    "signal_not_taken_up": "R5(b); decision 3",
    "arrears_months": "R5(c); decision 1",
    "concern_nuisance": "R5(d)",
    "concern_confused_behaviour": "R5(d)",
    "concern_care_and_safety": "R5(d)",
    "eviction_announced": "R5(e)",
    "evicted": "R11",
}

ESCALATION_RULES: dict[str, str] = {
    "reminder_missing": "R2",
    "pause_expired": "R4; decision 4",
    "crisis_meeting_overdue": "R8; decision 6",
    "moratorium_excluded_nuisance": "R9",
    "relapse": "R10",
}

DEADLINE_RULES: dict[str, str] = {
    "early_signal_due": "R2; decision 1",
    "help_plan_deadline": "R5(b); decisions 2, 3",
    "collection_pause_end": "R4; decision 4",
    "mpzo_months_threshold": "R5(c); decision 1",
    "crisis_meeting_deadline": "R8; decision 6",
    "moratorium_end": "R9; decision 5",
    "aftercare_end": "R10",
}

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
