"""Which obligation of the compliance check (vangnet.audit.compliance) rates each name of the
vocabulary (vangnet.vocabulary): every deadline kind, escalation reason, MPZO reason and action
that creates an obligation has one, with its rule (R1-R12, decisions, amendments A1-A9) and its
title (the catalogue's compliance title where the name has one obligation). A name added to the
vocabulary without a row here fails tests/audit/test_compliance_rules.py.
"""

from __future__ import annotations

from vangnet import vocabulary
from vangnet.vocabulary import Action, Deadline, Escalation, MpzoReason

_A, _D, _E = vocabulary.ACTIONS, vocabulary.DEADLINES, vocabulary.ESCALATIONS


def _row(row: vocabulary.Row) -> tuple[str, str]:
    return row.rule, row.title


# Every obligation the check can list: key -> (rule, title template). Titles are the catalogue's
# (vangnet.vocabulary) where a name has one obligation; `{...}` are policy values.
OBLIGATIONS: dict[str, tuple[str, str]] = {
    "tenant_notice": _row(_A[Action.tenant_notice_sent]),
    "early_signal": _row(_A[Action.early_signal_submitted]),
    "reminder_escalation": _row(_E[Escalation.reminder_missing]),
    "signal_partners_told": ("A9(a)", "Early signal also to the social service and social team"),
    "municipality_response": ("R5(b); decision 2", "Municipality's response within "
                              "{help_plan_deadline_days} days of the {what}"),
    "referral_forwarded": _row(_A[Action.referral_forwarded]),
    "collection_paused": _row(_A[Action.collection_paused]),
    "pause_extended": ("A3", "Corporation told the pause runs on while debt help or an "
                       "arrangement runs"),
    "casusregie": _row(_A[Action.casusregie_assigned]),
    "pause_expiry": _row(_D[Deadline.collection_pause_end]),
    "pause_escalation": _row(_E[Escalation.pause_expired]),
    "collection_resumed": ("R6", "Collection resumed after a breached arrangement"),
    "help_ended_collection": ("A2", "Collection resumed when help ended without result"),
    "case_review": _row(_D[Deadline.case_review_due]),
    "case_review_escalation": _row(_E[Escalation.case_stalled]),
    "mpzo_social_team_told": ("A9(b)", "Social team told the case moved to spoor 2"),
    "mpzo_plan": _row(_D[Deadline.mpzo_plan_deadline]),
    "mpzo_plan_escalation": _row(_E[Escalation.mpzo_plan_overdue]),
    "postponement_consultation": ("R7", "Consultation on postponing the eviction "
                                  "(help after a summons)"),
    "care_consultation": ("A9(c)", "Consultation on postponing the eviction (care started)"),
    "crisis_protocol": _row(_A[Action.crisis_protocol_invoked]),
    "crisis_meeting": _row(_D[Deadline.crisis_meeting_deadline]),
    "crisis_escalation": _row(_E[Escalation.crisis_meeting_overdue]),
    "moratorium_request": _row(_A[Action.moratorium_requested]),
    "moratorium_excluded": _row(_E[Escalation.moratorium_excluded_nuisance]),
    "moratorium_ended": _row(_E[Escalation.moratorium_ended]),
    "moratorium_breached": _row(_E[Escalation.moratorium_breached]),
    "eviction_outcome": _row(_D[Deadline.eviction_outcome_deadline]),
    "eviction_outcome_escalation": _row(_E[Escalation.eviction_outcome_unknown]),
    "aftercare_start": _row(_A[Action.aftercare_started]),
    "aftercare_completion": _row(_A[Action.aftercare_completed]),
    "relapse_escalation": _row(_E[Escalation.relapse]),
    "close": _row(_A[Action.case_closed]),
    **{f"mpzo:{r}": _row(row) for r, row in vocabulary.MPZO_REASONS.items()},
}

# The obligation(s) each name of the vocabulary is rated by.
DEADLINE_OBLIGATIONS: dict[Deadline, str] = {
    Deadline.early_signal_due: "early_signal",
    Deadline.help_plan_deadline: "municipality_response",
    Deadline.collection_pause_end: "pause_expiry",
    Deadline.mpzo_months_threshold: "mpzo:arrears_months",
    Deadline.crisis_meeting_deadline: "crisis_meeting",
    Deadline.moratorium_end: "moratorium_ended",
    Deadline.aftercare_end: "aftercare_completion",
    Deadline.case_review_due: "case_review",
    Deadline.mpzo_plan_deadline: "mpzo_plan",
    Deadline.eviction_outcome_deadline: "eviction_outcome",
}
ESCALATION_OBLIGATIONS: dict[Escalation, str] = {
    Escalation.reminder_missing: "reminder_escalation",
    Escalation.pause_expired: "pause_escalation",
    Escalation.crisis_meeting_overdue: "crisis_escalation",
    Escalation.moratorium_excluded_nuisance: "moratorium_excluded",
    Escalation.relapse: "relapse_escalation",
    Escalation.case_stalled: "case_review_escalation",
    Escalation.mpzo_plan_overdue: "mpzo_plan_escalation",
    Escalation.eviction_outcome_unknown: "eviction_outcome_escalation",
    Escalation.moratorium_ended: "moratorium_ended",
    Escalation.moratorium_breached: "moratorium_breached",
}
MPZO_OBLIGATIONS: dict[MpzoReason, str] = {r: f"mpzo:{r}" for r in MpzoReason}
ACTION_OBLIGATIONS: dict[Action, tuple[str, ...]] = {
    Action.tenant_notice_sent: ("tenant_notice",),
    Action.early_signal_submitted: ("early_signal", "signal_partners_told"),
    Action.casusregie_assigned: ("casusregie",),
    Action.collection_paused: ("collection_paused", "pause_extended"),
    Action.collection_resumed: ("pause_expiry", "collection_resumed", "help_ended_collection"),
    Action.mpzo_notified: (*MPZO_OBLIGATIONS.values(), "mpzo_social_team_told"),
    Action.postponement_consultation_requested: ("postponement_consultation",
                                                 "care_consultation"),
    Action.crisis_protocol_invoked: ("crisis_protocol",),
    Action.moratorium_requested: ("moratorium_request",),
    Action.escalation_raised: tuple(ESCALATION_OBLIGATIONS.values()),
    Action.aftercare_started: ("aftercare_start",),
    Action.aftercare_completed: ("aftercare_completion",),
    Action.case_closed: ("close",),
    Action.referral_forwarded: ("referral_forwarded",),
}


def escalation(reason: Escalation) -> tuple[str, str, str, str]:
    """(key, rule, title, reason) of the escalation vangnet owes when an obligation runs out."""
    key = ESCALATION_OBLIGATIONS[reason]
    rule, title = OBLIGATIONS[key]
    return key, rule, title, str(reason)
