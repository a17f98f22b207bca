"""Moves that several handlers make: opening and closing, the arrears clocks, the early signal,
the collection pause, aftercare, the end of help (A2) and the crisis response (R8, A4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from vangnet import calendar
from vangnet.domain import Collection, Outcome, Receiver, Stage, Track
from vangnet.rules.reading import months_in_arrears
from vangnet.rules.state import (
    AFTERCARE_END,
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    EARLY_SIGNAL_DUE,
    ENDED,
    EVICTION_OUTCOME_DEADLINE,
    HELP_PLAN_DEADLINE,
    MPZO_ARREARS_MONTHS,
    MPZO_HELP_ENDED,
    MPZO_MONTHS_THRESHOLD,
    MPZO_PLAN_DEADLINE,
    CaseState,
)
from vangnet.rules.work import Ignored, Work
from vangnet.vocabulary import Action


def open_case(work: Work, stage: Stage) -> None:
    s = work.s
    s.opened = True
    s.opened_at = work.now
    s.stage = stage
    s.track = Track.spoor_1
    s.collection = Collection.active
    prev = s.context.previous_episode if s.context else None
    if prev is not None:
        window_end = calendar.add_months(calendar.local_date(prev.closed_at),
                                         s.policy.relapse_window_months)
        if calendar.local_date(work.now) <= window_end:
            s.relapse_of = prev.run_id
            work.note(relapse_of=prev.run_id, previous_outcome=prev.outcome)
        else:
            work.note(previous_episode=prev.run_id)


def close_case(work: Work, outcome: Outcome, **detail: Any) -> None:
    s = work.s
    s.stage = Stage.closed
    s.closed = True
    s.closed_at = work.now
    s.outcome = outcome
    s.deadlines.clear()
    # `outcome` in the detail too: the delivered message states it (activities read detail).
    work.act(Action.case_closed, list(s.involved), reason=outcome.value, outcome=outcome.value,
             **detail)


def size_months(s: CaseState) -> int:
    return s.arrears_cents // s.monthly_rent_cents if s.monthly_rent_cents else 0


def arm_arrears_clocks(work: Work) -> None:
    """Early signal (R2) and the months rule (R5c), by age as timers and by size at once."""
    s = work.s
    if s.arrears_cents <= 0 or s.arrears_since is None or s.stage in ENDED:
        return
    policy = s.policy
    if (s.early_signal_at is None and not s.early_signal_blocked and not s.self_referral
            and not s.help_accepted and not s.awaiting_reminder):
        due_day = s.arrears_since + timedelta(days=policy.early_signal_after_days)
        work.set_deadline(EARLY_SIGNAL_DUE, calendar.start_of_day(due_day))
    reported = s.stretch_mpzo_reasons if work.amended else s.mpzo_reasons
    if not s.help_accepted and MPZO_ARREARS_MONTHS not in reported:
        if size_months(s) >= policy.mpzo_after_months:
            work.clear_deadline(MPZO_MONTHS_THRESHOLD)
            work.notify_mpzo(MPZO_ARREARS_MONTHS)
        else:
            due_day = calendar.add_months(s.arrears_since, policy.mpzo_after_months)
            work.set_deadline(MPZO_MONTHS_THRESHOLD, calendar.start_of_day(due_day))


def submit_early_signal(work: Work) -> None:
    s = work.s
    s.early_signal_at = work.now
    s.awaiting_reminder = False
    work.clear_deadline(EARLY_SIGNAL_DUE)
    # A9(a): the municipality passes signals to its partners: they are told as well.
    receivers = ([Receiver.municipality, Receiver.social_service, Receiver.social_team]
                 if work.amended else [Receiver.municipality])
    work.act(Action.early_signal_submitted, receivers,
             arrears_months=months_in_arrears(s, work.now))
    if s.stage == Stage.arrears:
        s.stage = Stage.early_signal
    work.set_deadline_in(HELP_PLAN_DEADLINE, s.policy.help_plan_deadline_days)


def block_early_signal(work: Work) -> None:
    work.s.early_signal_blocked = True
    work.s.awaiting_reminder = False
    work.clear_deadline(EARLY_SIGNAL_DUE)
    work.note(result="early_signal_blocked", why="tenant objects to the signal")


def start_aftercare(work: Work) -> None:
    """R10 and decision 8: arrears cleared at any stage -> aftercare; any crisis is off."""
    s = work.s
    s.stage = Stage.aftercare
    s.collection = Collection.active
    s.collection_paused_until = None
    s.collection_pause_basis = None
    s.eviction_date = None
    s.moratorium_until = None
    s.moratorium_pending = False
    s.crisis_meeting_pending = False
    s.awaiting_reminder = False
    s.arrangement = None  # paid off: nothing left to breach
    s.deadlines.clear()
    work.set_deadline(
        AFTERCARE_END,
        calendar.start_of_day(
            calendar.add_months(calendar.local_date(work.now), s.policy.aftercare_months)
        ),
    )
    work.act(Action.aftercare_started, [Receiver.social_team])


def start_new_stretch(work: Work) -> None:
    """A5: a relapse starts a new stretch: MPZO reasons, its plan and the care consultation
    count afresh."""
    s = work.s
    s.stretch_mpzo_reasons = []
    s.mpzo_plan_ready = False
    s.care_consultation_requested = False
    work.clear_deadline(MPZO_PLAN_DEADLINE)


# -- the collection pause (R3, R4, A3) -----------------------------------------------------------


def pause_collection(work: Work, until: datetime | None, basis: str) -> None:
    """Pause collection until `until`, or while `basis` (debt help, an arrangement) runs.

    Before §11 only the start of a pause was told; A3: every change of it is."""
    s = work.s
    already = s.collection == Collection.paused
    changed = (s.collection_paused_until, s.collection_pause_basis) != (until, basis)
    s.collection = Collection.paused
    s.collection_paused_until = until
    s.collection_pause_basis = basis
    if until is None:
        work.clear_deadline(COLLECTION_PAUSE_END)
    else:
        work.set_deadline(COLLECTION_PAUSE_END, until)
    if not work.amended:
        if not already:
            work.act(Action.collection_paused, [Receiver.corporation],
                     until=until if until else "until an arrangement is agreed or breached")
    elif not already or changed:
        work.act(Action.collection_paused, [Receiver.corporation], until=until, basis=basis)


def resume_collection(work: Work) -> None:
    s = work.s
    s.collection = Collection.active
    s.collection_paused_until = None
    s.collection_pause_basis = None
    work.clear_deadline(COLLECTION_PAUSE_END)
    work.act(Action.collection_resumed, [Receiver.corporation])


def require_open_arrears(work: Work) -> None:
    if work.s.stage == Stage.aftercare:
        raise Ignored("the arrears are cleared and the case is in aftercare")


def require_crisis(work: Work) -> None:
    if work.s.stage != Stage.crisis:
        raise Ignored("no eviction announced: the case is not in crisis")


# -- A2: help that ends without result -----------------------------------------------------------


def end_help(work: Work) -> None:
    """A2: collection resumes, the stage goes back to arrears, help no longer counts as accepted,
    and the months rule applies again at once."""
    s = work.s
    s.help_accepted = False
    s.debt_help_started = False
    s.arrangement = None
    if s.collection == Collection.paused:
        resume_collection(work)
    if s.stage in (Stage.debt_help, Stage.arrangement, Stage.early_signal):
        s.stage = Stage.arrears
    work.note(result="help ended")
    if (s.arrears_since is not None and s.arrears_cents > 0
            and months_in_arrears(s, work.now) >= s.policy.mpzo_after_months):
        work.clear_deadline(MPZO_MONTHS_THRESHOLD)
        work.notify_mpzo(MPZO_HELP_ENDED)
    else:
        arm_arrears_clocks(work)


# -- the crisis response (R8, A4) ------------------------------------------------------------------


def invoke_crisis_protocol(work: Work) -> None:
    """R8: the protocol of the municipality's social service, and the working-day meeting
    deadline (A4: for every new date once the earlier meeting has been held)."""
    s = work.s
    s.crisis_meeting_result = None
    s.crisis_meeting_pending = True
    work.act(Action.crisis_protocol_invoked, [Receiver.social_service],
             eviction_date=s.eviction_date)
    work.set_deadline(
        CRISIS_MEETING_DEADLINE,
        calendar.working_days_deadline(work.now, s.policy.crisis_response_working_days),
    )


def arm_eviction_outcome(work: Work) -> None:
    """A1: the corporation reports what happened on the eviction date within
    `eviction_outcome_days`; not while a granted moratorium covers that date."""
    s = work.s
    covered = s.moratorium_until is not None and s.eviction_date is not None \
        and s.eviction_date <= s.moratorium_until
    if s.stage == Stage.crisis and s.eviction_date is not None and not covered:
        due = s.eviction_date + timedelta(days=s.policy.eviction_outcome_days)
        work.set_deadline(EVICTION_OUTCOME_DEADLINE, calendar.start_of_day(due))
    else:
        work.clear_deadline(EVICTION_OUTCOME_DEADLINE)


def new_eviction_date(work: Work, day: Any) -> None:
    """A4: a date announced or postponed to while in crisis."""
    s = work.s
    if day == s.eviction_date:
        work.note(result="the same eviction date: nothing changes")
        return
    s.eviction_date = day
    if day is None:
        work.note(result="no new eviction date")
    elif day <= work.today:
        work.note(result="the new date is not ahead: no new crisis response")
    elif s.crisis_meeting_pending:
        work.note(result="the new date is covered by the crisis meeting still to be held")
    else:
        invoke_crisis_protocol(work)
    arm_eviction_outcome(work)
