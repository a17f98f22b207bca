"""Help in spoor 1: self-referral, the municipality's response, help and debt help, the collection
pause and arrangements: R2-R7, A2, A3, A8, A9(d)."""

from __future__ import annotations

from datetime import timedelta

from vangnet.domain import (
    ArrangementBreached,
    Collection,
    DebtHelpEnded,
    DebtHelpStarted,
    EventBase,
    HelpAccepted,
    PartyKind,
    PaymentArrangementAgreed,
    Receiver,
    SelfReferral,
    Stage,
)
from vangnet.rules.moves import (
    arm_arrears_clocks,
    end_help,
    open_case,
    pause_collection,
    require_open_arrears,
    resume_collection,
)
from vangnet.rules.state import (
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    MPZO_MONTHS_THRESHOLD,
    MPZO_NOT_TAKEN_UP,
)
from vangnet.rules.work import Ignored, Work
from vangnet.vocabulary import Action, Escalation

_HELP_DEADLINES = (HELP_PLAN_DEADLINE, MPZO_MONTHS_THRESHOLD, EARLY_SIGNAL_DUE)


def on_self_referral(work: Work, e: SelfReferral) -> None:
    s = work.s
    if not s.opened:
        open_case(work, Stage.arrears)
    elif s.help_accepted or s.stage == Stage.aftercare:
        raise Ignored("help is already in place for this case")
    elif work.amended and HELP_PLAN_DEADLINE in s.deadlines:  # A8
        raise Ignored("help is already awaited: a repeated self-referral moves no deadline")
    s.self_referral = True
    s.awaiting_reminder = False
    work.clear_deadline(EARLY_SIGNAL_DUE)  # R2: a self-referral skips the signal
    work.set_deadline_in(HELP_PLAN_DEADLINE, s.policy.help_plan_deadline_days)
    if work.amended:  # A9(d): a referral via the corporation or the social team is forwarded
        kind = s.context.parties.get(e.source) if s.context else None
        if kind in (PartyKind.corporation, PartyKind.social_team):
            work.act(Action.referral_forwarded, [Receiver.social_service], referred_by=kind.value)


def on_not_taken_up(work: Work, e: EventBase) -> None:
    """signal_bounced, no_contact, help_refused: R5(b); after help was accepted, A2."""
    s = work.s
    require_open_arrears(work)
    if work.amended and s.help_accepted and e.type in ("no_contact", "help_refused"):  # type: ignore[attr-defined]
        end_help(work)  # A2
        return
    if s.early_signal_at is None and not s.self_referral:
        raise Ignored("no early signal was submitted and the tenant did not refer themselves")
    if s.help_accepted:
        raise Ignored("help was already accepted")
    work.clear_deadline(HELP_PLAN_DEADLINE)
    work.notify_mpzo(MPZO_NOT_TAKEN_UP)


def on_debt_help_ended(work: Work, e: DebtHelpEnded) -> None:
    """A2: debt help ended without result."""
    require_open_arrears(work)
    if not (work.s.help_accepted or work.s.debt_help_started):
        raise Ignored("no help is running for this case")
    end_help(work)


def on_help(work: Work, e: HelpAccepted | DebtHelpStarted) -> None:
    """help_accepted and debt_help_started: R3, or R7 after a summons."""
    s = work.s
    require_open_arrears(work)
    starting_debt_help = e.type == "debt_help_started"
    if s.summons_served or s.stage == Stage.crisis:  # R7
        s.help_accepted = True
        s.awaiting_reminder = False  # help is in place: no early signal any more (as in R3)
        s.debt_help_started = s.debt_help_started or starting_debt_help
        work.clear_deadline(*_HELP_DEADLINES)
        if starting_debt_help and s.collection == Collection.paused:
            # R3: debt help extends a pause already running (R7 starts no new one). Without
            # this the pause timer later found debt help started and left collection paused
            # for good, still showing the past end date.
            pause_collection(work, None, "debt_help")
        if not s.consultation_requested:
            s.consultation_requested = True
            ground = {"ground": "help_after_summons"} if work.amended else {}
            work.act(Action.postponement_consultation_requested,
                     [Receiver.corporation, Receiver.social_service], **ground)
        else:
            work.note(result="postponement consultation already requested")
        return
    if starting_debt_help and s.debt_help_started:
        raise Ignored("debt help has already started")
    if not starting_debt_help and s.help_accepted:
        raise Ignored("help was already accepted")
    newly = not s.help_accepted
    s.help_accepted = True
    s.awaiting_reminder = False
    work.clear_deadline(*_HELP_DEADLINES)
    if starting_debt_help:
        s.debt_help_started = True
        pause_collection(work, None, "debt_help")  # until an arrangement is agreed or breached
    elif s.collection == Collection.active:
        pause_collection(work, work.now + timedelta(days=s.policy.collection_pause_days), "help_accepted")
    if newly:
        work.act(Action.casusregie_assigned, [Receiver.social_team])
    if s.stage in (Stage.arrears, Stage.early_signal, Stage.care):
        s.stage = Stage.debt_help


def on_arrangement_agreed(work: Work, e: PaymentArrangementAgreed) -> None:
    s = work.s
    require_open_arrears(work)
    s.arrangement = {"monthly_amount_cents": e.monthly_amount_cents, "months": e.months}
    s.help_accepted = True
    s.awaiting_reminder = False
    work.clear_deadline(*_HELP_DEADLINES)
    if s.stage == Stage.crisis:
        work.note(result="recorded; the crisis stays until the eviction is off the table")
        if s.collection == Collection.paused:
            # R3: collection stays paused while the arrangement runs. Without this a running
            # 30-day pause found the arrangement at its end and left collection paused for
            # good, still showing the past end date.
            pause_collection(work, None, "arrangement")
        return
    pause_collection(work, None, "arrangement")
    s.stage = Stage.arrangement


def on_arrangement_breached(work: Work, e: ArrangementBreached) -> None:
    s = work.s
    if s.arrangement is None:
        raise Ignored("no payment arrangement is running")
    s.arrangement = None
    s.help_accepted = False
    s.debt_help_started = False
    if s.collection == Collection.paused:
        resume_collection(work)
    if s.stage == Stage.arrangement:
        s.stage = Stage.arrears
    arm_arrears_clocks(work)  # R6: the months rule applies again


# -- deadlines -----------------------------------------------------------------------------------


def help_plan_deadline(work: Work) -> None:
    """R5(b) and decision 3: no help accepted within the deadline = not taken up."""
    if work.s.help_accepted:
        work.note(result="help accepted in time")
        return
    work.notify_mpzo(MPZO_NOT_TAKEN_UP)


def collection_pause_end(work: Work) -> None:
    """R4."""
    s = work.s
    if s.collection != Collection.paused or s.debt_help_started or s.arrangement is not None:
        work.note(result="pause no longer running")
        return
    resume_collection(work)
    work.escalate(Escalation.pause_expired, [Receiver.social_team, Receiver.corporation])
    s.help_accepted = False
    if s.stage == Stage.debt_help:
        s.stage = Stage.arrears
    arm_arrears_clocks(work)

