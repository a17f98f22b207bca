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
put it. Which obligation rates each name of the vocabulary: `OBLIGATIONS` and the maps below it
(tests/audit/test_compliance_rules.py fails when a name has none).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from vangnet import calendar, vocabulary
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
    Fulfil,
    Open,
    action,
    days,
    describe,
    events,
    never,
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

HELP_EVENTS = frozenset({"help_accepted", "debt_help_started", "payment_arrangement_agreed"})
RESPONSE_EVENTS = HELP_EVENTS | {"help_refused", "no_contact", "signal_bounced"}
NOT_TAKEN_UP_EVENTS = frozenset({"signal_bounced", "no_contact", "help_refused"})
REVIEW_STAGES = ("debt_help", "arrangement", "care")  # A1
OUTCOME_EVENTS = ("eviction_executed", "eviction_postponed", "eviction_announced",
                  "payment_received", "tenancy_ended", "case_closed")  # A1 eviction_outcome_days

# Events the rules before §11 recorded as `ignored` (no rule for them) that §11 gives a meaning:
# kind -> a part of the reason they were ignored with.
AMENDED_FACTS = {
    "help_refused": "help was already accepted",  # A2
    "no_contact": "help was already accepted",  # A2
    "debt_help_ended": "is not known to the rules",  # A2
    "progress_reported": "is not known to the rules",  # A1
    "eviction_announced": "the case is in aftercare",  # A4
}

class _Checker:
    def __init__(self, state: dict[str, Any], as_of: datetime) -> None:
        context = state.get("context") or {}
        self.policy: dict[str, Any] = dict(context.get("policy") or {})
        self.corporation = state.get("corporation", "?")
        self.municipality = state.get("municipality", "?")
        self.social_service = context.get("social_service", "social service")
        self.social_team = context.get("social_team") or ""
        self.mpzo_code = context.get("mpzo") or "mpzo"
        self.parties: dict[str, str] = {str(k): str(v) for k, v in
                                        (context.get("parties") or {}).items()}
        self.parties.setdefault(self.social_team, "social_team")
        self.parties.setdefault(self.mpzo_code, "mpzo")
        self.as_of = as_of
        self.closed = bool(state.get("closed"))
        self.open: list[Open] = []
        self.review: Open | None = None  # A1's review clock while in a review stage
        self.findings: list[Finding] = []
        self.keys: set[str] = set()  # obligations that applied once per case
        self.last_at: datetime | None = None
        # what the case looks like so far
        self.stage: str | None = None
        self.spoor_2 = False
        self.arrears_since: date | None = None
        self.arrears_cents = 0
        self.rent = 0
        self.help = self.self_referral = self.signal_done = self.objected = False
        self.summons = self.crisis = self.nuisance = self.paused = self.aftercare = False
        self.moratorium_requested = self.moratorium_pending = self.consultation = False
        self.reminded = self.pause_dated = self.meeting_pending = self.care_consultation = False
        self.eviction_date: date | None = None
        self.moratorium_until: date | None = None
        self.mpzo_reasons: set[str] = set()  # reported in this stretch (A5)

    def value(self, name: str, default: int) -> int:
        return int(self.policy.get(name, default))

    def title(self, key: str, **extra: Any) -> tuple[str, str]:
        rule, title = OBLIGATIONS[key]
        return rule, vocabulary.render(title, {**self.policy, **extra})

    # -- bookkeeping ---------------------------------------------------------------------------

    def add(self, ob: Open, once: bool = True) -> Open | None:
        if ob.key not in OBLIGATIONS:
            raise KeyError(f"{ob.key}: every obligation needs its row in rulebook.OBLIGATIONS")
        if once and ob.key in self.keys:
            return None
        self.keys.add(ob.key)
        self.open.append(ob)
        return ob

    def new(self, key: str, responsible: str, trigger: str, trigger_at: datetime,
            due_at: datetime, fulfil: Fulfil, cancel: Any = never, **more: Any) -> Open:
        rule, title = self.title(key, **more.pop("values", {}))
        return Open(key, rule, title, responsible, trigger, trigger_at, due_at, fulfil, cancel,
                    **more)

    def find(self, key: str) -> Open | None:
        return next((o for o in self.open if o.key == key), None)

    def _late_report_note(self, e: Entry, ob: Open) -> None:
        happened = calendar.local_date(e.happened)
        lag = (calendar.local_date(e.at) - happened).days
        if lag > 0:
            ob.notes.append(
                f"{e.kind} happened {happened.isoformat()} and was reported {days(lag)} later "
                f"by {e.detail.get('source', '?')}"
            )

    def at_once(self, key: str, e: Entry, fulfil: Fulfil, responsible: str = VANGNET,
                cancel: Any = never, once: bool = True) -> Open | None:
        ob = self.add(self.new(key, responsible, describe(e), e.happened, e.happened, fulfil,
                               cancel), once=once)
        if ob is not None:
            self._late_report_note(e, ob)
        return ob

    def in_this_entry(self, key: str, e: Entry, fulfil: Fulfil) -> None:
        """An obligation that the entry being read either meets or misses (A9: who is told)."""
        ob = self.at_once(key, e, fulfil, once=False)
        if ob is not None:
            self.open.remove(ob)
            met = fulfil(e) is not None
            if not met:
                ob.notes.append(f"{e.kind} went to {', '.join(sorted(e.receivers)) or '?'} only")
            self.findings.append(ob.finding(MET if met else MISSED, e.at if met else None))

    def mpzo(self, reason: str, e: Entry) -> None:
        key = f"mpzo:{reason}"
        if self.find(key) or (reason in self.mpzo_reasons and reason != "summons_served"):
            return  # A5: once per stretch, every summons
        self.at_once(key, e, action("mpzo_notified", reason), once=False)

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
                self.arm_months(e, rearm=False)
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
                    self.add(self.new(  # A4
                        "moratorium_ended", f"{self.social_service}, {self.corporation}",
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
                                          to=(self.social_service, self.social_team)))
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
                                       action("mpzo_notified", to=(self.social_team,)))
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

    # -- A1: the review clock and the eviction's outcome ---------------------------------------

    def set_stage(self, stage: str, at: datetime) -> None:
        old, self.stage = self.stage, stage
        if stage == old:
            return
        if stage in REVIEW_STAGES:
            if self.review is None:
                n = self.value("case_review_days", 90)
                rule, title = self.title("case_review")
                self.review = Open(
                    "case_review", rule, title, "", f"stage {stage} from "
                    f"{calendar.local_date(at).isoformat()}", at, at + timedelta(days=n), never,
                    every=timedelta(days=n),
                    escalation=escalation(Escalation.case_stalled))
            else:
                self.review.restart(at)  # A1: the clock starts when its stage starts
            self.review.responsible = self.holder_code()
        elif self.review is not None:
            self.end_review(at)

    def holder_code(self) -> str:
        """A1: the party that holds the case: the social team in spoor 1, the MPZO in spoor 2."""
        return self.mpzo_code if self.spoor_2 else (self.social_team or "social team")

    def holder_report(self, e: Entry) -> None:
        ob = self.review
        if ob is None:
            return
        kind = self.parties.get(str(e.detail.get("source")))
        if e.kind == "progress_reported" or kind == ("mpzo" if self.spoor_2 else "social_team"):
            ob.report(e.at)

    def end_review(self, at: datetime) -> None:
        ob, self.review = self.review, None
        assert ob is not None
        if calendar.local_date(at) > ob.due_day:
            ob.notes.append(f"no report from {ob.responsible} from "
                            f"{calendar.local_date(ob.due_at - ob.every).isoformat()} "  # type: ignore[operator]
                            f"until the stage ended on {calendar.local_date(at).isoformat()}")
            self.findings.append(ob.finding(MISSED, None))
        elif (verdict := ob.stretch_verdict()) is not None:
            self.findings.append(ob.finding(verdict, ob.last_done))

    def new_date(self, e: Entry, day: date | None) -> None:
        """A4: a new eviction date in crisis gets a crisis response once the meeting is held."""
        if day == self.eviction_date:
            return
        self.eviction_date = day
        if day is not None and day > calendar.local_date(e.at) and not self.meeting_pending:
            self.crisis_response(e)
        self.arm_outcome(e.at)

    def crisis_response(self, e: Entry) -> None:
        """R8: the protocol at once, and the meeting within the working days (A4: per date)."""
        self.meeting_pending = True
        day = str(self.eviction_date) if self.eviction_date else None
        self.at_once("crisis_protocol", e, lambda x: x.at if (
            x.is_action("crisis_protocol_invoked")
            and x.detail.get("eviction_date") in (day, None)) else None, once=False)
        n = self.value("crisis_response_working_days", 3)
        stop = stops(actions=("aftercare_started", "case_closed"))
        meeting = self.new(
            "crisis_meeting", f"{self.social_service}, {self.corporation}", describe(e),
            e.happened, calendar.working_days_deadline(e.happened, n),
            events("crisis_meeting_held"), stop, working_days=n)
        self._late_report_note(e, meeting)
        self.add(meeting, once=False)
        self.add(self.new(
            "crisis_escalation", VANGNET, describe(e), e.at,
            calendar.working_days_deadline(e.at, n),
            action("escalation_raised", "crisis_meeting_overdue"),
            stops(events=("crisis_meeting_held",), actions=("aftercare_started", "case_closed")),
        ), once=False)

    def arm_outcome(self, at: datetime) -> None:
        """A1: the corporation reports what happened within `eviction_outcome_days` of the date
        (not for a date a granted moratorium covers)."""
        ob = self.find("eviction_outcome")
        if ob is not None:
            self.open.remove(ob)
        day = self.eviction_date
        if day is None or (self.moratorium_until is not None and day <= self.moratorium_until):
            return
        n = self.value("eviction_outcome_days", 2)
        self.add(self.new(
            "eviction_outcome", self.corporation, f"eviction date {day.isoformat()}", at,
            calendar.start_of_day(day + timedelta(days=n)), events(*OUTCOME_EVENTS),
            stops(events=("moratorium_granted",), actions=("aftercare_started", "case_closed")),
            escalation=escalation(Escalation.eviction_outcome_unknown)), once=False)

    # -- obligations that depend on the arrears clock ------------------------------------------

    def arm_pause_end(self, e: Entry, due: datetime) -> None:
        """R4: a dated pause that runs out without debt help: resumed, and escalated. Help that
        ends before (A2, R6) resumes collection early: then nothing is owed at the end."""
        early = lambda x: x.is_action("collection_resumed") and x.at < due  # noqa: E731
        for key, fulfil in (("pause_expiry", action("collection_resumed")),
                            ("pause_escalation", action("escalation_raised", "pause_expired"))):
            self.add(self.new(
                key, VANGNET, f"collection_paused until {calendar.local_date(due).isoformat()}",
                e.at, due, lambda x, f=fulfil: None if early(x) else f(x),
                lambda x: early(x) or stops(events=("debt_help_started", "payment_arrangement_agreed"),
                                            actions=("aftercare_started", "case_closed"))(x),
            ), once=False)

    def arm_early_signal(self, e: Entry) -> None:
        """R2: the early signal is due when the arrears reach `early_signal_after_days`; with no
        reminder recorded by then, an escalation to the corporation."""
        if (self.arrears_since is None or self.self_referral or self.help or self.signal_done
                or self.objected):
            return
        n = self.value("early_signal_after_days", 30)
        due_day = self.arrears_since + timedelta(days=n)
        due = calendar.start_of_day(due_day)
        trigger = f"arrears since {self.arrears_since.isoformat()} reach {n} days"
        ends = stops(events=("self_referral", *HELP_EVENTS),
                     actions=("aftercare_started", "case_closed"))
        existing = self.find("early_signal")
        if existing is not None:
            existing.due_at = existing.trigger_at = due
            existing.trigger = trigger
        else:
            existing = self.add(self.new(
                "early_signal", self.corporation, trigger, due, due,
                action("early_signal_submitted"),
                lambda x: (ends(x) or (x.is_event("reminder_sent")
                                       and bool(x.detail.get("tenant_objects_to_signal")))),
            ))
            if not self.reminded and not self.find("reminder_escalation"):
                self.add(self.new(
                    "reminder_escalation", VANGNET, trigger + " with no reminder recorded", due,
                    due, action("escalation_raised", "reminder_missing"),
                    lambda x: ends(x) or (x.is_event("reminder_sent") and x.at < due)),
                    once=False)
        if existing is not None and calendar.local_date(e.at) > due_day:
            lag = (calendar.local_date(e.at) - due_day).days
            existing.notes.append(f"the arrears were reported {days(lag)} after the threshold "
                                  f"(by {e.detail.get('source', '?')})")

    def arm_months(self, e: Entry, *, rearm: bool) -> None:
        """R5(c): arrears of `mpzo_after_months` (age or size) without help → MPZO."""
        if self.help or self.arrears_since is None or "arrears_months" in self.mpzo_reasons:
            return
        m = self.value("mpzo_after_months", 2)
        by_age = calendar.start_of_day(calendar.add_months(self.arrears_since, m))
        by_size = self.rent > 0 and self.arrears_cents // self.rent >= m
        due = min(by_age, e.happened) if by_size else by_age
        if rearm:
            due = max(due, e.at)
        trigger = (f"arrears of {m} months (size)" if by_size and due <= by_age
                   else f"arrears since {self.arrears_since.isoformat()} reach {m} months")
        existing = self.find("mpzo:arrears_months")
        if existing is not None:
            existing.due_at = existing.trigger_at = due
            existing.trigger = trigger
            return
        ob = self.add(self.new(
            "mpzo:arrears_months", VANGNET, trigger, due, due,
            action("mpzo_notified", "arrears_months"),
            stops(events=tuple(HELP_EVENTS), actions=("aftercare_started", "case_closed")),
        ), once=False)
        lag = (calendar.local_date(e.at) - calendar.local_date(due)).days
        if ob is not None and not rearm and lag > 0:
            ob.notes.append(f"the arrears were reported {days(lag)} after the threshold "
                            f"(by {e.detail.get('source', '?')})")

    def arm_response(self, e: Entry, what: str) -> None:
        """Decisions 2 and 3: the municipality reports an outcome within the help-plan deadline;
        without help accepted by then the signal counts as not taken up (R5(b)). A8: a repeated
        self-referral moves no deadline."""
        if self.find("municipality_response"):
            return
        n = self.value("help_plan_deadline_days", 28)
        due = e.at + timedelta(days=n)
        self.add(self.new(
            "municipality_response", self.municipality,
            f"{what} on {calendar.local_date(e.at).isoformat()}", e.at, due,
            events(*RESPONSE_EVENTS), stops(actions=("aftercare_started", "case_closed")),
            values={"what": what}), once=False)
        if "signal_not_taken_up" in self.mpzo_reasons or self.find("mpzo:signal_not_taken_up"):
            return
        self.add(self.new(
            "mpzo:signal_not_taken_up", VANGNET,
            f"no help accepted within {n} days of the {what}", due, due,
            action("mpzo_notified", "signal_not_taken_up"),
            stops(events=tuple(HELP_EVENTS), actions=("aftercare_started", "case_closed")),
        ), once=False)

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
