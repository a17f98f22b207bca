"""Every name of the vocabulary that creates an obligation has a compliance rule in the audit
(issue 8, item 6): a deadline kind, an escalation reason, an MPZO reason or an action added to
vangnet/vocabulary.py without one fails here. Offline."""

from __future__ import annotations

import re

import pytest

from vangnet import vocabulary
from vangnet.audit import compliance, rulebook
from vangnet.vocabulary import Action, Deadline, Escalation, MpzoReason

RULE_ID = re.compile(r"^(R\d+(\([a-e]\))?|A\d+(\([a-d]\))?|§\d+)"
                     r"(; (decisions? \d+(, \d+)*|footnote \d+))?$")


def test_every_deadline_kind_has_its_obligation():
    assert set(rulebook.DEADLINE_OBLIGATIONS) == set(Deadline)


def test_every_escalation_reason_has_its_obligation():
    assert set(rulebook.ESCALATION_OBLIGATIONS) == set(Escalation)
    # one obligation per reason: a verdict per escalation
    assert len(set(rulebook.ESCALATION_OBLIGATIONS.values())) == len(Escalation)


def test_every_mpzo_reason_has_its_obligation():
    assert set(rulebook.MPZO_OBLIGATIONS) == set(MpzoReason)


def test_every_action_has_its_obligations():
    assert set(rulebook.ACTION_OBLIGATIONS) == set(Action)
    assert all(rulebook.ACTION_OBLIGATIONS.values())


def test_every_named_obligation_has_a_rule_and_a_title():
    named = {*rulebook.DEADLINE_OBLIGATIONS.values(), *rulebook.ESCALATION_OBLIGATIONS.values(),
             *rulebook.MPZO_OBLIGATIONS.values(),
             *(k for keys in rulebook.ACTION_OBLIGATIONS.values() for k in keys)}
    assert named <= set(rulebook.OBLIGATIONS)
    assert set(rulebook.OBLIGATIONS) <= named, "an obligation no name leads to"
    for key, (rule, title) in rulebook.OBLIGATIONS.items():
        assert RULE_ID.match(rule), (key, rule)
        assert title and title[0].isupper(), key


def test_the_amendments_obligations_cite_them():
    """§11's names are rated under their amendment (A1-A9), as the catalogue gives it."""
    rule = {key: r for key, (r, _) in rulebook.OBLIGATIONS.items()}
    for reason in (Escalation.case_stalled, Escalation.mpzo_plan_overdue,
                   Escalation.eviction_outcome_unknown, Escalation.moratorium_ended,
                   Escalation.moratorium_breached):
        assert rule[rulebook.ESCALATION_OBLIGATIONS[reason]] == vocabulary.ESCALATIONS[reason].rule
        assert rule[rulebook.ESCALATION_OBLIGATIONS[reason]].startswith("A")
    for kind in (Deadline.case_review_due, Deadline.mpzo_plan_deadline,
                 Deadline.eviction_outcome_deadline):
        assert rule[rulebook.DEADLINE_OBLIGATIONS[kind]] == "A1"
    assert rule["mpzo:help_ended"] == rule["help_ended_collection"] == "A2"
    assert rule["pause_extended"] == "A3"
    assert rule["referral_forwarded"] == "A9(d)"
    assert {rule["signal_partners_told"], rule["mpzo_social_team_told"],
            rule["care_consultation"]} == {"A9(a)", "A9(b)", "A9(c)"}


def test_the_check_lists_only_known_obligations():
    """`_Checker.add` refuses an obligation without its row: a new rule in the check needs one."""
    from datetime import UTC, datetime

    from vangnet.audit.obligations import Open, never

    as_of = datetime(2025, 1, 1, tzinfo=UTC)
    checker = compliance._Checker({"timeline": []}, as_of)
    ob = Open("not_in_the_rulebook", "R1", "x", "vangnet", "t", as_of, as_of, never)
    with pytest.raises(KeyError, match="rulebook.OBLIGATIONS"):
        checker.add(ob)


def test_every_obligation_has_its_dutch_label_in_the_reports():
    """The compliance sheets of the reports (naleving) name each obligation in Dutch."""
    from vangnet.reports.engine import OBLIGATION_LABELS

    keys = {k for k in rulebook.OBLIGATIONS if not k.startswith("mpzo:")}
    assert keys - set(OBLIGATION_LABELS) == set()
