"""The arrears and the early signal: R1, R2, R5(c), R10 (payment and relapse), A5."""

from __future__ import annotations

from vangnet.domain import ArrearsReported, PaymentReceived, Receiver, ReminderSent, Stage
from vangnet.rules.moves import (
    arm_arrears_clocks,
    block_early_signal,
    open_case,
    require_open_arrears,
    start_aftercare,
    start_new_stretch,
    submit_early_signal,
)
from vangnet.rules.state import AFTERCARE_END, MPZO_ARREARS_MONTHS
from vangnet.rules.work import Ignored, Work
from vangnet.vocabulary import Action, Escalation


def on_arrears_reported(work: Work, e: ArrearsReported) -> None:
    s = work.s
    relapse = s.opened and s.stage == Stage.aftercare
    if not s.opened:
        open_case(work, Stage.arrears)  # R1
    s.arrears_cents = e.arrears_cents
    s.monthly_rent_cents = e.monthly_rent_cents
    s.arrears_since = e.arrears_since
    if not s.tenant_notified:  # R1 (also when a case opened otherwise first learns of arrears)
        s.tenant_notified = True
        work.act(Action.tenant_notice_sent, [Receiver.corporation])
    if relapse:  # R10: new arrears during aftercare
        work.clear_deadline(AFTERCARE_END)
        work.escalate(Escalation.relapse, [Receiver.social_team, Receiver.corporation])
        s.stage = Stage.arrears
        s.early_signal_at = None
        s.early_signal_blocked = False
        s.self_referral = False
        s.help_accepted = False
        s.debt_help_started = False
        s.arrangement = None
        # The court steps belonged to the cleared arrears; a new stretch starts without them.
        s.summons_served = False
        s.hearing_date = None
        s.eviction_granted = None
        s.consultation_requested = False
        s.moratorium_requested = False
        s.crisis_meeting_result = None
        # The earlier reminder (and objection) counts: the signal clock runs again, and when it
        # is due the signal goes, or an objection is recorded on the timeline as
        # early_signal_blocked (R2), rather than the signal being dropped silently here.
        if work.amended:
            start_new_stretch(work)  # A5
    arm_arrears_clocks(work)


def on_payment_received(work: Work, e: PaymentReceived) -> None:
    s = work.s
    if s.stage == Stage.aftercare:
        if e.arrears_cents > 0:
            raise Ignored("case is in aftercare; report new arrears with arrears_reported")
        return
    s.arrears_cents = e.arrears_cents
    if e.arrears_cents == 0:
        start_aftercare(work)
    else:
        arm_arrears_clocks(work)


def on_reminder_sent(work: Work, e: ReminderSent) -> None:
    s = work.s
    require_open_arrears(work)
    s.reminder_sent = True
    s.tenant_objected = e.tenant_objects_to_signal
    if s.awaiting_reminder:  # R2: the signal goes as soon as the reminder arrives
        if s.tenant_objected:
            block_early_signal(work)
        else:
            submit_early_signal(work)


# -- deadlines -----------------------------------------------------------------------------------


def early_signal_due(work: Work) -> None:
    """R2."""
    s = work.s
    if s.arrears_cents <= 0 or s.early_signal_at or s.help_accepted or s.self_referral:
        work.note(result="no signal needed")
    elif not s.reminder_sent:
        s.awaiting_reminder = True
        work.escalate(Escalation.reminder_missing, [Receiver.corporation])
    elif s.tenant_objected:
        block_early_signal(work)
    else:
        submit_early_signal(work)


def mpzo_months_threshold(work: Work) -> None:
    """R5(c) by age."""
    s = work.s
    if s.help_accepted or s.arrears_cents <= 0:
        work.note(result="help accepted or arrears cleared")
        return
    work.notify_mpzo(MPZO_ARREARS_MONTHS)
