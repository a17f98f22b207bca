"""One home for the agreement's names: actions, deadlines, escalation reasons, MPZO reasons and
events, each with one catalogue row.

A row holds what every other part of vangnet says about the name:

- `rule`: where RULES.md asks for it (R1-R12, decision n, footnote n; amendment A1-A12 for the
  names §11 added) -- the audit cites it;
- `summary`: Dutch, as the Temporal UI shows it (an activity's or timer's summary; for a reason,
  its wording in "(reden: ...)"; for an event, its name on the timeline);
- `message`: Dutch, the template of the message a party receives (actions; for escalation
  reasons, what the receiver must do; for deadlines, the name of the period that passed);
- `title`: English, the obligation's title in the audit's compliance check.

Templates are `str.format` templates. They may name the case's policy values
(`{collection_pause_days}`, RULES §11 A11: a text that states a period uses the case's value),
`{case_id}`, the fields of the action's detail, and the few values the action activity adds
(`{channel}`, `{protocol}`, ...); `render` fills them and never fails on a missing one.

The string values of the enums are public (they are in histories, timelines, inboxes and
search queries): never rename one. Adding a name means adding its row; the check at the bottom
(and tests/rules/test_vocabulary.py) fails otherwise.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """RULES §5 and §11: what a case does, one activity each (named exactly like this)."""

    tenant_notice_sent = "tenant_notice_sent"
    early_signal_submitted = "early_signal_submitted"
    casusregie_assigned = "casusregie_assigned"
    collection_paused = "collection_paused"
    collection_resumed = "collection_resumed"
    mpzo_notified = "mpzo_notified"
    postponement_consultation_requested = "postponement_consultation_requested"
    crisis_protocol_invoked = "crisis_protocol_invoked"
    moratorium_requested = "moratorium_requested"
    escalation_raised = "escalation_raised"
    aftercare_started = "aftercare_started"
    aftercare_completed = "aftercare_completed"
    case_closed = "case_closed"
    referral_forwarded = "referral_forwarded"  # A9(d)


class Deadline(StrEnum):
    """The case's timers: `kind` on the timeline and in `status.next_deadline`.

    The order is the tie-break between deadlines due at the same moment (earliest first): new
    names go at the end, so cases that ran before them fire in the order they always did."""

    early_signal_due = "early_signal_due"
    help_plan_deadline = "help_plan_deadline"
    collection_pause_end = "collection_pause_end"
    mpzo_months_threshold = "mpzo_months_threshold"
    crisis_meeting_deadline = "crisis_meeting_deadline"
    moratorium_end = "moratorium_end"
    aftercare_end = "aftercare_end"
    case_review_due = "case_review_due"  # A1 case_review_days
    mpzo_plan_deadline = "mpzo_plan_deadline"  # A1 mpzo_plan_working_days
    eviction_outcome_deadline = "eviction_outcome_deadline"  # A1 eviction_outcome_days


class Escalation(StrEnum):
    """The `reason` of `escalation_raised`."""

    reminder_missing = "reminder_missing"
    pause_expired = "pause_expired"
    crisis_meeting_overdue = "crisis_meeting_overdue"
    moratorium_excluded_nuisance = "moratorium_excluded_nuisance"
    relapse = "relapse"
    case_stalled = "case_stalled"  # A1
    mpzo_plan_overdue = "mpzo_plan_overdue"  # A1
    eviction_outcome_unknown = "eviction_outcome_unknown"  # A1
    moratorium_ended = "moratorium_ended"  # A4
    moratorium_breached = "moratorium_breached"  # A7


class MpzoReason(StrEnum):
    """The `reason` of `mpzo_notified` (R5; once per stretch, A5)."""

    summons_served = "summons_served"
    signal_not_taken_up = "signal_not_taken_up"
    arrears_months = "arrears_months"
    eviction_announced = "eviction_announced"
    evicted = "evicted"
    concern_nuisance = "concern_nuisance"
    concern_confused_behaviour = "concern_confused_behaviour"
    concern_care_and_safety = "concern_care_and_safety"
    help_ended = "help_ended"  # A2

    @classmethod
    def for_concern(cls, kind: str) -> MpzoReason:
        return cls(f"concern_{kind}")


@dataclass(frozen=True)
class Row:
    rule: str
    summary: str
    message: str = ""
    title: str = ""
    # Messages for particular receiving roles, where they read differently (A9: partners told).
    by_role: Mapping[str, str] = field(default_factory=dict)
    # Roles whose message carries no reason and no detail, only the codes (A9(b)).
    codes_only: frozenset[str] = frozenset()


ACTIONS: dict[Action, Row] = {
    Action.tenant_notice_sent: Row(
        "R1", "Brief aan huurder: achterstand en zorgen worden gemeld",
        "Huurachterstand geregistreerd voor {case_id}: stuur de huurder de brief dat "
        "achterstand en zorgen gemeld worden: bij {early_signal_after_days} dagen achterstand aan "
        "de gemeente (Vroegsignalering), bij {mpzo_after_months} maanden zonder hulp aan het MPZO. "
        "Zeg in de brief dat de huurder bezwaar kan maken tegen de Vroegsignalering; geef een "
        "bezwaar door bij de aanmaning.",
        "Letter to the tenant when arrears are reported"),
    Action.early_signal_submitted: Row(
        "R2; decision 1", "Vroegsignalering naar gemeente",
        "Vroegsignalering: huurachterstand gemeld voor {case_id} (via {channel}).",
        "Early signal at {early_signal_after_days} days of arrears",
        by_role={
            "social_service": "Vroegsignalering voor {case_id}: de gemeente {municipality} heeft "
                              "het signaal ontvangen; ter informatie voor de sociale dienst.",
            "social_team": "Vroegsignalering voor {case_id}: de gemeente {municipality} heeft "
                           "het signaal ontvangen; ter informatie voor het sociaal team.",
        }),
    Action.casusregie_assigned: Row(
        "R3; footnote 2", "Casusregie naar sociaal team",
        "Casusregie voor {case_id} ligt bij het sociaal team.{youth_note} Meld minstens elke "
        "{case_review_days} dagen de voortgang.",
        "Case ownership to the social team after help was accepted"),
    Action.collection_paused: Row(
        "R3; decision 4", "Incasso en deurwaarder stilgezet",
        "Incasso en deurwaarder stilzetten voor {case_id}: {until_text}.",
        "Collection paused after help was accepted"),
    Action.collection_resumed: Row(
        "R4", "Incasso hervat",
        "Incasso hervatten voor {case_id}: de incassopauze is voorbij.",
        "Collection resumed when the pause ends"),
    Action.mpzo_notified: Row(
        "R5", "Melding MPZO",
        "Melding aan het MPZO voor {case_id}{reason_part}.",
        "MPZO report",
        by_role={
            "social_team": "Casus {case_id} gaat naar spoor 2 (zorg en ondersteuning): het MPZO "
                           "is ingeschakeld.",
        },
        codes_only=frozenset({"social_team"})),
    Action.postponement_consultation_requested: Row(
        "R7", "Overleg uitstel ontruiming (corporatie en sociale dienst)",
        "Overleg gevraagd tussen corporatie en sociale dienst over uitstel van de ontruiming "
        "voor {case_id}: {ground_text}.",
        "Consultation on postponing the eviction (help or care after a summons)"),
    Action.crisis_protocol_invoked: Row(
        "R8", "Crisisprotocol sociale dienst gestart",
        "{protocol} gestart voor {case_id}: ontruiming aangezegd op {eviction_date}, houd het "
        "crisisoverleg binnen {crisis_response_working_days} werkdagen.",
        "Crisis protocol the day the eviction is announced"),
    Action.moratorium_requested: Row(
        "R9; decision 5", "Verzoek moratorium (art. 287b Fw)",
        "Vraag de rechter om een moratorium (art. 287b Faillissementswet) voor {case_id}: de "
        "ontruiming op {eviction_date} wordt dan opgeschort.",
        "Moratorium requested after the crisis meeting"),
    Action.escalation_raised: Row(
        "§5", "Escalatie",
        "Escalatie voor {case_id}{reason_part}: {reason_message}",
        "Escalation"),
    Action.aftercare_started: Row(
        "R10; decision 8", "Nazorg gestart",
        "Nazorg gestart voor {case_id}: de huurachterstand is ingelopen; de nazorg duurt "
        "{aftercare_months} maanden.",
        "Aftercare when the arrears are cleared"),
    Action.aftercare_completed: Row(
        "R10", "Nazorg afgerond",
        "Nazorg afgerond voor {case_id}.",
        "Aftercare completed and the case resolved after {aftercare_months} months"),
    Action.case_closed: Row(
        "R11", "Casus gesloten",
        "Casus {case_id} is gesloten{outcome_part}.",
        "Case closed and the parties told"),
    Action.referral_forwarded: Row(
        "A9(d)", "Zelfmelding doorgestuurd naar sociale dienst",
        "De huurder van {case_id} heeft zich zelf gemeld voor hulp ({referred_by_text}); neem "
        "contact op over schuldhulp.",
        "Self-referral forwarded to the social service"),
}

DEADLINES: dict[Deadline, Row] = {
    Deadline.early_signal_due: Row(
        "R2; decision 1", "Termijn Vroegsignalering: {early_signal_after_days} dagen achterstand",
        "termijn Vroegsignalering", "Early signal at {early_signal_after_days} days of arrears"),
    Deadline.help_plan_deadline: Row(
        "R5(b); decisions 2, 3", "Termijn hulpplan gemeente: {help_plan_deadline_days} dagen",
        "termijn hulpplan gemeente",
        "Municipality's response within {help_plan_deadline_days} days"),
    Deadline.collection_pause_end: Row(
        "R4; decision 4", "Einde incassopauze: {collection_pause_days} dagen",
        "einde incassopauze", "Collection resumed when the pause ran out without debt help"),
    Deadline.mpzo_months_threshold: Row(
        "R5(c); decision 1", "Grens MPZO: {mpzo_after_months} maanden achterstand",
        "grens MPZO (maanden achterstand)",
        "MPZO report at {mpzo_after_months} months of arrears without help"),
    Deadline.crisis_meeting_deadline: Row(
        "R8; decision 6", "Termijn crisisoverleg: {crisis_response_working_days} werkdagen",
        "termijn crisisoverleg", "Crisis meeting within {crisis_response_working_days} working days"),
    Deadline.moratorium_end: Row(
        "R9; decision 5", "Einde moratorium", "einde moratorium",
        "Escalation when a granted moratorium ends"),
    Deadline.aftercare_end: Row(
        "R10", "Einde nazorg: {aftercare_months} maanden", "einde nazorg",
        "Aftercare completed and the case resolved after {aftercare_months} months"),
    Deadline.case_review_due: Row(
        "A1", "Voortgang melden: elke {case_review_days} dagen", "termijn voortgangsmelding",
        "Progress reported at least every {case_review_days} days"),
    Deadline.mpzo_plan_deadline: Row(
        "A1", "Termijn plan MPZO: {mpzo_plan_working_days} werkdagen", "termijn plan MPZO",
        "MPZO plan within {mpzo_plan_working_days} working days of the report"),
    Deadline.eviction_outcome_deadline: Row(
        "A1", "Uitkomst ontruiming melden: {eviction_outcome_days} dagen na de datum",
        "termijn uitkomst ontruiming",
        "Eviction outcome reported within {eviction_outcome_days} days of the eviction date"),
}

ESCALATIONS: dict[Escalation, Row] = {
    Escalation.reminder_missing: Row(
        "R2", "geen aanmaning geregistreerd",
        "bij {early_signal_after_days} dagen achterstand is geen aanmaning geregistreerd; meld "
        "de aanmaning (reminder_sent), dan gaat de Vroegsignalering.",
        "Escalation when no reminder was recorded at the threshold"),
    Escalation.pause_expired: Row(
        "R4; decision 4", "incassopauze verlopen zonder schuldhulp",
        "de incassopauze van {collection_pause_days} dagen is voorbij zonder dat de schuldhulp "
        "is gestart; de incasso loopt weer.",
        "Escalation when the pause ran out without debt help"),
    Escalation.crisis_meeting_overdue: Row(
        "R8; decision 6", "crisisoverleg niet op tijd gehouden",
        "het crisisoverleg is niet binnen {crisis_response_working_days} werkdagen na de "
        "aanzegging gehouden; houd het nu.",
        "Escalation when the crisis meeting is overdue"),
    Escalation.moratorium_excluded_nuisance: Row(
        "R9", "geen moratorium: er is overlast gemeld",
        "er is overlast gemeld, dus geen moratorium (art. 287b Fw); zoek een andere oplossing.",
        "Escalation instead of a moratorium (nuisance reported)"),
    Escalation.relapse: Row(
        "R10", "nieuwe achterstand tijdens nazorg",
        "er is een nieuwe huurachterstand tijdens de nazorg; de regels gelden opnieuw vanaf de "
        "achterstand.",
        "Escalation on new arrears during aftercare"),
    Escalation.case_stalled: Row(
        "A1", "geen voortgang gemeld",
        "er is {case_review_days} dagen geen voortgang gemeld; meld de voortgang "
        "(progress_reported) of het einde van de hulp (debt_help_ended).",
        "Escalation when no progress is reported for {case_review_days} days"),
    Escalation.mpzo_plan_overdue: Row(
        "A1", "plan MPZO niet op tijd",
        "het MPZO heeft binnen {mpzo_plan_working_days} werkdagen na de melding geen plan "
        "gemeld (mpzo_plan_ready).",
        "Escalation when the MPZO plan is overdue"),
    Escalation.eviction_outcome_unknown: Row(
        "A1", "uitkomst ontruiming onbekend",
        "de ontruimingsdatum is {eviction_outcome_days} dagen voorbij; meld of de ontruiming is "
        "uitgevoerd of uitgesteld, of dat de huur is geëindigd of betaald.",
        "Escalation when the eviction's outcome is not reported"),
    Escalation.moratorium_ended: Row(
        "A4", "moratorium afgelopen",
        "het moratorium is afgelopen en de casus blijft in crisis; een nieuwe "
        "ontruimingsdatum krijgt opnieuw een crisisaanpak.",
        "Escalation when a granted moratorium ends"),
    Escalation.moratorium_breached: Row(
        "A7", "ontruimd tijdens moratorium",
        "de woning is ontruimd terwijl het moratorium (art. 287b Fw) nog liep.",
        "Escalation when an eviction is executed during a moratorium"),
}

MPZO_REASONS: dict[MpzoReason, Row] = {
    MpzoReason.summons_served: Row(
        "R5(a)", "dagvaarding betekend", title="MPZO report after a summons"),
    MpzoReason.signal_not_taken_up: Row(
        "R5(b); decision 3", "signaal niet in behandeling genomen",
        title="MPZO report when the signal was not taken up"),
    MpzoReason.arrears_months: Row(
        "R5(c); decision 1", "huurachterstand van {mpzo_after_months} maanden zonder hulp",
        title="MPZO report at {mpzo_after_months} months of arrears without help"),
    MpzoReason.eviction_announced: Row(
        "R5(e)", "ontruiming aangezegd", title="MPZO report when an eviction is announced"),
    MpzoReason.evicted: Row(
        "R11", "ontruiming uitgevoerd, opvang nodig",
        title="MPZO report after an eviction (shelter)"),
    MpzoReason.concern_nuisance: Row(
        "R5(d)", "zorgen: overlast", title="MPZO report after a concern (nuisance)"),
    MpzoReason.concern_confused_behaviour: Row(
        "R5(d)", "zorgen: onbegrepen gedrag",
        title="MPZO report after a concern (confused behaviour)"),
    MpzoReason.concern_care_and_safety: Row(
        "R5(d)", "zorgen: zorg en veiligheid",
        title="MPZO report after a concern (care and safety)"),
    MpzoReason.help_ended: Row(
        "A2", "hulp beëindigd bij {mpzo_after_months} maanden achterstand",
        title="MPZO report when help ended at {mpzo_after_months} months of arrears"),
}

# Events (RULES §4 and §11): the rule an event follows and its Dutch name.
EVENTS: dict[str, Row] = {
    "arrears_reported": Row("R1", "huurachterstand gemeld"),
    "payment_received": Row("R2", "betaling ontvangen"),
    "reminder_sent": Row("R2", "aanmaning verstuurd"),
    "self_referral": Row("R2, R3", "huurder meldt zich zelf"),
    "signal_bounced": Row("R5(b)", "signaal afgeketst"),
    "no_contact": Row("R5(b)", "geen contact met huurder"),
    "help_accepted": Row("R3", "hulp geaccepteerd"),
    "help_refused": Row("R5(b)", "hulp geweigerd"),
    "debt_help_started": Row("R3", "schuldhulp gestart"),
    "debt_help_ended": Row("A2", "schuldhulp beëindigd"),
    "progress_reported": Row("A1", "voortgang gemeld"),
    "payment_arrangement_agreed": Row("R3", "betalingsregeling afgesproken"),
    "arrangement_breached": Row("R6", "betalingsregeling niet nagekomen"),
    "concern_reported": Row("R5(d)", "zorgen gemeld"),
    "mpzo_plan_ready": Row("R5", "plan MPZO gereed"),
    "care_started": Row("R5", "zorg gestart"),
    "summons_served": Row("R5(a)", "dagvaarding betekend"),
    "judgment_given": Row("§4", "vonnis gewezen"),
    "eviction_announced": Row("R8", "ontruiming aangezegd"),
    "crisis_meeting_held": Row("R8, R9", "crisisoverleg gehouden"),
    "eviction_postponed": Row("R9", "ontruiming uitgesteld"),
    "moratorium_granted": Row("R9; decision 5", "moratorium toegekend"),
    "moratorium_rejected": Row("R9", "moratorium afgewezen"),
    "eviction_executed": Row("R11", "ontruiming uitgevoerd"),
    "tenancy_ended": Row("R11", "huurovereenkomst beëindigd"),
    "case_closed": Row("R11", "casus gesloten door beheerder"),
}


def reason_row(reason: str | None) -> Row | None:
    """The row of an escalation or MPZO reason code (None for anything else)."""
    if reason is None:
        return None
    if reason in Escalation.__members__:
        return ESCALATIONS[Escalation(reason)]
    if reason in MpzoReason.__members__:
        return MPZO_REASONS[MpzoReason(reason)]
    return None


class _Values(dict[str, Any]):
    """Template values; a missing one renders as an ellipsis rather than failing a delivery."""

    def __missing__(self, key: str) -> str:
        return "…"


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill a catalogue template (never raises on a missing or extra value)."""
    return string.Formatter().vformat(template, (), _Values(values))


def fields(template: str) -> set[str]:
    """The names a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


assert set(ACTIONS) == set(Action), "every action needs its catalogue row"
assert set(DEADLINES) == set(Deadline), "every deadline needs its catalogue row"
assert set(ESCALATIONS) == set(Escalation), "every escalation reason needs its catalogue row"
assert set(MPZO_REASONS) == set(MpzoReason), "every MPZO reason needs its catalogue row"
