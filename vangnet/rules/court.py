"""Court steps, the crisis and the end of a case: R5(a), R5(e), R8-R11, A4, A5, A6, A7."""

from __future__ import annotations

from datetime import timedelta

from vangnet import calendar
from vangnet.domain import (
    CaseClosed,
    CrisisMeetingHeld,
    EvictionAnnounced,
    EvictionExecuted,
    EvictionPostponed,
    JudgmentGiven,
    MoratoriumGranted,
    MoratoriumRejected,
    Outcome,
    Receiver,
    Stage,
    SummonsServed,
    TenancyEnded,
)
from vangnet.rules.moves import (
    arm_eviction_outcome,
    close_case,
    invoke_crisis_protocol,
    new_eviction_date,
    require_crisis,
    require_open_arrears,
)
from vangnet.rules.state import (
    AFTERCARE_END,
    CRISIS_MEETING_DEADLINE,
    EVICTION_OUTCOME_DEADLINE,
    MORATORIUM_END,
    MPZO_EVICTED,
    MPZO_EVICTION_ANNOUNCED,
    MPZO_SUMMONS,
)
from vangnet.rules.work import Ignored, Work
from vangnet.vocabulary import Action, Escalation


def on_summons_served(work: Work, e: SummonsServed) -> None:
    s = work.s
    require_open_arrears(work)
    s.summons_served = True
    s.hearing_date = e.hearing_date
    work.notify_mpzo(MPZO_SUMMONS)  # R5(a): always, even in debt help (A5: every summons)


def on_judgment_given(work: Work, e: JudgmentGiven) -> None:
    if not work.s.summons_served:
        raise Ignored("no summons was served")
    work.s.eviction_granted = e.eviction_granted


def on_eviction_announced(work: Work, e: EvictionAnnounced) -> None:
    s = work.s
    if not work.amended:
        require_open_arrears(work)
        s.eviction_date = e.eviction_date
        if s.stage == Stage.crisis:
            work.note(result="eviction date updated; the crisis protocol is already running")
            return
    elif s.stage == Stage.crisis:
        new_eviction_date(work, e.eviction_date)  # A4
        return
    else:
        if s.stage == Stage.aftercare:  # A4: in any open stage; aftercare ends
            work.clear_deadline(AFTERCARE_END)
            work.note(result="aftercare ended: an eviction is announced")
        s.eviction_date = e.eviction_date
    s.stage = Stage.crisis  # R8
    reported = s.stretch_mpzo_reasons if work.amended else s.mpzo_reasons
    if not reported:
        work.notify_mpzo(MPZO_EVICTION_ANNOUNCED)  # R5(e)
    invoke_crisis_protocol(work)
    if work.amended:
        arm_eviction_outcome(work)  # A1


def on_crisis_meeting_held(work: Work, e: CrisisMeetingHeld) -> None:
    s = work.s
    require_crisis(work)
    work.clear_deadline(CRISIS_MEETING_DEADLINE)
    s.crisis_meeting_result = e.result
    s.crisis_meeting_pending = False
    if e.result not in ("moratorium_needed", "no_solution"):
        return
    if s.eviction_date is None or s.eviction_date <= calendar.local_date(work.now):
        # (`result` is the event's own field: under §11 the note has a key of its own)
        key = "moratorium" if work.amended else "result"
        work.note(**{key: "no moratorium requested: the eviction date is not ahead"})
        return
    if "nuisance" in s.concerns:  # R9: "geen sprake van overlast"
        work.escalate(Escalation.moratorium_excluded_nuisance,
                      [Receiver.social_service, Receiver.corporation])
    elif not s.moratorium_requested:
        s.moratorium_requested = True
        s.moratorium_pending = True
        work.act(Action.moratorium_requested, [Receiver.social_service],
                 eviction_date=s.eviction_date)
    elif work.amended:
        work.note(moratorium="a moratorium was already requested")


def on_eviction_postponed(work: Work, e: EvictionPostponed) -> None:
    require_crisis(work)
    if work.amended:
        new_eviction_date(work, e.new_eviction_date)  # A4
    else:
        work.s.eviction_date = e.new_eviction_date


def on_moratorium_granted(work: Work, e: MoratoriumGranted) -> None:
    s = work.s
    require_crisis(work)
    if e.until <= calendar.local_date(work.now):
        raise Ignored("the moratorium's end date is not in the future")
    s.moratorium_until = e.until
    s.moratorium_pending = False
    work.set_deadline(MORATORIUM_END, calendar.start_of_day(e.until + timedelta(days=1)))
    if work.amended:
        arm_eviction_outcome(work)  # no outcome owed for a date the moratorium covers


def on_moratorium_rejected(work: Work, e: MoratoriumRejected) -> None:
    require_crisis(work)
    work.s.moratorium_requested = False
    work.s.moratorium_pending = False


def on_eviction_executed(work: Work, e: EvictionExecuted) -> None:
    s = work.s
    if work.amended and s.moratorium_until is not None and work.today <= s.moratorium_until:
        # A7: recorded and closed as usual, and the breach escalated
        work.escalate(Escalation.moratorium_breached, [Receiver.social_service, Receiver.mpzo],
                      moratorium_until=s.moratorium_until)
    work.notify_mpzo(MPZO_EVICTED)  # R11: shelter
    close_case(work, Outcome.evicted)


def on_tenancy_ended(work: Work, e: TenancyEnded) -> None:
    close_case(work, Outcome.tenancy_ended, why=e.reason)


def on_case_closed(work: Work, e: CaseClosed) -> None:
    close_case(work, Outcome.withdrawn)


# -- deadlines -----------------------------------------------------------------------------------


def crisis_meeting_deadline(work: Work) -> None:
    """R8: the crisis meeting is overdue."""
    if work.s.stage != Stage.crisis or work.s.crisis_meeting_result is not None:
        return
    work.escalate(Escalation.crisis_meeting_overdue,
                  [Receiver.social_service, Receiver.corporation])


def moratorium_end(work: Work) -> None:
    s = work.s
    until = s.moratorium_until
    s.moratorium_until = None
    work.note(result="moratorium ended")
    if not work.amended or s.stage != Stage.crisis:
        return
    # A4: the case stays in crisis; the next date announced gets a crisis response again
    s.crisis_meeting_pending = False
    work.escalate(Escalation.moratorium_ended, [Receiver.social_service, Receiver.corporation],
                  moratorium_until=until)
    if s.eviction_date is not None and until is not None and s.eviction_date > until:
        arm_eviction_outcome(work)
    else:
        work.clear_deadline(EVICTION_OUTCOME_DEADLINE)  # the date the moratorium covered is past


def eviction_outcome_deadline(work: Work) -> None:
    """A1: the eviction date passed and the corporation reported nothing: escalate, re-arm."""
    s = work.s
    if s.stage != Stage.crisis or s.eviction_date is None:
        work.note(result="no eviction date pending")
        return
    work.escalate(Escalation.eviction_outcome_unknown, [Receiver.corporation],
                  eviction_date=s.eviction_date)
    work.set_deadline_in(EVICTION_OUTCOME_DEADLINE, s.policy.eviction_outcome_days)


def aftercare_end(work: Work) -> None:
    """R10: aftercare completed without new arrears -> resolved."""
    work.act(Action.aftercare_completed, [Receiver.social_team])
    close_case(work, Outcome.resolved)
