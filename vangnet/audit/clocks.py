"""The case as the compliance check (vangnet.audit.compliance) follows it along the timeline:
its state so far, the open obligations, and the clocks that arm them — the arrears clock (R2,
R5(c)), the municipality's response (decisions 2, 3; A8), the collection pause (R4), the crisis
response and the eviction's outcome per date (R8, A1, A4), and A1's review clock by stage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from vangnet import calendar, vocabulary
from vangnet.audit.obligations import (
    MET,
    MISSED,
    VANGNET,
    Entry,
    Finding,
    Fulfil,
    Open,
    action,
    by_reports_only,
    days,
    describe,
    events,
    never,
    stops,
)
from vangnet.audit.rulebook import OBLIGATIONS, escalation
from vangnet.policy import Policy
from vangnet.vocabulary import Escalation

HELP_EVENTS = frozenset({"help_accepted", "debt_help_started", "payment_arrangement_agreed"})
RESPONSE_EVENTS = HELP_EVENTS | {"help_refused", "no_contact", "signal_bounced"}
NOT_TAKEN_UP_EVENTS = frozenset({"signal_bounced", "no_contact", "help_refused"})
POLICY_DEFAULTS: dict[str, Any] = Policy().model_dump()
REVIEW_STAGES = ("debt_help", "arrangement", "care")  # A1
OUTCOME_EVENTS = ("eviction_executed", "eviction_postponed", "eviction_announced",
                  "payment_received", "tenancy_ended", "case_closed")  # A1 eviction_outcome_days


class CaseClocks:
    def __init__(self, state: dict[str, Any], as_of: datetime) -> None:
        context = state.get("context") or {}
        # The policy the case recorded; a value it predates (A1's periods) has its default.
        self.policy: dict[str, Any] = {**POLICY_DEFAULTS, **(context.get("policy") or {})}
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
                    f"{calendar.local_date(at).isoformat()}", at, at + timedelta(days=n), by_reports_only,
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
            since = ob.last_done or ob.trigger_at
            ob.notes.append(f"no report from {ob.responsible} from "
                            f"{calendar.local_date(since).isoformat()} "
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
        ends = stops(events=("debt_help_started", "payment_arrangement_agreed"),
                     actions=("aftercare_started", "case_closed"))
        for key, fulfil in (("pause_expiry", action("collection_resumed")),
                            ("pause_escalation", action("escalation_raised", "pause_expired"))):
            self.add(self.new(
                key, VANGNET, f"collection_paused until {calendar.local_date(due).isoformat()}",
                e.at, due, _unless(early, fulfil),
                lambda x: early(x) or ends(x),
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
        if existing is not None:  # new arrears: the threshold moves (and the escalation's)
            existing.due_at = existing.trigger_at = due
            existing.trigger = trigger
            reminder = self.find("reminder_escalation")
            if reminder is not None:
                reminder.due_at = reminder.trigger_at = due
        else:
            existing = self.add(self.new(
                "early_signal", self.corporation, trigger, due, due,
                action("early_signal_submitted"),
                lambda x: (ends(x) or (x.is_event("reminder_sent")
                                       and bool(x.detail.get("tenant_objects_to_signal")))),
            ))
            if existing is not None and not self.reminded and not self.find("reminder_escalation"):
                reminder = self.new(
                    "reminder_escalation", VANGNET, trigger + " with no reminder recorded", due,
                    due, action("escalation_raised", "reminder_missing"))
                reminder.cancel = lambda x, r=reminder: ends(x) or (  # type: ignore[misc]
                    x.is_event("reminder_sent") and x.at < r.due_at)
                self.add(reminder, once=False)
        if existing is not None and calendar.local_date(e.at) > due_day:
            lag = (calendar.local_date(e.at) - due_day).days
            existing.notes.append(f"the arrears were reported {days(lag)} after the threshold "
                                  f"(by {e.detail.get('source', '?')})")

    def arm_months(self, e: Entry, *, rearm: bool) -> None:
        """R5(c): arrears of `mpzo_after_months` (age or size) without help → MPZO."""
        if (self.help or self.arrears_since is None or self.arrears_cents <= 0
                or "arrears_months" in self.mpzo_reasons):
            return  # as the core: no months rule without arrears (paid off, then help ended)
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


def _unless(early: Callable[[Entry], bool], fulfil: Fulfil) -> Fulfil:
    """`fulfil`, except for an entry that `early` claims (it ends the obligation instead)."""
    def check(x: Entry) -> datetime | None:
        return None if early(x) else fulfil(x)
    return check
