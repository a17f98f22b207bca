"""What the OpenAPI document says about the intake's fields (issue 10: made for generators).

`FIELD_DOCS` describes every field of the intake events (RULES §4) and their envelope; the request
models of starter/schemas.py take their descriptions from here, and `example_event()` builds the
example shown for each event type. Response models carry their own descriptions.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, get_args

FIELD_DOCS: dict[str, str] = {
    "type": "the event's name (RULES §4): one signal of the case",
    "tenancy_ref": "the corporation's own contract reference: no name, BSN or address (RULES §3)",
    "corporation": "the tenancy's housing corporation, by code (RULES §1)",
    "municipality": "the tenancy's municipality, by code (RULES §1)",
    "event_id": "unique per sender: a repeat with the same id is answered `duplicate` and applied once",
    "occurred_at": "when it happened in the world (ISO 8601; recorded, never used to reorder; "
                   "not in the future, not before 2000)",
    "arrears_cents": "arrears in euro cents (an integer: 925,00 euro is 92500); after a payment: "
                     "what remains",
    "monthly_rent_cents": "the monthly rent in euro cents",
    "arrears_since": "the first unpaid due date (the arrears clock starts here)",
    "amount_cents": "the amount paid, in euro cents",
    "tenant_objects_to_signal": "the tenant objected to the early signal in reply to the reminder",
    "reason": "a reason code or short text without personal data",
    "monthly_amount_cents": "the arrangement's monthly payment, in euro cents",
    "months": "the arrangement's number of months",
    "kind": "what the concern is about: nuisance, confused_behaviour or care_and_safety",
    "by": "who started the care: social_team, bemoeizorg or care_provider",
    "hearing_date": "the date of the court hearing",
    "eviction_granted": "whether the court granted the eviction",
    "eviction_date": "the announced eviction date",
    "result": "the outcome of the crisis meeting",
    "new_eviction_date": "the new eviction date, or null when none is set yet",
    "until": "the last day of the moratorium (art. 287b Fw)",
}

_TODAY = date(2026, 11, 20)
_EXAMPLE_VALUES: dict[str, Any] = {
    "arrears_cents": 92_500,
    "monthly_rent_cents": 92_500,
    "arrears_since": (_TODAY - timedelta(days=20)).isoformat(),
    "amount_cents": 92_500,
    "tenant_objects_to_signal": False,
    "reason": "help_refused_before",
    "monthly_amount_cents": 20_000,
    "months": 6,
    "hearing_date": (_TODAY + timedelta(days=30)).isoformat(),
    "eviction_granted": True,
    "eviction_date": (_TODAY + timedelta(days=40)).isoformat(),
    "new_eviction_date": (_TODAY + timedelta(days=70)).isoformat(),
    "until": (_TODAY + timedelta(days=120)).isoformat(),
}


def example_event(event_type: str, model: Any) -> dict[str, Any]:
    """A valid request body for one event type, for the OpenAPI document."""
    body: dict[str, Any] = {"type": event_type, "tenancy_ref": "HC-2026-0042", "corporation": "woonbron",
                            "municipality": "dordrecht", "event_id": f"{event_type}-0001"}
    for name, info in model.model_fields.items():
        if name in body or name in ("source", "occurred_at"):
            continue
        if name in _EXAMPLE_VALUES:
            body[name] = _EXAMPLE_VALUES[name]
        elif choices := [a for a in get_args(info.annotation) if isinstance(a, str)]:
            body[name] = choices[0]
        elif info.is_required():
            body[name] = "other"
    if event_type == "case_closed":
        body["reason"] = "tenant moved to another region"
    if event_type == "tenancy_ended":
        body["reason"] = "moved_out"
    return body


__all__ = ["FIELD_DOCS", "example_event"]
