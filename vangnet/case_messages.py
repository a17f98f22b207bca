"""What the intake and the case workflow say to each other (RULES §12 I1, I2).

An event from the intake goes to its case as the update `submit_event` (update-with-start when it
may open the case), not as a signal: the update's id is derived from the sender and its
`event_id`, so Temporal itself answers a repeat with the first call's result, and the caller gets
the case's own verdict once the event is applied:

- `applied`: the event is in the case's history and changed it as the rules say;
- `duplicate`: the case had this (source, event_id) already (also across continue-as-new);
- `ignored`: recorded on the timeline as `ignored` with `reason` (R12, A12); `case_closed` says
  the event came in behind the event that closed the case.

An update the case cannot take is rejected by its validator before it reaches history: the
`ApplicationError` types below say why (the intake turns them into HTTP answers).

Signals stay as they are for integrations that speak Temporal directly (RULES §9).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CASE_WORKFLOW = "TenantCaseWorkflow"  # the workflow type (RULES §9): workflows/case.py
SUBMIT_EVENT = "submit_event"  # the update's name
TIMELINE_TAIL = "timeline_tail"  # the query: the live part of the timeline, with its offset

# ApplicationError types of a rejected `submit_event` (the validator's verdicts).
REJECTED_INVALID = "InvalidEvent"  # details: [field or None]
REJECTED_CLOSED = "CaseClosed"  # details: [outcome or None]
REJECTED_MUNICIPALITY = "MunicipalityMismatch"  # details: [the case's municipality]
REJECTED_OTHER_CASE = "CaseMismatch"  # the envelope names another tenancy than this case's

Verdict = Literal["applied", "duplicate", "ignored"]


def update_id_for(source: str, event_id: str) -> str:
    """The update id of an event: one per (sender, event_id), so that Temporal deduplicates a
    repeat. Party codes hold no ':' (registry pattern), so the id is unambiguous."""
    return f"{source}:{event_id}"


# -- the `status` and `timeline` queries (RULES §9): what the workflow answers and the intake
# serves (starter/schemas.py re-exports them for the OpenAPI document). The extras the workflow
# adds to `status` are kept as they come (extra="allow"), in order, so the JSON is unchanged.


class NextDeadline(BaseModel):
    kind: str
    due_at: str


class CaseStatus(BaseModel):
    """The `status` query of RULES §9 (the workflow may add read-only extras)."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    stage: str | None
    track: str
    collection: Literal["active", "paused"]
    arrears_cents: int
    months_in_arrears: int
    next_deadline: NextDeadline | None
    closed: bool
    outcome: str | None


class TimelineEntry(BaseModel):
    """One entry of the `timeline` query of RULES §9."""

    at: str
    category: Literal["event", "action", "deadline", "ignored"]
    kind: str
    detail: dict[str, Any]


class EventSubmission(BaseModel):
    """The argument of `submit_event`: the event as its signal would carry it (RULES §9: its
    fields with `event_id`, `source`, `occurred_at`), the type, and the envelope that names the
    tenancy (so a case can tell an event meant for another municipality)."""

    model_config = ConfigDict(frozen=True)

    type: str
    tenancy_ref: str
    corporation: str
    municipality: str
    event: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.event.get("source", ""))

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))


class EventVerdict(BaseModel):
    """The result of `submit_event`: what the case did with the event."""

    verdict: Verdict
    reason: str | None = None  # why it was ignored
    case_closed: bool = False  # ignored because the case had closed before it (a lost race)
    outcome: str | None = None  # the case's outcome when it is closed


class TimelineTail(BaseModel):
    """The `timeline_tail` query: the entries the case still holds, and how many older entries
    it has archived to the case store (under the episode's first run id), which come first."""

    first_run_id: str
    archived: int = 0
    entries: list[dict[str, Any]] = Field(default_factory=list)


class TimelineArchive(BaseModel):
    """Input of the `archive_timeline` local activity: timeline entries `offset`, `offset + 1`, …
    of an episode, to keep in the case store (idempotent by position)."""

    case_id: str
    run_id: str  # the episode's first run id
    offset: int
    entries: list[dict[str, Any]]


__all__ = [
    "SUBMIT_EVENT",
    "TIMELINE_TAIL",
    "REJECTED_INVALID",
    "REJECTED_CLOSED",
    "REJECTED_MUNICIPALITY",
    "REJECTED_OTHER_CASE",
    "Verdict",
    "update_id_for",
    "EventSubmission",
    "EventVerdict",
    "TimelineTail",
    "TimelineArchive",
]
