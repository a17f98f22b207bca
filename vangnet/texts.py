"""Texts that Dutch professionals read: activity and timer summaries in the Temporal UI, and the
first line of each inbox message. Plain Dutch, no personal data (cases are known by case id)."""

from __future__ import annotations

import re
from typing import Any

# A reason or outcome code of the rules core (`summons_served`, `withdrawn`): the only reasons
# these texts show. Free text (an event's own `reason`, a reason that echoes input) never goes
# into a summary or the current details (issue 12): it stays in the encrypted case state.
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

ACTION = {
    "tenant_notice_sent": "Brief aan huurder: achterstand en zorgen worden gemeld",
    "early_signal_submitted": "Vroegsignalering naar gemeente",
    "casusregie_assigned": "Casusregie naar sociaal team",
    "collection_paused": "Incasso en deurwaarder stilgezet",
    "collection_resumed": "Incasso hervat",
    "mpzo_notified": "Melding MPZO",
    "postponement_consultation_requested": "Overleg uitstel ontruiming (corporatie en sociale dienst)",
    "crisis_protocol_invoked": "Crisisprotocol sociale dienst gestart",
    "moratorium_requested": "Verzoek moratorium (art. 287b Fw)",
    "escalation_raised": "Escalatie",
    "aftercare_started": "Nazorg gestart",
    "aftercare_completed": "Nazorg afgerond",
    "case_closed": "Casus gesloten",
}

REASON = {
    # MPZO reasons
    "summons_served": "dagvaarding betekend",
    "signal_not_taken_up": "signaal niet in behandeling genomen",
    "arrears_months": "huurachterstand van twee maanden zonder hulp",
    "eviction_announced": "ontruiming aangezegd",
    "evicted": "ontruiming uitgevoerd, opvang nodig",
    "concern_nuisance": "zorgen: overlast",
    "concern_confused_behaviour": "zorgen: onbegrepen gedrag",
    "concern_care_and_safety": "zorgen: zorg en veiligheid",
    # escalations
    "reminder_missing": "geen aanmaning geregistreerd",
    "pause_expired": "incassopauze verlopen zonder schuldhulp",
    "crisis_meeting_overdue": "crisisoverleg niet op tijd gehouden",
    "moratorium_excluded_nuisance": "geen moratorium: er is overlast gemeld",
    "relapse": "nieuwe achterstand tijdens nazorg",
    # outcomes (the reason of case_closed)
    "resolved": "opgelost",
    "tenancy_ended": "huurovereenkomst beëindigd",
    "withdrawn": "ingetrokken",
}

OUTCOME = {
    "resolved": "opgelost",
    "evicted": "ontruimd",
    "tenancy_ended": "huurovereenkomst beëindigd",
    "withdrawn": "ingetrokken",
}

DEADLINE = {
    "early_signal_due": "Termijn Vroegsignalering: {early_signal_after_days} dagen achterstand",
    "help_plan_deadline": "Termijn hulpplan gemeente: {help_plan_deadline_days} dagen",
    "collection_pause_end": "Einde incassopauze: {collection_pause_days} dagen",
    "mpzo_months_threshold": "Grens MPZO: {mpzo_after_months} maanden achterstand",
    "crisis_meeting_deadline": "Termijn crisisoverleg: {crisis_response_working_days} werkdagen",
    "moratorium_end": "Einde moratorium",
    "aftercare_end": "Einde nazorg: {aftercare_months} maanden",
}

EVENT = {
    "arrears_reported": "huurachterstand gemeld",
    "payment_received": "betaling ontvangen",
    "reminder_sent": "aanmaning verstuurd",
    "self_referral": "huurder meldt zich zelf",
    "signal_bounced": "signaal afgeketst",
    "no_contact": "geen contact met huurder",
    "help_accepted": "hulp geaccepteerd",
    "help_refused": "hulp geweigerd",
    "debt_help_started": "schuldhulp gestart",
    "payment_arrangement_agreed": "betalingsregeling afgesproken",
    "arrangement_breached": "betalingsregeling niet nagekomen",
    "concern_reported": "zorgen gemeld",
    "mpzo_plan_ready": "plan MPZO gereed",
    "care_started": "zorg gestart",
    "summons_served": "dagvaarding betekend",
    "judgment_given": "vonnis gewezen",
    "eviction_announced": "ontruiming aangezegd",
    "crisis_meeting_held": "crisisoverleg gehouden",
    "eviction_postponed": "ontruiming uitgesteld",
    "moratorium_granted": "moratorium toegekend",
    "moratorium_rejected": "moratorium afgewezen",
    "eviction_executed": "ontruiming uitgevoerd",
    "tenancy_ended": "huurovereenkomst beëindigd",
    "case_closed": "casus gesloten door beheerder",
}

DEADLINE_NAME = {
    "early_signal_due": "termijn Vroegsignalering",
    "help_plan_deadline": "termijn hulpplan gemeente",
    "collection_pause_end": "einde incassopauze",
    "mpzo_months_threshold": "grens MPZO (maanden achterstand)",
    "crisis_meeting_deadline": "termijn crisisoverleg",
    "moratorium_end": "einde moratorium",
    "aftercare_end": "einde nazorg",
}

CATEGORY = {"event": "melding", "action": "actie", "deadline": "termijn", "ignored": "genegeerd"}

MONTH_MARK = "Maandstand achterstand bijwerken"

STAGE = {
    "arrears": "huurachterstand",
    "early_signal": "vroegsignalering",
    "debt_help": "schuldhulp",
    "arrangement": "betalingsregeling",
    "aftercare": "nazorg",
    "closed": "gesloten",
    "care": "zorg (MPZO)",
    "crisis": "crisis (ontruiming aangezegd)",
}


def action_summary(action: str, reason: str | None = None) -> str:
    text = ACTION.get(action, action)
    if reason and _CODE.match(reason):
        text = f"{text} — {REASON.get(reason, reason.replace('_', ' '))}"
    return text[:200]


def deadline_summary(kind: str, policy: dict[str, Any]) -> str:
    try:
        return DEADLINE[kind].format(**policy)[:200]
    except (KeyError, IndexError):
        return kind


def case_summary(corporation: str, municipality: str, tenancy_ref: str) -> str:
    """The case's static summary in the Temporal UI (set at start; ≤ 200 bytes, no personal data:
    only the codes of RULES §1 and the corporation's contract reference)."""
    text = f"{corporation} · {municipality} · contract {tenancy_ref}"
    return text.encode()[:200].decode(errors="ignore")


def case_details() -> str:
    """The case's static details in the Temporal UI (Markdown, the same for every case)."""
    return (
        "Casus onder de **Werkafspraken preventie huisuitzetting Drechtsteden en Alblasserwaard**."
        "\n\n- Spoor 1: hulp bij schulden (Vroegsignalering, schuldhulp, betalingsregeling)"
        "\n- Spoor 2: zorg en ondersteuning (melding MPZO)"
        "\n- Crisis: ontruiming aangezegd (crisisprotocol, crisisoverleg, moratorium)"
        "\n\nDe actuele stand van de casus staat bij *Current Details*; de regels in RULES.md."
    )


def euro(cents: int) -> str:
    """€ 1.800,00 — amounts as Dutch professionals write them."""
    whole, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}€ {whole:,}".replace(",", ".") + f",{rest:02d}"


def timeline_line(category: str, kind: str, detail: dict[str, Any]) -> str:
    """One timeline entry in Dutch, for the UI's current details: names and codes only. Why an
    event was ignored is not shown (the reason may echo what was sent: an unknown event name, a
    field name, a source); it is in the case's timeline, which only the codec server decrypts."""
    if category == "action":
        return action_summary(kind, detail.get("reason"))
    if category == "deadline":
        return f"verstreken: {DEADLINE_NAME.get(kind, 'termijn')}"
    if category == "ignored":
        return EVENT.get(kind, "onbekende melding")
    return EVENT.get(kind, "onbekende melding")
