"""What a case knows (`CaseState`), what a step returns (`Step`) and the names of its timers.

The state is serialisable: continue-as-new carries it whole as JSON, and a state written by any
earlier version of this code must load (new fields have defaults that mean "as before").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from vangnet.domain import CaseContext, Collection, Outcome, Receiver, Stage, Track
from vangnet.vocabulary import Deadline, MpzoReason

# Which rules a case runs under. 1: RULES.md §1-§10 as first built; 2: with the amendments of
# §11 (A1-A12). The workflow decides at the start of each run (patch "no-case-falls-through-v1"),
# so a case that started before the amendments replays with the rules it ran under.
RULES_BEFORE_AMENDMENTS = 1
RULES_WITH_AMENDMENTS = 2
CURRENT_RULES = RULES_WITH_AMENDMENTS

# A repeated event_id is ignored; the case remembers the last this many (under the amended
# rules). Temporal's update-id dedup covers what the intake sends; this set covers signals and
# continue-as-new, where that dedup does not reach.
SEEN_EVENT_IDS_LIMIT = 1_000

# Deadline names (public: `kind` on the timeline and in `next_deadline`), as plain strings.
EARLY_SIGNAL_DUE = Deadline.early_signal_due.value
HELP_PLAN_DEADLINE = Deadline.help_plan_deadline.value
COLLECTION_PAUSE_END = Deadline.collection_pause_end.value
MPZO_MONTHS_THRESHOLD = Deadline.mpzo_months_threshold.value
CRISIS_MEETING_DEADLINE = Deadline.crisis_meeting_deadline.value
MORATORIUM_END = Deadline.moratorium_end.value
AFTERCARE_END = Deadline.aftercare_end.value
CASE_REVIEW_DUE = Deadline.case_review_due.value
MPZO_PLAN_DEADLINE = Deadline.mpzo_plan_deadline.value
EVICTION_OUTCOME_DEADLINE = Deadline.eviction_outcome_deadline.value
DEADLINES: tuple[str, ...] = tuple(d.value for d in Deadline)
DEADLINE_ORDER: dict[str, int] = {kind: i for i, kind in enumerate(DEADLINES)}

# MPZO reasons (R5), as plain strings.
MPZO_SUMMONS = MpzoReason.summons_served.value
MPZO_NOT_TAKEN_UP = MpzoReason.signal_not_taken_up.value
MPZO_ARREARS_MONTHS = MpzoReason.arrears_months.value
MPZO_EVICTION_ANNOUNCED = MpzoReason.eviction_announced.value
MPZO_EVICTED = MpzoReason.evicted.value
MPZO_HELP_ENDED = MpzoReason.help_ended.value

ENDED = (Stage.aftercare, Stage.closed)
# A1: stages in which the party holding the case reports progress every `case_review_days`.
REVIEW_STAGES = (Stage.debt_help, Stage.arrangement, Stage.care)


class TimelineEntry(BaseModel):
    at: datetime
    category: str  # "event" | "action" | "deadline" | "ignored"
    kind: str
    detail: dict[str, Any] = Field(default_factory=dict)


class PlannedAction(BaseModel):
    """An action the workflow must run as an activity. `seq` makes its idempotency key."""

    seq: int
    action: str
    receivers: list[Receiver]
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class CaseState(BaseModel):
    """Everything a case knows. Serialisable: continue-as-new carries it whole."""

    case_id: str
    tenancy_ref: str
    corporation: str
    municipality: str
    context: CaseContext | None = None
    rules_version: int = RULES_BEFORE_AMENDMENTS

    opened: bool = False
    opened_at: datetime | None = None
    closed: bool = False
    closed_at: datetime | None = None
    outcome: Outcome | None = None
    stage: Stage | None = None
    track: Track = Track.spoor_1
    collection: Collection = Collection.active
    collection_paused_until: datetime | None = None
    # A3: what the pause rests on ("help_accepted": until a date; "debt_help", "arrangement":
    # while it runs), so that every change of it is told to the corporation.
    collection_pause_basis: str | None = None
    relapse_of: str | None = None

    arrears_cents: int = 0
    monthly_rent_cents: int = 0
    arrears_since: date | None = None

    tenant_notified: bool = False
    reminder_sent: bool = False
    tenant_objected: bool = False
    awaiting_reminder: bool = False
    early_signal_at: datetime | None = None
    early_signal_blocked: bool = False
    self_referral: bool = False
    help_accepted: bool = False
    debt_help_started: bool = False
    arrangement: dict[str, int] | None = None

    concerns: list[str] = Field(default_factory=list)
    # Every MPZO report of the case, in order (a reason may repeat in a later stretch, A5).
    mpzo_reasons: list[str] = Field(default_factory=list)
    # A5: the reasons reported in the current stretch (since the case opened or relapsed).
    stretch_mpzo_reasons: list[str] = Field(default_factory=list)
    mpzo_plan_ready: bool = False
    care_started_by: str | None = None
    care_consultation_requested: bool = False  # A9(c), once per stretch

    summons_served: bool = False
    hearing_date: date | None = None
    eviction_granted: bool | None = None
    eviction_date: date | None = None
    crisis_meeting_result: str | None = None
    crisis_meeting_pending: bool = False  # A4: a crisis protocol awaits its meeting
    consultation_requested: bool = False
    moratorium_requested: bool = False
    moratorium_pending: bool = False  # A6: requested, not yet granted or rejected
    moratorium_until: date | None = None

    deadlines: dict[str, datetime] = Field(default_factory=dict)
    involved: list[Receiver] = Field(default_factory=lambda: [Receiver.corporation])
    seen_event_ids: list[str] = Field(default_factory=list)
    action_seq: int = 0
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def amended(self) -> bool:
        """Runs under RULES.md §11 (A1-A12)."""
        return self.rules_version >= RULES_WITH_AMENDMENTS

    @property
    def mpzo_involved(self) -> bool:
        return bool(self.mpzo_reasons)

    @property
    def policy(self):  # Policy
        assert self.context is not None, "case context not resolved"
        return self.context.policy


class Step(BaseModel):
    state: CaseState
    actions: list[PlannedAction] = Field(default_factory=list)
    duplicate: bool = False
    ignored: str | None = None
    # The deadlines this step fired, (kind, due), for the operators' metrics (issue 13).
    fired: list[tuple[str, datetime]] = Field(default_factory=list)


def new_case(case_id: str, tenancy_ref: str, corporation: str, municipality: str, *,
             rules_version: int = CURRENT_RULES) -> CaseState:
    return CaseState(case_id=case_id, tenancy_ref=tenancy_ref, corporation=corporation,
                     municipality=municipality, rules_version=rules_version)
