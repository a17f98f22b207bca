"""The agreement as a pure, deterministic core (RULES.md §3-§8, with the amendments of §11).

    step = apply_event(state, event, now)          # one event (a signal), validated
    step = apply_payload(state, name, payload, now)  # one signal as it arrived (A12)
    step = fire_due_deadlines(state, now)          # the timers due by `now`
    step.state, step.actions, step.ignored, step.duplicate

No I/O, no clock, no randomness: `now` is passed in (the workflow passes `workflow.now()`).
A step never changes its input; an event that makes no sense in the current stage returns the
original state with one `ignored` timeline entry (R12), so nothing is ever half-applied.
Every deadline lives in `state.deadlines`; the workflow turns the earliest into a durable timer.

A case runs under the rules it started with (`state.rules_version`): cases that started before
§11 keep the first rules to the end of their run; the workflow moves a case to the amended rules
when a new run starts (`upgrade`).

Modules: `state` (CaseState, TimelineEntry, PlannedAction, Step, the deadline names), `reading`
(status, timeline, next deadline), `step` (the machinery), `work` (a step's working copy),
`moves` (shared moves), and the handlers by area: `arrears`, `help`, `care`, `court`.
"""

from __future__ import annotations

from datetime import datetime

from vangnet.domain import Stage
from vangnet.rules import care, moves
from vangnet.rules.reading import months_in_arrears, next_deadline, next_month_mark, status, timeline
from vangnet.rules.state import (
    AFTERCARE_END,
    CASE_REVIEW_DUE,
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    CURRENT_RULES,
    DEADLINES,
    EARLY_SIGNAL_DUE,
    EVICTION_OUTCOME_DEADLINE,
    HELP_PLAN_DEADLINE,
    MORATORIUM_END,
    MPZO_ARREARS_MONTHS,
    MPZO_EVICTED,
    MPZO_EVICTION_ANNOUNCED,
    MPZO_HELP_ENDED,
    MPZO_MONTHS_THRESHOLD,
    MPZO_NOT_TAKEN_UP,
    MPZO_PLAN_DEADLINE,
    MPZO_SUMMONS,
    RULES_BEFORE_AMENDMENTS,
    RULES_WITH_AMENDMENTS,
    SEEN_EVENT_IDS_LIMIT,
    CaseState,
    PlannedAction,
    Step,
    TimelineEntry,
    new_case,
)
from vangnet.rules.step import (
    apply_event,
    apply_payload,
    fire_due_deadlines,
    ignore_payload,
    internal_error,
    skip_due_deadline,
)
from vangnet.rules.work import Ignored, Work, working_copy


def upgrade(state: CaseState, now: datetime) -> CaseState:
    """A case that ran under the first rules, continuing under §11 (a new run): what it reported
    to the MPZO so far is its stretch, a crisis without a recorded meeting awaits one, and A1's
    clocks start now. Plans no action; an already amended case is returned as it is."""
    if state.amended:
        return state
    work = Work(state.model_copy(update={"rules_version": RULES_WITH_AMENDMENTS}), now)
    s = work.s
    s.stretch_mpzo_reasons = list(dict.fromkeys(s.mpzo_reasons))
    if s.stage == Stage.crisis:
        s.crisis_meeting_pending = s.crisis_meeting_result is None
        moves.arm_eviction_outcome(work)
    care.keep_alive(work)
    return work.result().state


__all__ = [
    "AFTERCARE_END", "CASE_REVIEW_DUE", "COLLECTION_PAUSE_END", "CRISIS_MEETING_DEADLINE",
    "CURRENT_RULES", "DEADLINES", "EARLY_SIGNAL_DUE", "EVICTION_OUTCOME_DEADLINE",
    "HELP_PLAN_DEADLINE", "MORATORIUM_END", "MPZO_ARREARS_MONTHS", "MPZO_EVICTED",
    "MPZO_EVICTION_ANNOUNCED", "MPZO_HELP_ENDED", "MPZO_MONTHS_THRESHOLD", "MPZO_NOT_TAKEN_UP",
    "MPZO_PLAN_DEADLINE", "MPZO_SUMMONS", "RULES_BEFORE_AMENDMENTS", "RULES_WITH_AMENDMENTS",
    "SEEN_EVENT_IDS_LIMIT", "CaseState", "Ignored", "PlannedAction", "Step", "TimelineEntry",
    "apply_event", "apply_payload", "fire_due_deadlines", "ignore_payload", "internal_error",
    "months_in_arrears", "new_case", "next_deadline", "next_month_mark", "skip_due_deadline",
    "status", "timeline", "upgrade", "working_copy",
]
