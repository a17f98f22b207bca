"""The compliance check: which obligations of the agreement (RULES.md §6, §8, and the amendments
of §11, A1-A9) applied to a case, and for each whether it was met, late (by how much), missed,
overdue (case still open) or pending (not due yet).

Input is what the case itself recorded: its timeline and the policy it ran under (both from the
replayed state), read against RULES.md and `vangnet.calendar`. Obligations are counted from when
things *happened* (`occurred_at`, where a party gave it), not from when vangnet heard of them: a
summons reported nine days after it was served makes a MPZO report nine days late, and the note
says who reported late. Days are Dutch calendar days; the crisis meeting and the MPZO's plan
count working days.

Verdicts (see vangnet.audit.obligations): an obligation done on or before its due day is `met`,
after it `late`. One never done is `missed` when the case closed or moved on after the due day
(for example the arrears were paid while the crisis meeting was still owed), and one of vangnet
itself also when the case took later steps after the due day without it (vangnet acts in the
step in which a thing falls due, or never); `overdue` while the case is open and the day has
passed, `pending` before it. An obligation that stopped applying before its due day is not listed.

Every case is rated against the agreement as amended (§11), also one that ran under the rules
before it: that is how a case that fell through shows up. Such a case recorded as `ignored` some
events that §11 gives a meaning (`AMENDED_FACTS`, e.g. a tenant dropping out of debt help, A2);
the check reads them as having happened. A10-A12 (policy bounds, texts, bad input) create no
obligation with a date; A8 only keeps the municipality's deadline where the first self-referral
put it. Which obligation rates each name of the vocabulary: vangnet.audit.rulebook
(tests/audit/test_compliance_rules.py fails when a name has none). The case's clocks that arm
the obligations: vangnet.audit.clocks.

Not rated (yet): the second and later escalations of a clock that keeps running out (A1 re-arms
it; one escalation per missed period is rated), and A1's fallback review outside the review
stages (a case that owes nothing else).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from vangnet import calendar
from vangnet.audit.clocks import CaseClocks
from vangnet.audit.obligations import (
    LATE,
    MET,
    MISSED,
    OVERDUE,
    PENDING,
    VANGNET,
    VERDICTS,
    Entry,
    Finding,
    action,
    describe,
    events,
    stops,
)
from vangnet.audit.references import parse_time
from vangnet.audit.rulebook import (
    ACTION_OBLIGATIONS,
    DEADLINE_OBLIGATIONS,
    ESCALATION_OBLIGATIONS,
    MPZO_OBLIGATIONS,
    OBLIGATIONS,
    escalation,
)
from vangnet.vocabulary import Escalation

__all__ = ["ACTION_OBLIGATIONS", "DEADLINE_OBLIGATIONS", "ESCALATION_OBLIGATIONS", "LATE", "MET",
           "MISSED", "MPZO_OBLIGATIONS", "OBLIGATIONS", "OVERDUE", "PENDING", "VANGNET",
           "VERDICTS", "Finding", "check", "tally"]


# Events the rules before §11 recorded as `ignored` (no rule for them) that §11 gives a meaning:
# kind -> a part of the reason they were ignored with.
AMENDED_FACTS = {
    "help_refused": "help was already accepted",  # A2
    "no_contact": "help was already accepted",  # A2
    "debt_help_ended": "is not known to the rules",  # A2
    "progress_reported": "is not known to the rules",  # A1
    "eviction_announced": "the case is in aftercare",  # A4
}


class _Checker(CaseClocks):
    """The walk along the timeline: what each entry meets, ends or arms."""

    # -- the walk ------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """What falls due by `now` without an entry of its own: an escalation owed because an
        obligation ran out (A1, `Open.escalation`), the end of a granted moratorium (A4)."""
        for ob in [*self.open, *([self.review] if self.review else [])]:
            if ob.escalation and ob.due_at <= now and ob.escalated_for != ob.due_at:
                ob.escalated_for = ob.due_at
                key, _, _, reason = ob.escalation
                self.add(self.new(key, VANGNET, f"{ob.key} not done by its due day",
                                  ob.due_at, ob.due_at, action("escalation_raised", reason),
                                  stops(actions=("aftercare_started", "case_closed"))),
                         once=False)
        if self.moratorium_until and now >= calendar.start_of_day(
                self.moratorium_until + timedelta(days=1)):
            until, self.moratorium_until = self.moratorium_until, None
            self.meeting_pending = False  # A4: the next date gets a crisis response again
            if self.eviction_date and self.eviction_date > until:
                self.arm_outcome(calendar.start_of_day(until + timedelta(days=1)))

    def feed(self, e: Entry) -> None:
        self.advance(e.at)
        self.last_at = e.at
        met: set[str] = set()  # one entry meets one obligation of a kind (the earliest)
        for ob in list(self.open):
            done = ob.fulfil(e) if ob.key not in met else None
            if done is not None:
                met.add(ob.key)
                self.open.remove(ob)
                late = calendar.local_date(done) > ob.due_day
                self.findings.append(ob.finding(LATE if late else MET, done))
            elif ob.cancel(e):
                self.open.remove(ob)
                if calendar.local_date(e.at) > ob.due_day:
                    ob.notes.append(f"no longer owed after {e.kind} on "
                                    f"{calendar.local_date(e.at).isoformat()}")
                    self.findings.append(ob.finding(MISSED, None))
        if e.category == "event":
            self.on_event(e)
            self.holder_report(e)
        elif e.category == "action":
            self.on_action(e)

    def on_event(self, e: Entry) -> None:
        d = e.detail
        match e.kind:
            case "arrears_reported":
                relapse = self.aftercare
                update = self.arrears_since is not None and not relapse
                self.aftercare = False
                self.at_once("tenant_notice", e, action("tenant_notice_sent"))
                self.arrears_since = date.fromisoformat(d["arrears_since"])
                self.arrears_cents = int(d.get("arrears_cents", 0))
                self.rent = int(d.get("monthly_rent_cents", 0))
                if self.stage is None:
                    self.set_stage("arrears", e.at)
                if relapse:  # R10, A5: a new stretch
                    self.at_once("relapse_escalation", e,
                                 action("escalation_raised", "relapse"), once=False)
                    self.set_stage("arrears", e.at)
                    self.help = self.self_referral = self.signal_done = False
                    self.summons = self.consultation = self.care_consultation = False
                    self.moratorium_requested = False
                    self.mpzo_reasons = set()
                    self.keys.discard("early_signal")
                self.arm_early_signal(e)
                # an update of open arrears owes nothing before it arrived
                self.arm_months(e, rearm=update)
            case "payment_received":
                self.arrears_cents = int(d.get("arrears_cents", 0))
                if self.arrears_cents == 0 and not self.aftercare:
                    self.at_once("aftercare_start", e, action("aftercare_started"), once=False)
            case "reminder_sent":
                self.reminded = True
                self.objected = bool(d.get("tenant_objects_to_signal"))
            case "self_referral":
                if self.stage is None:
                    self.set_stage("arrears", e.at)
                if self.parties.get(str(d.get("source"))) in ("corporation", "social_team"):
                    self.at_once("referral_forwarded", e, action("referral_forwarded"),
                                 once=False)  # A9(d)
                self.self_referral = True
                self.arm_response(e, "self-referral")
            case "signal_bounced" | "no_contact" | "help_refused":
                if e.kind != "signal_bounced" and self.help:
                    self.end_help(e)  # A2
                    return
                ob = self.find("mpzo:signal_not_taken_up")
                if ob is not None:
                    if e.happened < ob.due_at:
                        ob.due_at, ob.trigger_at, ob.trigger = e.happened, e.happened, describe(e)
                        self._late_report_note(e, ob)
                else:
                    self.mpzo("signal_not_taken_up", e)
            case "debt_help_ended":
                if self.help:
                    self.end_help(e)  # A2
            case "help_accepted" | "debt_help_started" | "payment_arrangement_agreed":
                self.on_help(e)
            case "arrangement_breached":
                self.help = False
                if self.paused:
                    self.at_once("collection_resumed", e, action("collection_resumed"),
                                 once=False)
                if self.stage == "arrangement":
                    self.set_stage("arrears", e.at)
                self.arm_months(e, rearm=True)
            case "concern_reported":
                if self.stage is None:
                    self.set_stage("care", e.at)
                nuisance_now = d.get("kind") == "nuisance" and not self.nuisance
                if d.get("kind") == "nuisance":
                    self.nuisance = True
                self.mpzo(f"concern_{d.get('kind')}", e)
                if nuisance_now and self.moratorium_pending:  # A6
                    self.at_once("moratorium_excluded", e,
                                 action("escalation_raised", "moratorium_excluded_nuisance"),
                                 once=False)
            case "care_started":
                if (self.summons or self.eviction_date) and not self.care_consultation:
                    self.care_consultation = True  # A9(c)
                    self.at_once("care_consultation", e,
                                 action("postponement_consultation_requested"), once=False)
            case "summons_served":
                self.summons = True
                self.mpzo("summons_served", e)
            case "eviction_announced":
                day = date.fromisoformat(d["eviction_date"])
                if self.crisis:
                    self.new_date(e, day)  # A4
                    return
                self.eviction_date = day
                self.crisis = True
                self.aftercare = False  # A4: in any open stage, aftercare included
                self.set_stage("crisis", e.at)
                if not self.mpzo_reasons:
                    self.mpzo("eviction_announced", e)
                self.crisis_response(e)
                self.arm_outcome(e.at)
            case "crisis_meeting_held":
                self.meeting_pending = False
                if d.get("result") not in ("moratorium_needed", "no_solution"):
                    return
                if self.eviction_date is None or self.eviction_date <= calendar.local_date(e.at):
                    return
                if self.nuisance:
                    self.at_once("moratorium_excluded", e,
                                 action("escalation_raised", "moratorium_excluded_nuisance"),
                                 once=False)
                elif not self.moratorium_requested:
                    self.at_once("moratorium_request", e, action("moratorium_requested"),
                                 once=False)
            case "eviction_postponed":
                new = d.get("new_eviction_date")
                self.new_date(e, date.fromisoformat(new) if new else None)  # A4
            case "moratorium_granted":
                self.moratorium_pending = False
                until = d.get("until")
                if self.crisis and until:
                    self.moratorium_until = date.fromisoformat(until)
                    end = calendar.start_of_day(self.moratorium_until + timedelta(days=1))
                    earlier = self.find("moratorium_ended")
                    if earlier:  # a later grant replaces the earlier one: one end, one escalation
                        self.open.remove(earlier)
                    self.add(self.new(  # A4
                        "moratorium_ended", VANGNET,
                        f"moratorium granted until {until}", e.at, end,
                        action("escalation_raised", "moratorium_ended"),
                        stops(events=("eviction_executed",),
                              actions=("aftercare_started", "case_closed"))), once=False)
                    ob = self.find("eviction_outcome")
                    if ob and self.eviction_date and self.eviction_date <= self.moratorium_until:
                        self.open.remove(ob)  # no outcome owed for a date the moratorium covers
            case "moratorium_rejected":
                self.moratorium_requested = self.moratorium_pending = False
            case "eviction_executed":
                if self.moratorium_until and calendar.local_date(e.at) <= self.moratorium_until:
                    self.at_once("moratorium_breached", e,  # A7
                                 action("escalation_raised", "moratorium_breached"), once=False)
                self.mpzo("evicted", e)
                self.at_once("close", e, action("case_closed"))
            case "tenancy_ended" | "case_closed":
                self.at_once("close", e, action("case_closed"))

    def on_help(self, e: Entry) -> None:
        """help_accepted, debt_help_started, payment_arrangement_agreed: R3, R7, A3."""
        first = not self.help
        self.help = True
        if (self.paused and self.pause_dated and e.kind != "help_accepted"
                and not self.find("pause_extended")):
            self.at_once("pause_extended", e, action("collection_paused"), once=False)  # A3
        if e.kind != "payment_arrangement_agreed" and (self.summons or self.crisis):
            if not self.consultation:
                self.consultation = True
                self.at_once("postponement_consultation", e,
                             action("postponement_consultation_requested"))
            return
        if e.kind == "payment_arrangement_agreed":
            if self.crisis:
                return
            self.set_stage("arrangement", e.at)
        elif self.stage in ("arrears", "early_signal", "care"):
            self.set_stage("debt_help", e.at)
        if not self.paused:
            self.at_once("collection_paused", e, action("collection_paused"), once=False)
        if first and e.kind != "payment_arrangement_agreed":
            self.at_once("casusregie", e, action("casusregie_assigned"), once=False)

    def end_help(self, e: Entry) -> None:
        """A2: help ended without result: collection resumes, the months rule applies at once."""
        self.help = False
        if self.paused:
            self.at_once("help_ended_collection", e, action("collection_resumed"), once=False)
        if self.stage in ("debt_help", "arrangement", "early_signal"):
            self.set_stage("arrears", e.at)
        m = self.value("mpzo_after_months", 2)
        reached = self.arrears_since is not None and self.arrears_cents > 0 and (
            calendar.add_months(self.arrears_since, m) <= calendar.local_date(e.at)
            or (self.rent > 0 and self.arrears_cents // self.rent >= m))
        if reached:
            self.mpzo("help_ended", e)
        else:
            self.arm_months(e, rearm=True)

    def on_action(self, e: Entry) -> None:
        d = e.detail
        match e.kind:
            case "early_signal_submitted":
                self.signal_done = True
                if self.stage == "arrears":
                    self.set_stage("early_signal", e.at)
                self.in_this_entry("signal_partners_told", e,  # A9(a)
                                   action("early_signal_submitted",
                                          to=("social_service", "social_team")))
                self.arm_response(e, "early signal")
            case "collection_paused":
                self.paused = True
                until = d.get("until")
                try:
                    due = parse_time(until) if isinstance(until, str) else None
                except ValueError:
                    due = None
                self.pause_dated = due is not None
                if due is not None:
                    self.arm_pause_end(e, due)
            case "collection_resumed":
                self.paused = self.pause_dated = False
            case "mpzo_notified":
                first = not self.mpzo_reasons
                self.mpzo_reasons.add(str(d.get("reason")))
                self.spoor_2 = True
                if self.review is not None:
                    self.review.responsible = self.holder_code()  # A1: the MPZO holds it now
                if self.stage not in ("crisis", "aftercare", "closed"):
                    self.set_stage("care", e.at)
                if first:  # A9(b), A1: the first report of a stretch
                    self.in_this_entry("mpzo_social_team_told", e,
                                       action("mpzo_notified", to=("social_team",)))
                    n = self.value("mpzo_plan_working_days", 10)
                    self.add(self.new(
                        "mpzo_plan", self.mpzo_code, describe(e), e.at,
                        calendar.working_days_deadline(e.at, n), events("mpzo_plan_ready"),
                        stops(actions=("aftercare_started", "case_closed")), working_days=n,
                        escalation=escalation(Escalation.mpzo_plan_overdue)), once=False)
            case "moratorium_requested":
                self.moratorium_requested = self.moratorium_pending = True
            case "aftercare_started":
                self.aftercare = True
                self.crisis = self.paused = self.meeting_pending = False
                self.eviction_date = self.moratorium_until = None
                self.set_stage("aftercare", e.at)
                months = self.value("aftercare_months", 6)
                due = calendar.start_of_day(calendar.add_months(calendar.local_date(e.at), months))
                self.add(self.new(
                    "aftercare_completion", VANGNET, "aftercare_started", e.at, due,
                    action("aftercare_completed"),
                    stops(events=("arrears_reported", "eviction_announced"),
                          actions=("case_closed",))), once=False)
            case "case_closed":
                self.set_stage("closed", e.at)
            case "escalation_raised":
                reason = d.get("reason")
                if reason == "reminder_missing":
                    ob = self.find("early_signal")
                    if ob is not None:
                        ob.notes.append("no reminder_sent was recorded at the threshold "
                                        "(escalated to the corporation)")
                elif reason == "pause_expired":
                    self.help = False
                    if self.stage == "debt_help":
                        self.set_stage("arrears", e.at)
                    self.arm_months(e, rearm=True)

    # -- the end -------------------------------------------------------------------------------

    def finish(self) -> list[Finding]:
        self.advance(self.as_of)
        today = calendar.local_date(self.as_of)
        last = calendar.local_date(self.last_at) if self.last_at else None
        for ob in self.open:
            if self.closed:
                verdict = MISSED
            elif today > ob.due_day and ob.responsible == VANGNET and last and last > ob.due_day:
                verdict = MISSED
                ob.notes.append(f"the case took later steps (the last on {last.isoformat()}) "
                                "without it")
            elif today > ob.due_day:
                verdict = OVERDUE
            else:
                verdict = PENDING
            self.findings.append(ob.finding(verdict, None))
        if self.review is not None:
            ob = self.review
            if today > ob.due_day:
                verdict = OVERDUE
            else:
                verdict = ob.stretch_verdict() or PENDING
            self.findings.append(ob.finding(verdict, ob.last_done))
        self.open, self.review = [], None
        self.findings.sort(key=lambda f: (f.due_at, f.trigger_at))
        return self.findings


def _entry(raw: dict[str, Any]) -> Entry | None:
    """A timeline entry as the check reads it; an event the rules before §11 ignored but §11
    gives a meaning is read as an event (AMENDED_FACTS)."""
    category, kind = raw["category"], raw["kind"]
    detail = dict(raw.get("detail") or {})
    if category == "ignored":
        part = AMENDED_FACTS.get(kind)
        if part is None or part not in str(detail.get("reason", "")):
            return None
        category = "event"
        detail["source"] = f"{detail.get('source', '?')}; ignored by the rules before §11"
    return Entry(category, kind, parse_time(raw["at"]), detail)


def check(state: dict[str, Any], as_of: datetime) -> list[Finding]:
    """Every obligation that applied to the case, with its verdict as of `as_of`."""
    checker = _Checker(state, as_of)
    for raw in state.get("timeline") or []:
        entry = _entry(raw)
        if entry is not None:
            checker.feed(entry)
    return checker.finish()


def tally(findings: list[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for f in findings:
        counts[f.verdict] += 1
    return counts
