"""The compliance check: which obligations of the agreement applied to a case, and for each
whether it was met, late (by how much), missed, overdue (case still open) or pending (not due yet).

Input is what the case itself recorded: its timeline and the policy it ran under (both from the
replayed state), read against RULES.md and `vangnet.calendar`. Obligations are counted from when
things *happened* (`occurred_at`, where a party gave it), not from when vangnet heard of them: a
summons reported nine days after it was served makes a MPZO report nine days late, and the note
says who reported late. Days are Dutch calendar days; the crisis meeting counts working days.

Verdicts: an obligation done on or before its due day is `met`, after it `late`. One never done
is `missed` when the case closed or moved on after the due day (for example the arrears were paid
while the crisis meeting was still owed), `overdue` while the case is open and the day has passed,
`pending` before it. An obligation that stopped applying before its due day is not listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from vangnet import calendar, vocabulary
from vangnet.audit.references import parse_time

MET, LATE, MISSED, OVERDUE, PENDING = "met", "late", "missed", "overdue", "pending"
VERDICTS = (MET, LATE, MISSED, OVERDUE, PENDING)
VANGNET = "vangnet"

HELP_EVENTS = frozenset({"help_accepted", "debt_help_started", "payment_arrangement_agreed"})
RESPONSE_EVENTS = HELP_EVENTS | {"help_refused", "no_contact", "signal_bounced"}
NOT_TAKEN_UP_EVENTS = frozenset({"signal_bounced", "no_contact", "help_refused"})

# (rule, title) of each MPZO reason's obligation: from the catalogue (vangnet.vocabulary).
MPZO_TITLES = {str(r): (row.rule, row.title) for r, row in vocabulary.MPZO_REASONS.items()}


@dataclass
class Finding:
    obligation: str
    rule: str
    title: str
    responsible: str
    trigger: str
    trigger_at: datetime
    due_at: datetime
    due_day: date  # the last day on which it is on time (Dutch local date)
    done_at: datetime | None
    verdict: str
    late_days: int | None = None  # calendar days after the due day
    late_working_days: int | None = None  # only for obligations counted in working days
    notes: list[str] = field(default_factory=list)

    @property
    def late_by(self) -> str | None:
        if self.late_days is None:
            return None
        text = _days(self.late_days)
        if self.late_working_days is not None:
            text = f"{self.late_working_days} working day{'s' if self.late_working_days != 1 else ''} ({text})"
        return text

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("trigger_at", "due_at", "done_at"):
            out[key] = out[key].isoformat() if out[key] else None
        out["due_day"] = self.due_day.isoformat()
        out["late_by"] = self.late_by
        return out


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


@dataclass
class _Entry:
    category: str
    kind: str
    at: datetime
    detail: dict[str, Any]

    @property
    def happened(self) -> datetime:
        """When it happened in the world: `occurred_at` where given (and not after receipt)."""
        occurred = self.detail.get("occurred_at")
        if self.category == "event" and occurred:
            when = parse_time(occurred)
            if when < self.at:
                return when
        return self.at

    def is_event(self, *kinds: str) -> bool:
        return self.category == "event" and self.kind in kinds

    def is_action(self, kind: str, reason: str | None = None) -> bool:
        return (self.category == "action" and self.kind == kind
                and (reason is None or self.detail.get("reason") == reason))


def _never(_: _Entry) -> bool:
    return False


@dataclass
class _Open:
    key: str
    rule: str
    title: str
    responsible: str
    trigger: str
    trigger_at: datetime
    due_at: datetime
    fulfil: Callable[[_Entry], datetime | None]
    cancel: Callable[[_Entry], bool] = _never
    working_days: int | None = None  # due counted in working days from the trigger day
    notes: list[str] = field(default_factory=list)

    @property
    def due_day(self) -> date:
        if self.working_days is not None:
            return calendar.add_working_days(calendar.local_date(self.trigger_at), self.working_days)
        return calendar.local_date(self.due_at)

    def finding(self, verdict: str, done_at: datetime | None) -> Finding:
        late_days = late_wd = None
        if verdict == LATE and done_at is not None:
            done_day = calendar.local_date(done_at)
            late_days = (done_day - self.due_day).days
            if self.working_days is not None:
                late_wd = _working_days_between(self.due_day, done_day)
        return Finding(
            obligation=self.key, rule=self.rule, title=self.title,
            responsible=self.responsible, trigger=self.trigger, trigger_at=self.trigger_at,
            due_at=self.due_at, due_day=self.due_day, done_at=done_at, verdict=verdict, late_days=late_days,
            late_working_days=late_wd, notes=list(self.notes),
        )


def _working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end`."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            count += 1
    return count


def _action(kind: str, reason: str | None = None) -> Callable[[_Entry], datetime | None]:
    return lambda e: e.at if e.is_action(kind, reason) else None


def _events(*kinds: str) -> Callable[[_Entry], datetime | None]:
    return lambda e: e.happened if e.is_event(*kinds) else None


def _stops(*, events: tuple[str, ...] = (), actions: tuple[str, ...] = ("case_closed",)
           ) -> Callable[[_Entry], bool]:
    return lambda e: e.is_event(*events) or (e.category == "action" and e.kind in actions)


class _Checker:
    def __init__(self, state: dict[str, Any], as_of: datetime) -> None:
        context = state.get("context") or {}
        self.policy: dict[str, Any] = dict(context.get("policy") or {})
        self.corporation = state.get("corporation", "?")
        self.municipality = state.get("municipality", "?")
        self.social_service = context.get("social_service", "social service")
        self.as_of = as_of
        self.closed = bool(state.get("closed"))
        self.open: list[_Open] = []
        self.findings: list[Finding] = []
        self.keys: set[str] = set()  # obligations that applied once per case
        # what the case looks like so far
        self.arrears_since: date | None = None
        self.arrears_cents = 0
        self.rent = 0
        self.help = self.self_referral = self.signal_done = self.objected = False
        self.summons = self.crisis = self.nuisance = self.paused = self.aftercare = False
        self.moratorium_requested = self.consultation = False
        self.eviction_date: date | None = None
        self.mpzo_reasons: set[str] = set()

    # -- bookkeeping ---------------------------------------------------------------------------

    def add(self, ob: _Open, once: bool = True) -> _Open | None:
        if once and ob.key in self.keys:
            return None
        self.keys.add(ob.key)
        self.open.append(ob)
        return ob

    def find(self, key: str) -> _Open | None:
        return next((o for o in self.open if o.key == key), None)

    def _late_report_note(self, e: _Entry, ob: _Open) -> None:
        happened = calendar.local_date(e.happened)
        lag = (calendar.local_date(e.at) - happened).days
        if lag > 0:
            ob.notes.append(
                f"{e.kind} happened {happened.isoformat()} and was reported {_days(lag)} later "
                f"by {e.detail.get('source', '?')}"
            )

    def at_once(self, key: str, rule: str, title: str, e: _Entry,
                fulfil: Callable[[_Entry], datetime | None], responsible: str = VANGNET,
                cancel: Callable[[_Entry], bool] = _never, once: bool = True) -> None:
        ob = self.add(_Open(key, rule, title, responsible, _describe(e), e.happened, e.happened,
                            fulfil, cancel), once=once)
        if ob is not None:
            self._late_report_note(e, ob)

    def mpzo(self, reason: str, e: _Entry) -> None:
        if reason in self.mpzo_reasons or self.find(f"mpzo:{reason}"):
            return
        rule, title = MPZO_TITLES[reason]
        self.at_once(f"mpzo:{reason}", rule, title.format(**self.policy), e,
                     _action("mpzo_notified", reason))

    # -- the walk ------------------------------------------------------------------------------

    def feed(self, e: _Entry) -> None:
        for ob in list(self.open):
            done = ob.fulfil(e)
            if done is not None:
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
        elif e.category == "action":
            self.on_action(e)

    def on_event(self, e: _Entry) -> None:
        d = e.detail
        p = self.policy
        match e.kind:
            case "arrears_reported":
                relapse = self.aftercare
                self.aftercare = False
                self.at_once("tenant_notice", "R1", "Letter to the tenant when arrears are reported",
                             e, _action("tenant_notice_sent"))
                self.arrears_since = date.fromisoformat(d["arrears_since"])
                self.arrears_cents = int(d.get("arrears_cents", 0))
                self.rent = int(d.get("monthly_rent_cents", 0))
                if relapse:
                    self.help = self.self_referral = self.signal_done = False
                    self.keys.discard("early_signal")
                self.arm_early_signal(e)
                self.arm_months(e, rearm=False)
            case "payment_received":
                self.arrears_cents = int(d.get("arrears_cents", 0))
                if self.arrears_cents == 0 and not self.aftercare:
                    self.at_once("aftercare_start", "R10; decision 8",
                                 "Aftercare when the arrears are cleared", e,
                                 _action("aftercare_started"), once=False)
            case "reminder_sent":
                self.objected = bool(d.get("tenant_objects_to_signal"))
            case "self_referral":
                self.self_referral = True
                self.arm_response(e, "self-referral")
            case "signal_bounced" | "no_contact" | "help_refused":
                ob = self.find("mpzo:signal_not_taken_up")
                if ob is not None:
                    if e.happened < ob.due_at:
                        ob.due_at, ob.trigger_at, ob.trigger = e.happened, e.happened, _describe(e)
                        self._late_report_note(e, ob)
                else:
                    self.mpzo("signal_not_taken_up", e)
            case "help_accepted" | "debt_help_started" | "payment_arrangement_agreed":
                first = not self.help
                self.help = True
                if e.kind != "payment_arrangement_agreed" and (self.summons or self.crisis):
                    if not self.consultation:
                        self.consultation = True
                        self.at_once("postponement_consultation", "R7",
                                     "Consultation on postponing the eviction (help after a summons)",
                                     e, _action("postponement_consultation_requested"))
                    return
                if e.kind == "payment_arrangement_agreed" and self.crisis:
                    return
                if not self.paused:
                    self.at_once("collection_paused", "R3; decision 4",
                                 "Collection paused after help was accepted", e,
                                 _action("collection_paused"), once=False)
                if first and e.kind != "payment_arrangement_agreed":
                    self.at_once("casusregie", "R3; footnote 2",
                                 "Case ownership to the social team after help was accepted", e,
                                 _action("casusregie_assigned"), once=False)
            case "arrangement_breached":
                self.help = False
                if self.paused:
                    self.at_once("collection_resumed", "R6",
                                 "Collection resumed after a breached arrangement", e,
                                 _action("collection_resumed"), once=False)
                self.arm_months(e, rearm=True)
            case "concern_reported":
                if d.get("kind") == "nuisance":
                    self.nuisance = True
                self.mpzo(f"concern_{d.get('kind')}", e)
            case "summons_served":
                self.summons = True
                self.mpzo("summons_served", e)
            case "eviction_announced":
                self.eviction_date = date.fromisoformat(d["eviction_date"])
                if self.crisis:
                    return
                self.crisis = True
                if not self.mpzo_reasons:
                    self.mpzo("eviction_announced", e)
                self.at_once("crisis_protocol", "R8",
                             "Crisis protocol the day the eviction is announced", e,
                             _action("crisis_protocol_invoked"), once=False)
                n = int(p.get("crisis_response_working_days", 3))
                stop = _stops(actions=("aftercare_started", "case_closed"))
                meeting = _Open(
                    "crisis_meeting", "R8; decision 6", f"Crisis meeting within {n} working days",
                    f"{self.social_service}, {self.corporation}", _describe(e), e.happened,
                    calendar.working_days_deadline(e.happened, n), _events("crisis_meeting_held"),
                    stop, working_days=n,
                )
                self._late_report_note(e, meeting)
                self.add(meeting, once=False)
                self.add(_Open(
                    "crisis_escalation", "R8", "Escalation when the crisis meeting is overdue",
                    VANGNET, _describe(e), e.at, calendar.working_days_deadline(e.at, n),
                    _action("escalation_raised", "crisis_meeting_overdue"),
                    _stops(events=("crisis_meeting_held",),
                           actions=("aftercare_started", "case_closed")),
                ), once=False)
            case "crisis_meeting_held":
                if d.get("result") not in ("moratorium_needed", "no_solution"):
                    return
                if self.eviction_date is None or self.eviction_date <= calendar.local_date(e.at):
                    return
                if self.nuisance:
                    self.at_once("moratorium_excluded", "R9",
                                 "Escalation instead of a moratorium (nuisance reported)", e,
                                 _action("escalation_raised", "moratorium_excluded_nuisance"),
                                 once=False)
                elif not self.moratorium_requested:
                    self.at_once("moratorium_request", "R9; decision 5",
                                 "Moratorium requested after the crisis meeting", e,
                                 _action("moratorium_requested"), once=False)
            case "eviction_postponed":
                new = d.get("new_eviction_date")
                self.eviction_date = date.fromisoformat(new) if new else None
            case "moratorium_rejected":
                self.moratorium_requested = False
            case "eviction_executed":
                self.mpzo("evicted", e)
                self.at_once("close", "R11", "Case closed and the parties told", e,
                             _action("case_closed"))
            case "tenancy_ended" | "case_closed":
                self.at_once("close", "R11", "Case closed and the parties told", e,
                             _action("case_closed"))

    def on_action(self, e: _Entry) -> None:
        d = e.detail
        match e.kind:
            case "early_signal_submitted":
                self.signal_done = True
                self.arm_response(e, "early signal")
            case "collection_paused":
                self.paused = True
                until = d.get("until")
                try:
                    due = parse_time(until) if isinstance(until, str) else None
                except ValueError:
                    due = None
                if due is not None:
                    self.add(_Open(
                        "pause_expiry", "R4; decision 4",
                        "Collection resumed when the pause ran out without debt help", VANGNET,
                        f"collection_paused until {calendar.local_date(due).isoformat()}", e.at, due,
                        _action("collection_resumed"),
                        _stops(events=("debt_help_started", "payment_arrangement_agreed"),
                               actions=("aftercare_started", "case_closed")),
                    ), once=False)
            case "collection_resumed":
                self.paused = False
            case "mpzo_notified":
                self.mpzo_reasons.add(str(d.get("reason")))
            case "moratorium_requested":
                self.moratorium_requested = True
            case "aftercare_started":
                self.aftercare = True
                self.crisis = self.paused = False
                months = int(self.policy.get("aftercare_months", 6))
                due = calendar.start_of_day(calendar.add_months(calendar.local_date(e.at), months))
                self.add(_Open(
                    "aftercare_completion", "R10",
                    f"Aftercare completed and the case resolved after {months} months", VANGNET,
                    "aftercare_started", e.at, due, _action("aftercare_completed"),
                    _stops(events=("arrears_reported",), actions=("case_closed",)),
                ), once=False)
            case "escalation_raised":
                reason = d.get("reason")
                if reason == "reminder_missing":
                    ob = self.find("early_signal")
                    if ob is not None:
                        ob.notes.append("no reminder_sent was recorded at the threshold "
                                        "(escalated to the corporation)")
                elif reason == "pause_expired":
                    self.help = False
                    self.arm_months(e, rearm=True)

    # -- obligations that depend on the arrears clock ------------------------------------------

    def arm_early_signal(self, e: _Entry) -> None:
        """R2: the early signal is due when the arrears reach `early_signal_after_days`."""
        if (self.arrears_since is None or self.self_referral or self.help or self.signal_done
                or self.objected):
            return
        n = int(self.policy.get("early_signal_after_days", 30))
        due_day = self.arrears_since + timedelta(days=n)
        due = calendar.start_of_day(due_day)
        trigger = f"arrears since {self.arrears_since.isoformat()} reach {n} days"
        existing = self.find("early_signal")
        if existing is not None:
            existing.due_at = existing.trigger_at = due
            existing.trigger = trigger
        else:
            existing = self.add(_Open(
                "early_signal", "R2; decision 1", f"Early signal at {n} days of arrears",
                self.corporation, trigger, due, due, _action("early_signal_submitted"),
                lambda x: (x.is_event("self_referral", *HELP_EVENTS)
                           or (x.is_event("reminder_sent")
                               and bool(x.detail.get("tenant_objects_to_signal")))
                           or (x.category == "action"
                               and x.kind in ("aftercare_started", "case_closed"))),
            ))
        if existing is not None and calendar.local_date(e.at) > due_day:
            lag = (calendar.local_date(e.at) - due_day).days
            existing.notes.append(f"the arrears were reported {_days(lag)} after the threshold "
                                  f"(by {e.detail.get('source', '?')})")

    def arm_months(self, e: _Entry, *, rearm: bool) -> None:
        """R5(c): arrears of `mpzo_after_months` (age or size) without help → MPZO."""
        if self.help or self.arrears_since is None or "arrears_months" in self.mpzo_reasons:
            return
        m = int(self.policy.get("mpzo_after_months", 2))
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
        rule, title = MPZO_TITLES["arrears_months"]
        ob = self.add(_Open(
            "mpzo:arrears_months", rule, title.format(**self.policy), VANGNET, trigger, due, due,
            _action("mpzo_notified", "arrears_months"),
            _stops(events=tuple(HELP_EVENTS), actions=("aftercare_started", "case_closed")),
        ), once=False)
        lag = (calendar.local_date(e.at) - calendar.local_date(due)).days
        if ob is not None and not rearm and lag > 0:
            ob.notes.append(f"the arrears were reported {_days(lag)} after the threshold "
                            f"(by {e.detail.get('source', '?')})")

    def arm_response(self, e: _Entry, what: str) -> None:
        """Decisions 2 and 3: the municipality reports an outcome within the help-plan deadline;
        without help accepted by then the signal counts as not taken up (R5(b))."""
        days = int(self.policy.get("help_plan_deadline_days", 28))
        due = e.at + timedelta(days=days)
        self.add(_Open(
            "municipality_response", "R5(b); decision 2",
            f"Municipality's response within {days} days of the {what}", self.municipality,
            f"{what} on {calendar.local_date(e.at).isoformat()}", e.at, due,
            _events(*RESPONSE_EVENTS), _stops(actions=("aftercare_started", "case_closed")),
        ), once=False)
        if "signal_not_taken_up" in self.mpzo_reasons or self.find("mpzo:signal_not_taken_up"):
            return
        rule, title = MPZO_TITLES["signal_not_taken_up"]
        self.add(_Open(
            "mpzo:signal_not_taken_up", rule, title, VANGNET,
            f"no help accepted within {days} days of the {what}", due, due,
            _action("mpzo_notified", "signal_not_taken_up"),
            _stops(events=tuple(HELP_EVENTS), actions=("aftercare_started", "case_closed")),
        ), once=False)

    # -- the end -------------------------------------------------------------------------------

    def finish(self) -> list[Finding]:
        today = calendar.local_date(self.as_of)
        for ob in self.open:
            if self.closed:
                verdict = MISSED
            elif today > ob.due_day:
                verdict = OVERDUE
            else:
                verdict = PENDING
            self.findings.append(ob.finding(verdict, None))
        self.open = []
        self.findings.sort(key=lambda f: (f.due_at, f.trigger_at))
        return self.findings


def _describe(e: _Entry) -> str:
    source = e.detail.get("source")
    return f"{e.kind} ({source})" if source else e.kind


def check(state: dict[str, Any], as_of: datetime) -> list[Finding]:
    """Every obligation that applied to the case, with its verdict as of `as_of`."""
    checker = _Checker(state, as_of)
    for raw in state.get("timeline") or []:
        checker.feed(_Entry(raw["category"], raw["kind"], parse_time(raw["at"]),
                            dict(raw.get("detail") or {})))
    return checker.finish()


def tally(findings: list[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for f in findings:
        counts[f.verdict] += 1
    return counts
