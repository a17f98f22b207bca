"""The audit's verdicts on the obligations RULES.md §11 created (A1-A9), each on a history that
keeps it and one that breaks it (issue 8, item 6).

Histories that keep them: the checked-in histories in tests/histories (replayed with today's
code, as the other audit tests do). Histories that break them: the same timelines with the one
action taken out (what a case looks like when vangnet did not act), and timelines that the rules
*before* §11 write for the same events (`rules_version=RULES_BEFORE_AMENDMENTS` of the pure core,
the code the archived histories in tests/histories/archive/before-no-case-falls-through-v1 ran):
the first case of issue 8, a tenant who drops out of debt help, must come out "missed".
Offline: no server needed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.histories import ARCHIVE, history_files
from tests.rules.helpers import RENT, CaseDriver, ams, midnight, open_with_arrears
from vangnet.audit import CaseReplayer, read_history_files
from vangnet.audit.compliance import Finding, check
from vangnet.audit.references import parse_time
from vangnet.rules import CURRENT_RULES, RULES_BEFORE_AMENDMENTS

BEFORE, AMENDED = RULES_BEFORE_AMENDMENTS, CURRENT_RULES

_replayed: dict[str, tuple[dict[str, Any], datetime]] = {}


async def replayed(name: str) -> tuple[dict[str, Any], datetime]:
    """The replayed state and clock of a checked-in history (once per module)."""
    if name not in _replayed:
        [runs] = read_history_files(history_files(name))
        episode = await CaseReplayer(quiet=True).replay(runs)
        assert episode.deterministic and episode.state
        _replayed[name] = (episode.state, episode.as_of)
    return _replayed[name]


def without(state: dict[str, Any], drop: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The state with the timeline entries `drop` picks taken out: a case where that never
    happened (each test checks that it took out exactly what it meant to)."""
    timeline = [e for e in state["timeline"] if not drop(e)]
    assert len(timeline) < len(state["timeline"]), "nothing was taken out"
    return {**state, "timeline": timeline}


def until(state: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """The state as it was at `moment` (the entries up to it)."""
    return {**state, "closed": False,
            "timeline": [e for e in state["timeline"] if parse_time(e["at"]) <= moment]}


def is_action(kind: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e["category"] == "action" and e["kind"] == kind
                      and (reason is None or (e.get("detail") or {}).get("reason") == reason))


def rated(findings: list[Finding], obligation: str) -> list[str]:
    """The verdicts of an obligation, in the order they fell due."""
    return [f.verdict for f in findings if f.obligation == obligation]


def one(findings: list[Finding], obligation: str) -> Finding:
    [f] = [f for f in findings if f.obligation == obligation]
    return f


def driven(case: CaseDriver, as_of: datetime | None = None) -> list[Finding]:
    """The audit of a case driven through the pure rules core."""
    if as_of is not None:
        case.advance_to(as_of)
    return check(case.state.model_dump(mode="json"), as_of or case.now)


# ---- A2: debt help that ends without result (the first case of issue 8) ----------------------

async def test_a2_debt_help_dropped_out_keeps_the_agreement():
    state, as_of = await replayed("debt_help_dropped_out")
    findings = check(state, as_of)
    assert rated(findings, "help_ended_collection") == ["met"]  # A2: collection resumed
    assert rated(findings, "mpzo:help_ended") == ["met"]  # A2: two months of arrears already
    f = one(findings, "mpzo:help_ended")
    assert f.rule == "A2" and f.title == "MPZO report when help ended at 2 months of arrears"
    assert one(findings, "help_ended_collection").rule == "A2"
    assert "missed" not in {f.verdict for f in findings}


async def test_a2_without_the_actions_the_obligations_are_missed():
    state, as_of = await replayed("debt_help_dropped_out")
    broken = without(state, lambda e: is_action("collection_resumed")(e)
                     or is_action("mpzo_notified", "help_ended")(e))
    findings = check(broken, as_of)
    assert rated(findings, "help_ended_collection") == ["missed"]
    assert rated(findings, "mpzo:help_ended") == ["missed"]


def _dropping_out(rules_version: int, how: str, **fields: Any) -> CaseDriver:
    """Debt help starts, the tenant drops out, a year later the arrears are a year's rent."""
    case = CaseDriver.dordrecht(rules_version=rules_version)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("reminder_sent", at=ams(2025, 3, 15), tenant_objects_to_signal=False)
    case.advance_to(midnight(date(2025, 3, 31)))
    case.send("help_accepted", at=ams(2025, 4, 2, 10))
    case.send("debt_help_started", at=ams(2025, 4, 3, 10), source="sdd")
    case.send(how, at=ams(2025, 5, 6, 10), source="sociale-wijkteams-dordrecht", **fields)
    case.send("arrears_reported", at=ams(2026, 3, 2, 9), arrears_cents=12 * RENT,
              monthly_rent_cents=RENT, arrears_since="2025-03-01")
    return case


DROP_OUTS = [("help_refused", {}), ("no_contact", {}),
             ("debt_help_ended", {"reason": "dropped_out"})]


@pytest.mark.parametrize(("how", "fields"), DROP_OUTS, ids=[d[0] for d in DROP_OUTS])
def test_a2_the_first_rules_let_the_case_fall_through_and_the_audit_says_missed(how, fields):
    """Issue 8's first case: under the rules before §11 the drop-out was recorded as ignored,
    collection stayed paused, no MPZO report; the old audit rated every obligation met."""
    case = _dropping_out(BEFORE, how, **fields)
    dropped = next(e for e in case.state.timeline if e.kind == how)
    assert dropped.category == "ignored"  # what the first rules did with it
    assert case.state.stage.value == "debt_help" and case.state.collection.value == "paused"
    findings = driven(case)
    assert rated(findings, "help_ended_collection") == ["missed"]
    assert rated(findings, "mpzo:help_ended") == ["missed"]
    assert any("ignored by the rules before §11" in f.trigger for f in findings
               if f.obligation == "mpzo:help_ended")
    # the same events under §11: kept
    findings = driven(_dropping_out(AMENDED, how, **fields))
    assert rated(findings, "help_ended_collection") == ["met"]
    assert rated(findings, "mpzo:help_ended") == ["met"]


# ---- A1: the MPZO's plan, the review clock, the eviction's outcome ---------------------------

async def test_a1_mpzo_plan_late_escalated_on_time_and_pending_before_its_day():
    state, as_of = await replayed("debt_help_dropped_out")
    findings = check(state, as_of)
    plan = one(findings, "mpzo_plan")
    assert (plan.verdict, plan.rule, plan.responsible) == ("late", "A1", "mpzo")
    assert plan.late_working_days == 1 and plan.late_days == 2
    assert rated(findings, "mpzo_plan_escalation") == ["met"]
    # before its day: pending
    report = next(parse_time(e["at"]) for e in state["timeline"]
                  if is_action("mpzo_notified")(e))
    early = check(until(state, report), report)
    assert rated(early, "mpzo_plan") == ["pending"]


async def test_a1_mpzo_plan_never_ready_and_not_escalated():
    state, as_of = await replayed("debt_help_dropped_out")
    broken = without(state, lambda e: is_action("escalation_raised", "mpzo_plan_overdue")(e)
                     or e["kind"] == "mpzo_plan_ready")
    findings = check(broken, as_of)
    assert rated(findings, "mpzo_plan") == ["missed"]  # the case closed without it
    assert rated(findings, "mpzo_plan_escalation") == ["missed"]
    # still open ten days after the deadline: both overdue
    due = next(parse_time(e["at"]) for e in broken["timeline"]
               if e["category"] == "deadline" and e["kind"] == "mpzo_plan_deadline")
    findings = check(until(broken, due), due + timedelta(days=10))
    assert rated(findings, "mpzo_plan") == ["overdue"]
    assert rated(findings, "mpzo_plan_escalation") == ["overdue"]


async def test_a1_progress_reported_in_time_keeps_the_review_clock():
    state, as_of = await replayed("debt_help_dropped_out")
    findings = check(state, as_of)
    reviews = [f for f in findings if f.obligation == "case_review"]
    # debt help (the social team reported), then care in spoor 2 (the MPZO's plan)
    assert [(f.verdict, f.responsible) for f in reviews] == [
        ("met", "sociale-wijkteams-dordrecht"), ("met", "mpzo")]
    assert {f.rule for f in reviews} == {"A1"}
    assert "case_review_escalation" not in {f.obligation for f in findings}


async def test_a1_no_progress_for_months_misses_the_review_and_is_escalated():
    """spoor1_resolved: the social team holds the case through an arrangement of 100 days and
    never reports; vangnet escalates (case_stalled) on day 90."""
    state, as_of = await replayed("spoor1_resolved")
    findings = check(state, as_of)
    review = one(findings, "case_review")
    assert review.verdict == "missed"
    assert review.responsible == "sociaal-wijkteam-hendrik-ido-ambacht"
    assert rated(findings, "case_review_escalation") == ["met"]
    broken = without(state, is_action("escalation_raised", "case_stalled"))
    assert rated(check(broken, as_of), "case_review_escalation") == ["missed"]


def test_a1_a_late_progress_report_makes_the_review_late():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("help_accepted", at=ams(2025, 3, 12, 10))
    case.send("debt_help_started", at=ams(2025, 3, 14, 10), source="sdd")
    case.send("progress_reported", at=ams(2025, 5, 1, 10), source="sociale-wijkteams-dordrecht")
    case.send("progress_reported", at=ams(2025, 8, 20, 10), source="sociale-wijkteams-dordrecht")
    findings = driven(case, ams(2025, 9, 1))
    review = one(findings, "case_review")
    # 90 days from 1 May is 30 July: the report of 20 August is 21 days late
    assert (review.verdict, review.late_days, review.due_day) == ("late", 21, date(2025, 7, 30))
    assert rated(findings, "case_review_escalation") == ["met"]


async def test_a1_the_eviction_outcome_late_and_escalated():
    state, as_of = await replayed("aftercare_eviction")
    findings = check(state, as_of)
    assert rated(findings, "eviction_outcome") == ["met", "late"]  # postponed in time; then not
    late = [f for f in findings if f.obligation == "eviction_outcome"][-1]
    assert late.responsible == "fien-wonen" and late.late_days == 6
    assert rated(findings, "eviction_outcome_escalation") == ["met"]
    broken = without(state, is_action("escalation_raised", "eviction_outcome_unknown"))
    assert rated(check(broken, as_of), "eviction_outcome_escalation") == ["missed"]


# ---- A3: the corporation knows the pause as it is --------------------------------------------

async def test_a3_the_extended_pause_is_told():
    state, as_of = await replayed("debt_help_dropped_out")
    assert rated(check(state, as_of), "pause_extended") == ["met"]
    extended = next(e for e in state["timeline"] if is_action("collection_paused")(e)
                    and e["detail"].get("basis") == "debt_help")
    broken = without(state, lambda e: e is extended)
    assert rated(check(broken, as_of), "pause_extended") == ["missed"]


# ---- A4: every eviction date gets a crisis response; the moratorium's end --------------------

async def test_a4_aftercare_and_every_new_date_get_a_crisis_response():
    state, as_of = await replayed("aftercare_eviction")
    findings = check(state, as_of)
    # announced in aftercare, postponed to a new date after the meeting, announced after the
    # moratorium ended: three responses, each with its meeting
    assert rated(findings, "crisis_protocol") == ["met", "met", "met"]
    assert rated(findings, "crisis_meeting") == ["met", "met", "met"]
    assert rated(findings, "moratorium_ended") == ["met"]
    assert one(findings, "moratorium_ended").rule == "A4"
    second = [e for e in state["timeline"] if is_action("crisis_protocol_invoked")(e)][1]
    broken = check(without(state, lambda e: e is second), as_of)
    assert rated(broken, "crisis_protocol") == ["met", "missed", "met"]
    broken = check(without(state, is_action("escalation_raised", "moratorium_ended")), as_of)
    assert rated(broken, "moratorium_ended") == ["missed"]


def _eviction_in_aftercare(rules_version: int) -> CaseDriver:
    case = CaseDriver.dordrecht(rules_version=rules_version)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("payment_received", at=ams(2025, 3, 20, 9), amount_cents=RENT, arrears_cents=0)
    case.send("eviction_announced", at=ams(2025, 4, 7, 9), eviction_date="2025-05-01")
    case.send("tenancy_ended", at=ams(2025, 5, 20, 9), reason="moved_out")
    return case


def test_a4_an_eviction_announced_in_aftercare_before_and_after_the_amendment():
    findings = driven(_eviction_in_aftercare(AMENDED))
    assert rated(findings, "crisis_protocol") == ["met"]
    assert rated(findings, "crisis_meeting") == ["missed"]  # nobody held it
    before = _eviction_in_aftercare(BEFORE)
    assert before.state.timeline[-3].category == "ignored"  # the announcement, under the old rules
    findings = driven(before)
    assert rated(findings, "crisis_protocol") == ["missed"]
    assert rated(findings, "aftercare_completion") == []  # A4: aftercare ended with the crisis


# ---- A5, A6, A7 ----------------------------------------------------------------------------

def _two_summonses(rules_version: int) -> CaseDriver:
    case = CaseDriver.dordrecht(rules_version=rules_version)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("summons_served", at=ams(2025, 3, 20, 9), hearing_date="2025-04-20")
    case.send("summons_served", at=ams(2025, 5, 20, 9), hearing_date="2025-06-20")
    case.send("tenancy_ended", at=ams(2025, 6, 1, 9), reason="moved_out")
    return case


def test_a5_every_summons_is_reported():
    assert rated(driven(_two_summonses(AMENDED)), "mpzo:summons_served") == ["met", "met"]
    assert rated(driven(_two_summonses(BEFORE)), "mpzo:summons_served") == ["met", "missed"]


def _nuisance_after_request(rules_version: int) -> CaseDriver:
    case = CaseDriver.gorinchem(rules_version=rules_version)
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 1, 1), months=3)
    case.send("eviction_announced", at=ams(2025, 4, 1, 9), eviction_date="2025-05-15")
    case.send("crisis_meeting_held", at=ams(2025, 4, 2, 9), source="avres",
              result="moratorium_needed")
    case.send("concern_reported", at=ams(2025, 4, 4, 9), kind="nuisance")
    case.send("moratorium_rejected", at=ams(2025, 4, 10, 9), source="avres")
    case.send("tenancy_ended", at=ams(2025, 4, 20, 9), reason="moved_out")
    return case


def test_a6_nuisance_after_the_moratorium_request_is_escalated():
    findings = driven(_nuisance_after_request(AMENDED))
    assert rated(findings, "moratorium_request") == ["met"]
    assert rated(findings, "moratorium_excluded") == ["met"]
    assert rated(driven(_nuisance_after_request(BEFORE)), "moratorium_excluded") == ["missed"]


async def test_a7_an_eviction_during_a_moratorium_is_escalated():
    state, as_of = await replayed("moratorium_breached")
    findings = check(state, as_of)
    breach = one(findings, "moratorium_breached")
    assert (breach.verdict, breach.rule) == ("met", "A7")
    broken = without(state, is_action("escalation_raised", "moratorium_breached"))
    assert rated(check(broken, as_of), "moratorium_breached") == ["missed"]


# ---- A9: partners are told -----------------------------------------------------------------

async def test_a9_ab_the_social_service_and_social_team_are_told():
    state, as_of = await replayed("debt_help_dropped_out")
    findings = check(state, as_of)
    assert rated(findings, "signal_partners_told") == ["met"]
    assert rated(findings, "mpzo_social_team_told") == ["met"]
    before = CaseDriver.dordrecht(rules_version=BEFORE)
    open_with_arrears(before, at=ams(2025, 3, 10, 9), since=date(2025, 1, 1), months=1)
    before.send("reminder_sent", at=ams(2025, 3, 11), tenant_objects_to_signal=False)
    findings = driven(before, ams(2025, 3, 12))
    assert rated(findings, "signal_partners_told") == ["missed"]  # the municipality only
    assert rated(findings, "mpzo_social_team_told") == ["missed"]  # the MPZO only


def _care_and_referral(rules_version: int) -> CaseDriver:
    case = CaseDriver.dordrecht(rules_version=rules_version)
    case.send("self_referral", at=ams(2025, 3, 3, 9), source="sociale-wijkteams-dordrecht")
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("summons_served", at=ams(2025, 3, 20, 9), hearing_date="2025-04-20")
    case.send("care_started", at=ams(2025, 3, 25, 9), by="bemoeizorg")
    case.send("tenancy_ended", at=ams(2025, 4, 1, 9), reason="moved_out")
    return case


def test_a9_cd_care_started_and_a_referral_by_the_social_team():
    findings = driven(_care_and_referral(AMENDED))
    assert rated(findings, "referral_forwarded") == ["met"]
    assert rated(findings, "care_consultation") == ["met"]
    findings = driven(_care_and_referral(BEFORE))
    assert rated(findings, "referral_forwarded") == ["missed"]
    assert rated(findings, "care_consultation") == ["missed"]


def test_a8_a_repeated_self_referral_moves_no_deadline():
    """Under the first rules a second self-referral was applied and moved the municipality's
    deadline; the audit keeps the one the first put (A8)."""
    findings = {}
    for version in (BEFORE, AMENDED):
        case = CaseDriver.dordrecht(rules_version=version)
        case.send("self_referral", at=ams(2025, 3, 3, 9), source="sdd")
        case.send("self_referral", at=ams(2025, 3, 20, 9), source="sdd")
        case.send("help_accepted", at=ams(2025, 4, 10, 9))
        findings[version] = driven(case)
    for version in (BEFORE, AMENDED):
        response = one(findings[version], "municipality_response")
        assert response.due_day == date(2025, 3, 31) and response.verdict == "late"


# ---- R2, R4, R10: escalations the agreement always asked for ---------------------------------

async def test_r2_r4_the_reminder_and_pause_escalations():
    state, as_of = await replayed("reminder_missing")
    findings = check(state, as_of)
    assert rated(findings, "reminder_escalation") == ["met"]
    assert rated(findings, "pause_escalation") == ["met"]
    broken = check(without(state, lambda e: is_action("escalation_raised")(e)
                           and e["detail"]["reason"] in ("reminder_missing", "pause_expired")),
                   as_of)
    assert rated(broken, "reminder_escalation") == ["missed"]
    assert rated(broken, "pause_escalation") == ["missed"]


def test_r10_a_relapse_is_escalated():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("payment_received", at=ams(2025, 3, 20, 9), amount_cents=RENT, arrears_cents=0)
    case.send("arrears_reported", at=ams(2025, 5, 5, 9), arrears_cents=RENT,
              monthly_rent_cents=RENT, arrears_since="2025-05-01")
    case.send("reminder_sent", at=ams(2025, 5, 8, 9), tenant_objects_to_signal=False)
    state = case.state.model_dump(mode="json")
    assert rated(check(state, case.now), "relapse_escalation") == ["met"]
    broken = without(state, is_action("escalation_raised", "relapse"))
    assert rated(check(broken, case.now), "relapse_escalation") == ["missed"]


# ---- a history recorded before the patch, beside the same scenario after it ------------------

async def test_a_history_from_before_the_patch_is_rated_against_the_amended_agreement():
    """tests/histories/archive/before-no-case-falls-through-v1/spoor1_resolved.json ran under
    the first rules: the signal went to the municipality only, the corporation was not told the
    pause ran on while debt help ran, nobody escalated the social team's silence. The same
    scenario recorded under §11 (tests/histories/spoor1_resolved.json) meets all three."""
    [runs] = read_history_files([ARCHIVE / "before-no-case-falls-through-v1" /
                                 "spoor1_resolved.json"])
    episode = await CaseReplayer(quiet=True).replay(runs)
    assert episode.deterministic and episode.state
    before = check(episode.state, episode.as_of)
    after = check(*(await replayed("spoor1_resolved")))
    for obligation in ("signal_partners_told", "pause_extended", "case_review_escalation"):
        assert rated(before, obligation) == ["missed"], obligation
        assert rated(after, obligation) == ["met"], obligation
    assert rated(before, "case_review") == rated(after, "case_review") == ["missed"]


# ---- every obligation is rated somewhere in these tests ------------------------------------

def _court_steps_and_concerns() -> CaseDriver:
    """R6 (a breached arrangement), R7 (help after a summons), R5(d) (each kind of concern)."""
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    case.send("payment_arrangement_agreed", at=ams(2025, 3, 12, 9), source="sdd",
              monthly_amount_cents=10_000, months=6)
    case.send("arrangement_breached", at=ams(2025, 4, 12, 9))
    case.send("summons_served", at=ams(2025, 4, 20, 9), hearing_date="2025-05-20")
    case.send("help_accepted", at=ams(2025, 4, 22, 9))
    for kind in ("confused_behaviour", "care_and_safety"):
        case.send("concern_reported", at=ams(2025, 4, 25, 9), kind=kind)
    return case


def test_r5d_r6_r7_concerns_breached_arrangement_and_help_after_a_summons():
    findings = driven(_court_steps_and_concerns())
    for obligation in ("collection_resumed", "postponement_consultation",
                       "mpzo:concern_confused_behaviour", "mpzo:concern_care_and_safety"):
        assert rated(findings, obligation) == ["met"], obligation


async def test_every_obligation_of_the_rulebook_is_rated_in_these_tests():
    from vangnet.audit.rulebook import OBLIGATIONS

    seen = set()
    for runs in read_history_files(history_files()):
        episode = await CaseReplayer(quiet=True).replay(runs)
        seen |= {f.obligation for f in check(episode.state, episode.as_of)}
    for case in (_court_steps_and_concerns(), _care_and_referral(AMENDED),
                 _nuisance_after_request(AMENDED), _two_summonses(AMENDED)):
        seen |= {f.obligation for f in driven(case)}
    relapse = CaseDriver.dordrecht()
    open_with_arrears(relapse, at=ams(2025, 3, 10, 9), since=date(2025, 3, 1))
    relapse.send("payment_received", at=ams(2025, 3, 20, 9), amount_cents=RENT, arrears_cents=0)
    relapse.send("arrears_reported", at=ams(2025, 5, 5, 9), arrears_cents=RENT,
                 monthly_rent_cents=RENT, arrears_since="2025-05-01")
    seen |= {f.obligation for f in driven(relapse)}
    assert set(OBLIGATIONS) - seen == set()
