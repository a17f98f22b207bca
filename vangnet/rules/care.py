"""Spoor 2 and the case's liveness: concerns, the MPZO's plan, care, progress reports, and the
review clock that keeps every open case owing something by a date (R5(d), A1, A6, A9(c))."""

from __future__ import annotations

from vangnet import calendar
from vangnet.domain import (
    CareStarted,
    ConcernReported,
    EventBase,
    MpzoPlanReady,
    PartyKind,
    ProgressReported,
    Receiver,
    Stage,
    Track,
)
from vangnet.rules.moves import open_case
from vangnet.rules.state import CASE_REVIEW_DUE, MPZO_PLAN_DEADLINE, REVIEW_STAGES
from vangnet.rules.work import Ignored, Work
from vangnet.vocabulary import Action, Escalation, MpzoReason


def on_concern_reported(work: Work, e: ConcernReported) -> None:
    s = work.s
    if not s.opened:
        open_case(work, Stage.care)
    new_kind = e.kind not in s.concerns
    if new_kind:
        s.concerns.append(e.kind)
    work.notify_mpzo(MpzoReason.for_concern(e.kind))  # R5(d)
    if work.amended and e.kind == "nuisance" and new_kind and s.moratorium_pending:
        # A6: nuisance after the moratorium was requested, before the court decided
        work.escalate(Escalation.moratorium_excluded_nuisance,
                      [Receiver.social_service, Receiver.corporation])


def on_mpzo_plan_ready(work: Work, e: MpzoPlanReady) -> None:
    if not work.s.mpzo_involved:
        raise Ignored("the MPZO has not been notified for this case")
    work.s.mpzo_plan_ready = True
    work.clear_deadline(MPZO_PLAN_DEADLINE)  # A1


def on_care_started(work: Work, e: CareStarted) -> None:
    s = work.s
    s.care_started_by = e.by
    if not work.amended:
        return
    # A9(c): care started is a ground to ask for a postponement of the eviction
    if not (s.summons_served or s.eviction_date is not None):
        return
    if s.care_consultation_requested:
        work.note(result="postponement consultation on care already requested")
        return
    s.care_consultation_requested = True
    work.act(Action.postponement_consultation_requested,
             [Receiver.corporation, Receiver.social_service], ground="care_started")


def on_progress_reported(work: Work, e: ProgressReported) -> None:
    """A1: the sender confirms that work on the case goes on (the review clock re-arms below)."""


# -- A1: liveness --------------------------------------------------------------------------------

_HOLDER_KIND = {Track.spoor_1: PartyKind.social_team, Track.spoor_2: PartyKind.mpzo}


def rearm_review(work: Work, event_type: str, source: str) -> None:
    """A1: the review clock re-arms on each event of the party that holds the case (and on any
    `progress_reported`)."""
    s = work.s
    if CASE_REVIEW_DUE not in s.deadlines and s.stage not in REVIEW_STAGES:
        return
    kind = s.context.parties.get(source) if s.context else None
    if event_type == "progress_reported" or kind == _HOLDER_KIND[s.track]:
        work.set_deadline_in(CASE_REVIEW_DUE, s.policy.case_review_days)


def keep_alive(work: Work) -> None:
    """A1: an open case always has a next deadline. In debt help, an arrangement and care the
    review clock runs from the start of the stage; elsewhere it is the fallback when nothing
    else is owed (a crisis whose date passed under a moratorium, arrears with every signal and
    report done)."""
    s = work.s
    if not s.opened or s.closed:
        work.clear_deadline(CASE_REVIEW_DUE)
        return
    days = s.policy.case_review_days
    armed = CASE_REVIEW_DUE in s.deadlines
    if s.stage in REVIEW_STAGES:
        if not armed or s.stage != work.base.stage:
            work.set_deadline_in(CASE_REVIEW_DUE, days)
    elif set(s.deadlines) - {CASE_REVIEW_DUE}:
        work.clear_deadline(CASE_REVIEW_DUE)
    elif not armed:
        work.set_deadline_in(CASE_REVIEW_DUE, days)


def case_review_due(work: Work) -> None:
    """A1: no progress reported for `case_review_days`: escalate and re-arm."""
    s = work.s
    work.escalate(Escalation.case_stalled, [work.holder(), Receiver.corporation])
    work.set_deadline_in(CASE_REVIEW_DUE, s.policy.case_review_days)


def mpzo_plan_deadline(work: Work) -> None:
    """A1: the MPZO reports `mpzo_plan_ready` within `mpzo_plan_working_days`; else escalate
    to the MPZO and re-arm."""
    s = work.s
    if s.mpzo_plan_ready:
        work.note(result="plan ready")
        return
    work.escalate(Escalation.mpzo_plan_overdue, [Receiver.mpzo])
    work.set_deadline(MPZO_PLAN_DEADLINE, calendar.working_days_deadline(
        work.now, s.policy.mpzo_plan_working_days))


def after_event(work: Work, event: EventBase) -> None:
    """What every applied event does besides its own handler (under §11)."""
    rearm_review(work, event.type, event.source)  # type: ignore[attr-defined]
