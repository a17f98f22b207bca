"""Reading a case: months in arrears, the next deadline, and the `status` and `timeline` queries
of RULES §9 (their formats are public)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vangnet import calendar
from vangnet.rules.state import DEADLINE_ORDER, CaseState


def months_in_arrears(state: CaseState, now: datetime) -> int:
    """Arrears in months: age (from arrears_since) or size (arrears / rent), whichever is more."""
    if state.arrears_cents <= 0 or state.arrears_since is None:
        return 0
    by_age = calendar.whole_months_between(state.arrears_since, calendar.local_date(now))
    by_size = state.arrears_cents // state.monthly_rent_cents if state.monthly_rent_cents else 0
    return max(by_age, by_size)


def next_month_mark(state: CaseState, now: datetime) -> datetime | None:
    """When `months_in_arrears` next grows by age alone (so the search attribute can follow)."""
    if state.closed or state.arrears_cents <= 0 or state.arrears_since is None:
        return None
    by_age = calendar.whole_months_between(state.arrears_since, calendar.local_date(now))
    return calendar.start_of_day(calendar.add_months(state.arrears_since, by_age + 1))


def next_deadline(state: CaseState) -> tuple[str, datetime] | None:
    """The earliest deadline; at the same moment, the one named first in `Deadline`."""
    if not state.deadlines:
        return None
    kind = min(state.deadlines,
               key=lambda k: (state.deadlines[k], DEADLINE_ORDER.get(k, len(DEADLINE_ORDER))))
    return kind, state.deadlines[kind]


def status(state: CaseState, now: datetime) -> dict[str, Any]:
    """The `status` query of RULES §9 (plus a few read-only extras)."""
    nxt = next_deadline(state)
    return {
        "case_id": state.case_id,
        "stage": state.stage.value if state.stage else None,
        "track": state.track.value,
        "collection": state.collection.value,
        "arrears_cents": state.arrears_cents,
        "months_in_arrears": months_in_arrears(state, now),
        "next_deadline": {"kind": nxt[0], "due_at": nxt[1].isoformat()} if nxt else None,
        "closed": state.closed,
        "outcome": state.outcome.value if state.outcome else None,
        # extras
        "corporation": state.corporation,
        "municipality": state.municipality,
        "tenancy_ref": state.tenancy_ref,
        "collection_paused_until": _iso(state.collection_paused_until),
        "eviction_date": _iso(state.eviction_date),
        "mpzo_reasons": list(state.mpzo_reasons),
        "opened_at": _iso(state.opened_at),
        "closed_at": _iso(state.closed_at),
        "relapse_of": state.relapse_of,
        "policy": state.context.policy.model_dump() if state.context else None,
    }


def timeline(state: CaseState) -> list[dict[str, Any]]:
    return [entry.model_dump(mode="json") for entry in state.timeline]


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
