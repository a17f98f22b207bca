"""Texts that Dutch professionals read: activity and timer summaries in the Temporal UI, and the
first line of each inbox message. Plain Dutch, no personal data (cases are known by case id)."""

from __future__ import annotations

import re
from typing import Any

from vangnet.vocabulary import ACTIONS, DEADLINES, ESCALATIONS, EVENTS, MPZO_REASONS, render

# A reason or outcome code of the rules core (`summons_served`, `withdrawn`): the only reasons
# these texts show. Free text (an event's own `reason`, a reason that echoes input) never goes
# into a summary or the current details (issue 12): it stays in the encrypted case state.
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# Views of the one catalogue (vangnet.vocabulary), by name.
ACTION = {str(a): row.summary for a, row in ACTIONS.items()}

REASON = {
    # MPZO reasons and escalations: their wording (may name a policy value, A11)
    **{str(r): row.summary for r, row in MPZO_REASONS.items()},
    **{str(r): row.summary for r, row in ESCALATIONS.items()},
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

DEADLINE = {str(d): row.summary for d, row in DEADLINES.items()}

EVENT = {name: row.summary for name, row in EVENTS.items()}

DEADLINE_NAME = {str(d): row.message for d, row in DEADLINES.items()}

TRACK = {"spoor_1": "1 (hulp bij schulden)", "spoor_2": "2 (zorg en ondersteuning)"}

COLLECTION = {"active": "actief", "paused": "stilgezet"}

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


def reason_text(reason: str, policy: dict[str, Any] | None = None) -> str:
    """A reason code in Dutch, with the case's policy values where it names one (A11)."""
    return render(REASON.get(reason, reason.replace("_", " ")), policy or {})


def action_summary(action: str, reason: str | None = None,
                   policy: dict[str, Any] | None = None) -> str:
    text = ACTION.get(action, action)
    if reason and _CODE.match(reason):
        text = f"{text} — {reason_text(reason, policy)}"
    return text[:200]


def deadline_summary(kind: str, policy: dict[str, Any]) -> str:
    if kind not in DEADLINE:
        return kind
    return render(DEADLINE[kind], policy)[:200]


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


def timeline_line(category: str, kind: str, detail: dict[str, Any],
                  policy: dict[str, Any] | None = None) -> str:
    """One timeline entry in Dutch, for the UI's current details: names and codes only. Why an
    event was ignored is not shown (the reason may echo what was sent: an unknown event name, a
    field name, a source); it is in the case's timeline, which only the codec server decrypts."""
    if category == "action":
        return action_summary(kind, detail.get("reason"), policy)
    if category == "deadline":
        return f"verstreken: {DEADLINE_NAME.get(kind, 'termijn')}"
    return EVENT.get(kind, "onbekende melding")
