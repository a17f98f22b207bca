"""One vocabulary (vangnet.vocabulary): every action, deadline, escalation reason, MPZO reason and
event has exactly one catalogue row, the rest of vangnet reads from it, and the texts it makes
keep RULES.md §11 A11 (the moratorium of art. 287b Fw, the case's own periods, the tenant's right
to object)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.actions import _text
from vangnet import texts, vocabulary
from vangnet.audit import references
from vangnet.domain import ACTIONS, EVENT_MODELS, ActionRequest, Receiver
from vangnet.policy import Policy
from vangnet.rules import DEADLINES
from vangnet.vocabulary import (
    Action,
    Deadline,
    Escalation,
    MpzoReason,
)

CATALOGUES = [
    (Action, vocabulary.ACTIONS),
    (Deadline, vocabulary.DEADLINES),
    (Escalation, vocabulary.ESCALATIONS),
    (MpzoReason, vocabulary.MPZO_REASONS),
]
POLICY = set(Policy.model_fields)
# What an action activity adds to the template values besides the policy and the detail.
COMPUTED = {"case_id", "corporation", "municipality", "channel", "protocol", "reason_part",
            "reason_message", "until_text", "youth_note", "outcome_part", "ground_text",
            "referred_by_text", "casusregie", "casusregie_party", "joint_youth_team",
            "youth_care_requested"}
# The detail fields the rules core puts on each action (vangnet/rules).
DETAIL = {"eviction_date", "arrears_months", "until", "basis", "outcome", "why", "ground",
          "referred_by", "moratorium_until"}


@pytest.mark.parametrize(("names", "rows"), CATALOGUES, ids=lambda x: getattr(x, "__name__", ""))
def test_every_name_has_exactly_its_row(names, rows):
    assert list(rows) == list(names)  # one row each, in the enum's order
    for name, row in rows.items():
        assert row.rule and row.summary, name
        assert row.title, f"{name} has no compliance title for the audit"
        if names in (Action, Escalation):
            assert row.message, f"{name} has no message"


def test_the_new_names_of_section_11_are_there():
    assert "referral_forwarded" in ACTIONS
    assert {"case_stalled", "mpzo_plan_overdue", "eviction_outcome_unknown", "moratorium_ended",
            "moratorium_breached"} <= set(Escalation)
    assert "help_ended" in set(MpzoReason)
    assert {"progress_reported", "debt_help_ended"} <= set(EVENT_MODELS)


def test_the_enums_keep_the_public_strings():
    for names, _ in CATALOGUES:
        for member in names:
            assert member.value == member.name  # histories, inboxes and queries hold these


def test_the_other_lists_are_views_of_the_catalogue():
    assert ACTIONS == tuple(a.value for a in Action)
    assert DEADLINES == tuple(d.value for d in Deadline)
    assert set(vocabulary.EVENTS) == set(EVENT_MODELS)
    assert texts.ACTION == {a.value: r.summary for a, r in vocabulary.ACTIONS.items()}
    assert texts.DEADLINE == {d.value: r.summary for d, r in vocabulary.DEADLINES.items()}
    assert texts.DEADLINE_NAME == {d.value: r.message for d, r in vocabulary.DEADLINES.items()}
    assert texts.EVENT == {e: r.summary for e, r in vocabulary.EVENTS.items()}
    for reason in (*Escalation, *MpzoReason):
        assert texts.REASON[reason.value] == vocabulary.reason_row(reason.value).summary
    # the audit's rule references
    assert references.ACTION_RULES == {a.value: r.rule for a, r in vocabulary.ACTIONS.items()}
    assert references.DEADLINE_RULES == {d.value: r.rule for d, r in vocabulary.DEADLINES.items()}
    assert references.ESCALATION_RULES == {
        e.value: r.rule for e, r in vocabulary.ESCALATIONS.items()}
    assert references.MPZO_REASON_RULES == {
        m.value: r.rule for m, r in vocabulary.MPZO_REASONS.items()}
    assert references.EVENT_RULES == {e: r.rule for e, r in vocabulary.EVENTS.items()}


@pytest.mark.parametrize(("names", "rows"), CATALOGUES, ids=lambda x: getattr(x, "__name__", ""))
def test_templates_name_only_what_is_there(names, rows):
    for name, row in rows.items():
        for template in (row.summary, row.message, row.title, *row.by_role.values()):
            unknown = vocabulary.fields(template) - POLICY - COMPUTED - DETAIL
            assert not unknown, (name, unknown)


def test_every_deadline_and_reason_summary_renders_with_the_policy():
    policy = Policy().model_dump()
    for kind in DEADLINES:
        assert "{" not in texts.deadline_summary(kind, policy) and "…" not in (
            texts.deadline_summary(kind, policy))
    assert texts.reason_text("arrears_months", Policy(mpzo_after_months=3).model_dump()) == (
        "huurachterstand van 3 maanden zonder hulp")
    assert texts.action_summary("mpzo_notified", "help_ended", policy) == (
        "Melding MPZO — hulp beëindigd bij 2 maanden achterstand")
    assert texts.deadline_summary("unknown_kind", policy) == "unknown_kind"


# -- A11: texts ----------------------------------------------------------------------------------

AT = datetime(2025, 4, 2, 8, tzinfo=UTC)


def message(action: str, *, reason: str | None = None, detail: dict | None = None,
            policy: Policy | None = None, role: Receiver | None = None, **extra) -> str:
    req = ActionRequest(action=action, case_id="case-woonbron-X1", idempotency_key="k",
                        corporation="woonbron", municipality="dordrecht",
                        receivers=[role or Receiver.corporation], reason=reason,
                        detail=detail or {}, at=AT, policy=(policy or Policy()).model_dump())
    return _text(action, req, extra, role)


def test_a11_the_moratorium_message_names_art_287b():
    text = message("moratorium_requested", detail={"eviction_date": "2025-05-01"})
    assert "moratorium (art. 287b Faillissementswet)" in text
    assert "afkoelingsperiode" not in text and "Wgs" not in text
    assert "2025-05-01" in text


def test_a11_the_tenant_notice_says_the_tenant_may_object_and_states_the_case_periods():
    text = message("tenant_notice_sent",
                   policy=Policy(early_signal_after_days=35, mpzo_after_months=3))
    assert "bezwaar" in text and "Vroegsignalering" in text
    assert "35 dagen" in text and "3 maanden" in text


@pytest.mark.parametrize(("reason", "policy", "expected"), [
    ("case_stalled", Policy(case_review_days=60), "60 dagen geen voortgang"),
    ("mpzo_plan_overdue", Policy(mpzo_plan_working_days=7), "binnen 7 werkdagen"),
    ("eviction_outcome_unknown", Policy(eviction_outcome_days=4), "4 dagen voorbij"),
    ("pause_expired", Policy(collection_pause_days=21), "incassopauze van 21 dagen"),
    ("crisis_meeting_overdue", Policy(crisis_response_working_days=5), "binnen 5 werkdagen"),
    ("reminder_missing", Policy(early_signal_after_days=40), "bij 40 dagen achterstand"),
])
def test_a11_escalations_state_the_case_periods(reason, policy, expected):
    text = message("escalation_raised", reason=reason, policy=policy)
    assert text.startswith("Escalatie voor case-woonbron-X1 (reden: ")
    assert expected in text


def test_a11_the_mpzo_reason_states_the_case_threshold():
    text = message("mpzo_notified", reason="arrears_months", policy=Policy(mpzo_after_months=3),
                   role=Receiver.mpzo)
    assert text == ("Melding aan het MPZO voor case-woonbron-X1 (reden: huurachterstand van 3 "
                    "maanden zonder hulp).")


def test_a3_the_pause_message_states_the_pause_as_it_is():
    dated = message("collection_paused", detail={"until": "2025-05-02T08:00:00+00:00",
                                                 "basis": "help_accepted"},
                    policy=Policy(collection_pause_days=30))
    assert dated == ("Incasso en deurwaarder stilzetten voor case-woonbron-X1: tot 2025-05-02 "
                     "(30 dagen na het accepteren van hulp).")
    assert message("collection_paused", detail={"until": None, "basis": "debt_help"}).endswith(
        ": zolang de schuldhulp loopt.")
    assert message("collection_paused", detail={"until": None, "basis": "arrangement"}).endswith(
        ": zolang de betalingsregeling loopt.")
    # a request of a case that started before A3 (its `until` was a phrase)
    assert message("collection_paused",
                   detail={"until": "until an arrangement is agreed or breached"}).endswith(
        ": zolang de schuldhulp loopt.")


def test_a9_partners_read_what_concerns_them():
    signal = message("early_signal_submitted", role=Receiver.social_team, channel="RIS")
    assert "ter informatie voor het sociaal team" in signal and "dordrecht" in signal
    assert message("early_signal_submitted", role=Receiver.municipality, channel="RIS") == (
        "Vroegsignalering: huurachterstand gemeld voor case-woonbron-X1 (via RIS).")
    spoor2 = message("mpzo_notified", reason="concern_nuisance", role=Receiver.social_team)
    # A9(b), codes only: that the case is in spoor 2, not why
    assert spoor2 == ("Casus case-woonbron-X1 gaat naar spoor 2 (zorg en ondersteuning): het "
                      "MPZO is ingeschakeld.")
    forwarded = message("referral_forwarded", detail={"referred_by": "social_team"},
                        role=Receiver.social_service)
    assert "via het sociaal team" in forwarded and "schuldhulp" in forwarded
    care = message("postponement_consultation_requested", detail={"ground": "care_started"})
    assert "zorg gestart" in care


def test_every_action_message_renders_completely():
    detail = {"eviction_date": "2025-05-01", "until": None, "basis": "debt_help",
              "outcome": "resolved", "referred_by": "corporation", "ground": "care_started",
              "arrears_months": 1, "moratorium_until": "2025-09-30"}
    for action in Action:
        for role in Receiver:
            text = message(action.value, reason="case_stalled", detail=detail, role=role,
                           channel="RIS", protocol="Crisisprotocol")
            assert "{" not in text and "…" not in text, (action, role, text)
            assert "case-woonbron-X1" in text
