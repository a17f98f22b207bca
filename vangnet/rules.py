"""The agreement as a pure, deterministic core (RULES.md §3-§8).

    new_state, actions = apply_event(state, event, now)
    new_state, actions = fire_due_deadlines(state, now)

No I/O, no clock, no randomness: `now` is passed in (the workflow passes `workflow.now()`).
A step never changes its input; an event that makes no sense in the current stage returns the
original state with one `ignored` timeline entry (R12), so nothing is ever half-applied.
Every deadline lives in `state.deadlines`; the workflow turns the earliest into a durable timer.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Callable

from pydantic import BaseModel, Field

from vangnet import calendar
from vangnet.domain import (
    EVENT_SENDERS,
    OPENING_EVENTS,
    CaseContext,
    Collection,
    EventBase,
    Outcome,
    Receiver,
    Stage,
    Track,
)

# Deadline names (public: they appear as `kind` on the timeline and in `next_deadline`).
EARLY_SIGNAL_DUE = "early_signal_due"
HELP_PLAN_DEADLINE = "help_plan_deadline"
COLLECTION_PAUSE_END = "collection_pause_end"
MPZO_MONTHS_THRESHOLD = "mpzo_months_threshold"
CRISIS_MEETING_DEADLINE = "crisis_meeting_deadline"
MORATORIUM_END = "moratorium_end"
AFTERCARE_END = "aftercare_end"
DEADLINES = (
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    COLLECTION_PAUSE_END,
    MPZO_MONTHS_THRESHOLD,
    CRISIS_MEETING_DEADLINE,
    MORATORIUM_END,
    AFTERCARE_END,
)

# MPZO reasons (R5), each reported once per case.
MPZO_SUMMONS = "summons_served"
MPZO_NOT_TAKEN_UP = "signal_not_taken_up"
MPZO_ARREARS_MONTHS = "arrears_months"
MPZO_EVICTION_ANNOUNCED = "eviction_announced"
MPZO_EVICTED = "evicted"

_ENDED = (Stage.aftercare, Stage.closed)


class TimelineEntry(BaseModel):
    at: datetime
    category: str  # "event" | "action" | "deadline" | "ignored"
    kind: str
    detail: dict[str, Any] = Field(default_factory=dict)


class PlannedAction(BaseModel):
    """An action the workflow must run as an activity. `seq` makes its idempotency key."""

    seq: int
    action: str
    receivers: list[Receiver]
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class CaseState(BaseModel):
    """Everything a case knows. Serialisable: continue-as-new carries it whole."""

    case_id: str
    tenancy_ref: str
    corporation: str
    municipality: str
    context: CaseContext | None = None

    opened: bool = False
    opened_at: datetime | None = None
    closed: bool = False
    closed_at: datetime | None = None
    outcome: Outcome | None = None
    stage: Stage | None = None
    track: Track = Track.spoor_1
    collection: Collection = Collection.active
    collection_paused_until: datetime | None = None
    relapse_of: str | None = None

    arrears_cents: int = 0
    monthly_rent_cents: int = 0
    arrears_since: date | None = None

    tenant_notified: bool = False
    reminder_sent: bool = False
    tenant_objected: bool = False
    awaiting_reminder: bool = False
    early_signal_at: datetime | None = None
    early_signal_blocked: bool = False
    self_referral: bool = False
    help_accepted: bool = False
    debt_help_started: bool = False
    arrangement: dict[str, int] | None = None

    concerns: list[str] = Field(default_factory=list)
    mpzo_reasons: list[str] = Field(default_factory=list)
    mpzo_plan_ready: bool = False
    care_started_by: str | None = None

    summons_served: bool = False
    hearing_date: date | None = None
    eviction_granted: bool | None = None
    eviction_date: date | None = None
    crisis_meeting_result: str | None = None
    consultation_requested: bool = False
    moratorium_requested: bool = False
    moratorium_until: date | None = None

    deadlines: dict[str, datetime] = Field(default_factory=dict)
    involved: list[Receiver] = Field(default_factory=lambda: [Receiver.corporation])
    seen_event_ids: list[str] = Field(default_factory=list)
    action_seq: int = 0
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def mpzo_involved(self) -> bool:
        return bool(self.mpzo_reasons)

    @property
    def policy(self):  # noqa: ANN201 - Policy
        assert self.context is not None, "case context not resolved"
        return self.context.policy


class Ignored(Exception):
    """Raised by a handler before it changes anything: the event is recorded as `ignored`."""


class Step(BaseModel):
    state: CaseState
    actions: list[PlannedAction] = Field(default_factory=list)
    duplicate: bool = False
    ignored: str | None = None
    # The deadlines this step fired, (kind, due), for the operators' metrics (issue 13).
    fired: list[tuple[str, datetime]] = Field(default_factory=list)


def new_case(case_id: str, tenancy_ref: str, corporation: str, municipality: str) -> CaseState:
    return CaseState(
        case_id=case_id, tenancy_ref=tenancy_ref, corporation=corporation, municipality=municipality
    )


# ---------------------------------------------------------------------------------------------
# Reading a case
# ---------------------------------------------------------------------------------------------


def months_in_arrears(state: CaseState, now: datetime) -> int:
    """Arrears in months: age (from arrears_since) or size (arrears / rent), whichever is more."""
    if state.arrears_cents <= 0 or state.arrears_since is None:
        return 0
    by_age = calendar.whole_months_between(state.arrears_since, calendar.local_date(now))
    by_size = state.arrears_cents // state.monthly_rent_cents if state.monthly_rent_cents else 0
    return max(by_age, by_size)


def next_month_mark(state: CaseState, now: datetime) -> datetime | None:
    """When `months_in_arrears` next grows by age alone (so the search attribute can follow)."""
    if state.closed or state.arrears_cents <= 0 or state.arrears_since is None:
        return None
    by_age = calendar.whole_months_between(state.arrears_since, calendar.local_date(now))
    return calendar.start_of_day(calendar.add_months(state.arrears_since, by_age + 1))


def next_deadline(state: CaseState) -> tuple[str, datetime] | None:
    if not state.deadlines:
        return None
    kind = min(state.deadlines, key=lambda k: (state.deadlines[k], DEADLINES.index(k)))
    return kind, state.deadlines[kind]


def status(state: CaseState, now: datetime) -> dict[str, Any]:
    """The `status` query of RULES §9 (plus a few read-only extras)."""
    nxt = next_deadline(state)
    return {
        "case_id": state.case_id,
        "stage": state.stage.value if state.stage else None,
        "track": state.track.value,
        "collection": state.collection.value,
        "arrears_cents": state.arrears_cents,
        "months_in_arrears": months_in_arrears(state, now),
        "next_deadline": {"kind": nxt[0], "due_at": nxt[1].isoformat()} if nxt else None,
        "closed": state.closed,
        "outcome": state.outcome.value if state.outcome else None,
        # extras
        "corporation": state.corporation,
        "municipality": state.municipality,
        "tenancy_ref": state.tenancy_ref,
        "collection_paused_until": _iso(state.collection_paused_until),
        "eviction_date": _iso(state.eviction_date),
        "mpzo_reasons": list(state.mpzo_reasons),
        "opened_at": _iso(state.opened_at),
        "closed_at": _iso(state.closed_at),
        "relapse_of": state.relapse_of,
        "policy": state.context.policy.model_dump() if state.context else None,
    }


def timeline(state: CaseState) -> list[dict[str, Any]]:
    return [entry.model_dump(mode="json") for entry in state.timeline]


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------------------------------------
# The step machinery
# ---------------------------------------------------------------------------------------------


class _Step:
    """Mutable working copy for one step; handlers talk to it."""

    def __init__(self, state: CaseState, now: datetime) -> None:
        self.s = state
        self.now = now
        self.actions: list[PlannedAction] = []
        self.entry: TimelineEntry | None = None
        self.fired: list[tuple[str, datetime]] = []

    # timeline -----------------------------------------------------------------------------
    def record(self, category: str, kind: str, /, **detail: Any) -> TimelineEntry:
        # positional-only: an event field may be called `kind` (concern_reported)
        entry = TimelineEntry(at=self.now, category=category, kind=kind, detail=detail)
        self.s.timeline.append(entry)
        return entry

    def note(self, **detail: Any) -> None:
        """Add to the entry that caused this step (the event or the deadline)."""
        assert self.entry is not None
        self.entry.detail.update({k: _jsonable(v) for k, v in detail.items()})

    # actions ------------------------------------------------------------------------------
    def act(self, action: str, receivers: list[Receiver], reason: str | None = None,
            **detail: Any) -> None:
        self.s.action_seq += 1
        detail = {k: _jsonable(v) for k, v in detail.items()}
        planned = PlannedAction(
            seq=self.s.action_seq, action=action, receivers=receivers, reason=reason, detail=detail
        )
        self.actions.append(planned)
        for receiver in receivers:
            if receiver not in self.s.involved:
                self.s.involved.append(receiver)
        extra = {"reason": reason} if reason else {}
        self.record(
            "action", action, seq=planned.seq, receivers=[r.value for r in receivers],
            **extra, **detail,
        )

    def escalate(self, reason: str, receivers: list[Receiver]) -> None:
        self.act("escalation_raised", receivers, reason=reason)

    def notify_mpzo(self, reason: str) -> None:
        """R5: report to the MPZO, once per reason; track 2; stage care unless crisis."""
        if reason in self.s.mpzo_reasons:
            return
        self.act("mpzo_notified", [Receiver.mpzo], reason=reason)
        self.s.mpzo_reasons.append(reason)
        self.s.track = Track.spoor_2
        if self.s.stage not in (Stage.crisis, *_ENDED):
            self.s.stage = Stage.care

    # deadlines ----------------------------------------------------------------------------
    def set_deadline(self, kind: str, due: datetime) -> None:
        self.s.deadlines[kind] = due

    def clear_deadline(self, *kinds: str) -> None:
        for kind in kinds:
            self.s.deadlines.pop(kind, None)

    def finish(self) -> Step:
        _fire_due(self)
        return Step(state=self.s, actions=self.actions, fired=self.fired)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def apply_event(state: CaseState, event: EventBase, now: datetime) -> Step:
    """Apply one event (a signal). Duplicates (same source and event_id) change nothing."""
    key = f"{event.source}:{event.event_id}"
    if key in state.seen_event_ids:
        return Step(state=state, duplicate=True)

    event_type: str = event.type  # type: ignore[attr-defined]
    fields = event.model_dump(mode="json", exclude={"type", "event_id", "source", "occurred_at"})
    detail = {"event_id": event.event_id, "source": event.source, **fields}
    if event.occurred_at is not None:
        detail["occurred_at"] = event.occurred_at.isoformat()

    work = _Step(state.model_copy(deep=True), now)
    work.s.seen_event_ids.append(key)
    try:
        _check_admissible(state, event_type, event.source)
        work.entry = work.record("event", event_type, **detail)
        _HANDLERS[event_type](work, event)
        return work.finish()
    except Ignored as why:
        kept = state.model_copy(deep=True)
        kept.seen_event_ids.append(key)
        kept.timeline.append(
            TimelineEntry(at=now, category="ignored", kind=event_type,
                          detail=_ignored_detail(detail, str(why)))
        )
        return Step(state=kept, ignored=str(why))


def _ignored_detail(detail: dict[str, Any], why: str) -> dict[str, Any]:
    """`reason` says why the event was ignored; an event's own `reason` field is kept as
    `event_reason` (signal_bounced, tenancy_ended, case_closed carry one)."""
    kept = dict(detail)
    if "reason" in kept:
        kept["event_reason"] = kept.pop("reason")
    kept["reason"] = why
    return kept


def fire_due_deadlines(state: CaseState, now: datetime) -> Step:
    """Fire every deadline due at or before `now`, earliest first."""
    work = _Step(state.model_copy(deep=True), now)
    return work.finish()


def _fire_due(work: _Step) -> None:
    while True:
        nxt = next_deadline(work.s)
        if nxt is None or nxt[1] > work.now:
            return
        kind, due = nxt
        del work.s.deadlines[kind]
        work.fired.append((kind, due))
        previous_entry = work.entry
        work.entry = work.record("deadline", kind, due_at=due.isoformat())
        _DEADLINE_HANDLERS[kind](work)
        work.entry = previous_entry


def _check_admissible(state: CaseState, event_type: str, source: str) -> None:
    if state.closed:
        raise Ignored(f"case is closed ({state.outcome.value if state.outcome else 'closed'})")
    if not state.opened and event_type not in OPENING_EVENTS:
        raise Ignored(
            "no open case: a case opens with arrears_reported, self_referral or concern_reported"
        )
    parties = state.context.parties if state.context else {}
    kind = parties.get(source)
    if kind is None:
        raise Ignored(f"source {source!r} is not a party to this case")
    if kind not in EVENT_SENDERS[event_type]:
        allowed = ", ".join(sorted(k.value for k in EVENT_SENDERS[event_type]))
        raise Ignored(f"a {kind.value} may not send {event_type} (allowed: {allowed})")


# ---------------------------------------------------------------------------------------------
# Shared moves
# ---------------------------------------------------------------------------------------------


def _open(work: _Step, stage: Stage) -> None:
    s = work.s
    s.opened = True
    s.opened_at = work.now
    s.stage = stage
    s.track = Track.spoor_1
    s.collection = Collection.active
    prev = s.context.previous_episode if s.context else None
    if prev is not None:
        window_end = calendar.add_months(calendar.local_date(prev.closed_at),
                                         s.policy.relapse_window_months)
        if calendar.local_date(work.now) <= window_end:
            s.relapse_of = prev.run_id
            work.note(relapse_of=prev.run_id, previous_outcome=prev.outcome)
        else:
            work.note(previous_episode=prev.run_id)


def _size_months(s: CaseState) -> int:
    return s.arrears_cents // s.monthly_rent_cents if s.monthly_rent_cents else 0


def _arm_arrears_clocks(work: _Step) -> None:
    """Early signal (R2) and the months rule (R5c), by age as timers and by size at once."""
    s = work.s
    if s.arrears_cents <= 0 or s.arrears_since is None or s.stage in _ENDED:
        return
    policy = s.policy
    if (s.early_signal_at is None and not s.early_signal_blocked and not s.self_referral
            and not s.help_accepted and not s.awaiting_reminder):
        due_day = s.arrears_since + timedelta(days=policy.early_signal_after_days)
        work.set_deadline(EARLY_SIGNAL_DUE, calendar.start_of_day(due_day))
    if not s.help_accepted and MPZO_ARREARS_MONTHS not in s.mpzo_reasons:
        if _size_months(s) >= policy.mpzo_after_months:
            work.clear_deadline(MPZO_MONTHS_THRESHOLD)
            work.notify_mpzo(MPZO_ARREARS_MONTHS)
        else:
            due_day = calendar.add_months(s.arrears_since, policy.mpzo_after_months)
            work.set_deadline(MPZO_MONTHS_THRESHOLD, calendar.start_of_day(due_day))


def _submit_early_signal(work: _Step) -> None:
    s = work.s
    s.early_signal_at = work.now
    s.awaiting_reminder = False
    work.clear_deadline(EARLY_SIGNAL_DUE)
    work.act("early_signal_submitted", [Receiver.municipality],
             arrears_months=months_in_arrears(s, work.now))
    if s.stage == Stage.arrears:
        s.stage = Stage.early_signal
    work.set_deadline(HELP_PLAN_DEADLINE,
                      work.now + timedelta(days=s.policy.help_plan_deadline_days))


def _block_early_signal(work: _Step) -> None:
    work.s.early_signal_blocked = True
    work.s.awaiting_reminder = False
    work.clear_deadline(EARLY_SIGNAL_DUE)
    work.note(result="early_signal_blocked", why="tenant objects to the signal")


def _start_aftercare(work: _Step) -> None:
    """R10 and decision 8: arrears cleared at any stage -> aftercare; any crisis is off."""
    s = work.s
    s.stage = Stage.aftercare
    s.collection = Collection.active
    s.collection_paused_until = None
    s.eviction_date = None
    s.moratorium_until = None
    s.awaiting_reminder = False
    s.arrangement = None  # paid off: nothing left to breach
    s.deadlines.clear()
    work.set_deadline(
        AFTERCARE_END,
        calendar.start_of_day(
            calendar.add_months(calendar.local_date(work.now), s.policy.aftercare_months)
        ),
    )
    work.act("aftercare_started", [Receiver.social_team])


def _close(work: _Step, outcome: Outcome, **detail: Any) -> None:
    s = work.s
    s.stage = Stage.closed
    s.closed = True
    s.closed_at = work.now
    s.outcome = outcome
    s.deadlines.clear()
    # `outcome` in the detail too: the delivered message states it (activities read detail).
    work.act("case_closed", list(s.involved), reason=outcome.value, outcome=outcome.value,
             **detail)


def _pause_collection(work: _Step, until: datetime | None) -> None:
    s = work.s
    already = s.collection == Collection.paused
    s.collection = Collection.paused
    s.collection_paused_until = until
    if until is None:
        work.clear_deadline(COLLECTION_PAUSE_END)
    else:
        work.set_deadline(COLLECTION_PAUSE_END, until)
    if not already:
        work.act("collection_paused", [Receiver.corporation],
                 until=until if until else "until an arrangement is agreed or breached")


def _resume_collection(work: _Step) -> None:
    s = work.s
    s.collection = Collection.active
    s.collection_paused_until = None
    work.clear_deadline(COLLECTION_PAUSE_END)
    work.act("collection_resumed", [Receiver.corporation])


def _require_open_arrears(work: _Step) -> None:
    if work.s.stage == Stage.aftercare:
        raise Ignored("the arrears are cleared and the case is in aftercare")


def _require_crisis(work: _Step) -> None:
    if work.s.stage != Stage.crisis:
        raise Ignored("no eviction announced: the case is not in crisis")


# ---------------------------------------------------------------------------------------------
# Event handlers (one per signal)
# ---------------------------------------------------------------------------------------------


def _on_arrears_reported(work: _Step, e: Any) -> None:
    s = work.s
    relapse = s.opened and s.stage == Stage.aftercare
    if not s.opened:
        _open(work, Stage.arrears)  # R1
    s.arrears_cents = e.arrears_cents
    s.monthly_rent_cents = e.monthly_rent_cents
    s.arrears_since = e.arrears_since
    if not s.tenant_notified:  # R1 (also when a case opened otherwise first learns of arrears)
        s.tenant_notified = True
        work.act("tenant_notice_sent", [Receiver.corporation])
    if relapse:  # R10: new arrears during aftercare
        work.clear_deadline(AFTERCARE_END)
        work.escalate("relapse", [Receiver.social_team, Receiver.corporation])
        s.stage = Stage.arrears
        s.early_signal_at = None
        s.early_signal_blocked = False
        s.self_referral = False
        s.help_accepted = False
        s.debt_help_started = False
        s.arrangement = None
        # The court steps belonged to the cleared arrears; a new stretch starts without them.
        s.summons_served = False
        s.hearing_date = None
        s.eviction_granted = None
        s.consultation_requested = False
        s.moratorium_requested = False
        s.crisis_meeting_result = None
        # The earlier reminder (and objection) counts: the signal clock runs again, and when it
        # is due the signal goes, or an objection is recorded on the timeline as
        # early_signal_blocked (R2), rather than the signal being dropped silently here.
    _arm_arrears_clocks(work)


def _on_payment_received(work: _Step, e: Any) -> None:
    s = work.s
    if s.stage == Stage.aftercare:
        if e.arrears_cents > 0:
            raise Ignored("case is in aftercare; report new arrears with arrears_reported")
        return
    s.arrears_cents = e.arrears_cents
    if e.arrears_cents == 0:
        _start_aftercare(work)
    else:
        _arm_arrears_clocks(work)


def _on_reminder_sent(work: _Step, e: Any) -> None:
    s = work.s
    _require_open_arrears(work)
    s.reminder_sent = True
    s.tenant_objected = e.tenant_objects_to_signal
    if s.awaiting_reminder:  # R2: the signal goes as soon as the reminder arrives
        if s.tenant_objected:
            _block_early_signal(work)
        else:
            _submit_early_signal(work)


def _on_self_referral(work: _Step, e: Any) -> None:
    s = work.s
    if not s.opened:
        _open(work, Stage.arrears)
    elif s.help_accepted or s.stage == Stage.aftercare:
        raise Ignored("help is already in place for this case")
    s.self_referral = True
    s.awaiting_reminder = False
    work.clear_deadline(EARLY_SIGNAL_DUE)  # R2: a self-referral skips the signal
    work.set_deadline(HELP_PLAN_DEADLINE,
                      work.now + timedelta(days=s.policy.help_plan_deadline_days))


def _on_not_taken_up(work: _Step, e: Any) -> None:
    """signal_bounced, no_contact, help_refused: R5(b)."""
    s = work.s
    _require_open_arrears(work)
    if s.early_signal_at is None and not s.self_referral:
        raise Ignored("no early signal was submitted and the tenant did not refer themselves")
    if s.help_accepted:
        raise Ignored("help was already accepted")
    work.clear_deadline(HELP_PLAN_DEADLINE)
    work.notify_mpzo(MPZO_NOT_TAKEN_UP)


def _on_help(work: _Step, e: Any) -> None:
    """help_accepted and debt_help_started: R3, or R7 after a summons."""
    s = work.s
    _require_open_arrears(work)
    starting_debt_help = e.type == "debt_help_started"
    if s.summons_served or s.stage == Stage.crisis:  # R7
        s.help_accepted = True
        s.awaiting_reminder = False  # help is in place: no early signal any more (as in R3)
        s.debt_help_started = s.debt_help_started or starting_debt_help
        work.clear_deadline(HELP_PLAN_DEADLINE, MPZO_MONTHS_THRESHOLD, EARLY_SIGNAL_DUE)
        if starting_debt_help and s.collection == Collection.paused:
            # R3: debt help extends a pause already running (R7 starts no new one). Without
            # this the pause timer later found debt help started and left collection paused
            # for good, still showing the past end date.
            _pause_collection(work, None)
        if not s.consultation_requested:
            s.consultation_requested = True
            work.act("postponement_consultation_requested",
                     [Receiver.corporation, Receiver.social_service])
        else:
            work.note(result="postponement consultation already requested")
        return
    if starting_debt_help and s.debt_help_started:
        raise Ignored("debt help has already started")
    if not starting_debt_help and s.help_accepted:
        raise Ignored("help was already accepted")
    newly = not s.help_accepted
    s.help_accepted = True
    s.awaiting_reminder = False
    work.clear_deadline(HELP_PLAN_DEADLINE, MPZO_MONTHS_THRESHOLD, EARLY_SIGNAL_DUE)
    if starting_debt_help:
        s.debt_help_started = True
        _pause_collection(work, None)  # extended until an arrangement is agreed or breached
    elif s.collection == Collection.active:
        _pause_collection(work, work.now + timedelta(days=s.policy.collection_pause_days))
    if newly:
        work.act("casusregie_assigned", [Receiver.social_team])
    if s.stage in (Stage.arrears, Stage.early_signal, Stage.care):
        s.stage = Stage.debt_help


def _on_arrangement_agreed(work: _Step, e: Any) -> None:
    s = work.s
    _require_open_arrears(work)
    s.arrangement = {"monthly_amount_cents": e.monthly_amount_cents, "months": e.months}
    s.help_accepted = True
    s.awaiting_reminder = False
    work.clear_deadline(HELP_PLAN_DEADLINE, MPZO_MONTHS_THRESHOLD, EARLY_SIGNAL_DUE)
    if s.stage == Stage.crisis:
        work.note(result="recorded; the crisis stays until the eviction is off the table")
        if s.collection == Collection.paused:
            # R3: collection stays paused while the arrangement runs. Without this a running
            # 30-day pause found the arrangement at its end and left collection paused for
            # good, still showing the past end date.
            _pause_collection(work, None)
        return
    _pause_collection(work, None)
    s.stage = Stage.arrangement


def _on_arrangement_breached(work: _Step, e: Any) -> None:
    s = work.s
    if s.arrangement is None:
        raise Ignored("no payment arrangement is running")
    s.arrangement = None
    s.help_accepted = False
    s.debt_help_started = False
    if s.collection == Collection.paused:
        _resume_collection(work)
    if s.stage == Stage.arrangement:
        s.stage = Stage.arrears
    _arm_arrears_clocks(work)  # R6: the months rule applies again


def _on_concern_reported(work: _Step, e: Any) -> None:
    s = work.s
    if not s.opened:
        _open(work, Stage.care)
    if e.kind not in s.concerns:
        s.concerns.append(e.kind)
    work.notify_mpzo(f"concern_{e.kind}")  # R5(d)


def _on_mpzo_plan_ready(work: _Step, e: Any) -> None:
    if not work.s.mpzo_involved:
        raise Ignored("the MPZO has not been notified for this case")
    work.s.mpzo_plan_ready = True


def _on_care_started(work: _Step, e: Any) -> None:
    work.s.care_started_by = e.by


def _on_summons_served(work: _Step, e: Any) -> None:
    s = work.s
    _require_open_arrears(work)
    s.summons_served = True
    s.hearing_date = e.hearing_date
    work.notify_mpzo(MPZO_SUMMONS)  # R5(a): always, even in debt help


def _on_judgment_given(work: _Step, e: Any) -> None:
    if not work.s.summons_served:
        raise Ignored("no summons was served")
    work.s.eviction_granted = e.eviction_granted


def _on_eviction_announced(work: _Step, e: Any) -> None:
    s = work.s
    _require_open_arrears(work)
    s.eviction_date = e.eviction_date
    if s.stage == Stage.crisis:
        work.note(result="eviction date updated; the crisis protocol is already running")
        return
    s.stage = Stage.crisis  # R8
    s.crisis_meeting_result = None
    if not s.mpzo_involved:
        work.notify_mpzo(MPZO_EVICTION_ANNOUNCED)  # R5(e)
    work.act("crisis_protocol_invoked", [Receiver.social_service],
             eviction_date=e.eviction_date)
    work.set_deadline(
        CRISIS_MEETING_DEADLINE,
        calendar.working_days_deadline(work.now, s.policy.crisis_response_working_days),
    )


def _on_crisis_meeting_held(work: _Step, e: Any) -> None:
    s = work.s
    _require_crisis(work)
    work.clear_deadline(CRISIS_MEETING_DEADLINE)
    s.crisis_meeting_result = e.result
    if e.result not in ("moratorium_needed", "no_solution"):
        return
    if s.eviction_date is None or s.eviction_date <= calendar.local_date(work.now):
        work.note(result="no moratorium requested: the eviction date is not ahead")
        return
    if "nuisance" in s.concerns:  # R9: "geen sprake van overlast"
        work.escalate("moratorium_excluded_nuisance",
                      [Receiver.social_service, Receiver.corporation])
    elif not s.moratorium_requested:
        s.moratorium_requested = True
        work.act("moratorium_requested", [Receiver.social_service],
                 eviction_date=s.eviction_date)


def _on_eviction_postponed(work: _Step, e: Any) -> None:
    _require_crisis(work)
    work.s.eviction_date = e.new_eviction_date


def _on_moratorium_granted(work: _Step, e: Any) -> None:
    _require_crisis(work)
    if e.until <= calendar.local_date(work.now):
        raise Ignored("the moratorium's end date is not in the future")
    work.s.moratorium_until = e.until
    work.set_deadline(MORATORIUM_END, calendar.start_of_day(e.until + timedelta(days=1)))


def _on_moratorium_rejected(work: _Step, e: Any) -> None:
    _require_crisis(work)
    work.s.moratorium_requested = False


def _on_eviction_executed(work: _Step, e: Any) -> None:
    work.notify_mpzo(MPZO_EVICTED)  # R11: shelter
    _close(work, Outcome.evicted)


def _on_tenancy_ended(work: _Step, e: Any) -> None:
    _close(work, Outcome.tenancy_ended, why=e.reason)


def _on_case_closed(work: _Step, e: Any) -> None:
    _close(work, Outcome.withdrawn)


_HANDLERS: dict[str, Callable[[_Step, Any], None]] = {
    "arrears_reported": _on_arrears_reported,
    "payment_received": _on_payment_received,
    "reminder_sent": _on_reminder_sent,
    "self_referral": _on_self_referral,
    "signal_bounced": _on_not_taken_up,
    "no_contact": _on_not_taken_up,
    "help_accepted": _on_help,
    "help_refused": _on_not_taken_up,
    "debt_help_started": _on_help,
    "payment_arrangement_agreed": _on_arrangement_agreed,
    "arrangement_breached": _on_arrangement_breached,
    "concern_reported": _on_concern_reported,
    "mpzo_plan_ready": _on_mpzo_plan_ready,
    "care_started": _on_care_started,
    "summons_served": _on_summons_served,
    "judgment_given": _on_judgment_given,
    "eviction_announced": _on_eviction_announced,
    "crisis_meeting_held": _on_crisis_meeting_held,
    "eviction_postponed": _on_eviction_postponed,
    "moratorium_granted": _on_moratorium_granted,
    "moratorium_rejected": _on_moratorium_rejected,
    "eviction_executed": _on_eviction_executed,
    "tenancy_ended": _on_tenancy_ended,
    "case_closed": _on_case_closed,
}


# ---------------------------------------------------------------------------------------------
# Deadline handlers (one per timer)
# ---------------------------------------------------------------------------------------------


def _early_signal_due(work: _Step) -> None:
    """R2."""
    s = work.s
    if s.arrears_cents <= 0 or s.early_signal_at or s.help_accepted or s.self_referral:
        work.note(result="no signal needed")
    elif not s.reminder_sent:
        s.awaiting_reminder = True
        work.escalate("reminder_missing", [Receiver.corporation])
    elif s.tenant_objected:
        _block_early_signal(work)
    else:
        _submit_early_signal(work)


def _help_plan_deadline(work: _Step) -> None:
    """R5(b) and decision 3: no help accepted within the deadline = not taken up."""
    if work.s.help_accepted:
        work.note(result="help accepted in time")
        return
    work.notify_mpzo(MPZO_NOT_TAKEN_UP)


def _collection_pause_end(work: _Step) -> None:
    """R4."""
    s = work.s
    if s.collection != Collection.paused or s.debt_help_started or s.arrangement is not None:
        work.note(result="pause no longer running")
        return
    _resume_collection(work)
    work.escalate("pause_expired", [Receiver.social_team, Receiver.corporation])
    s.help_accepted = False
    if s.stage == Stage.debt_help:
        s.stage = Stage.arrears
    _arm_arrears_clocks(work)


def _mpzo_months_threshold(work: _Step) -> None:
    """R5(c) by age."""
    s = work.s
    if s.help_accepted or s.arrears_cents <= 0:
        work.note(result="help accepted or arrears cleared")
        return
    work.notify_mpzo(MPZO_ARREARS_MONTHS)


def _crisis_meeting_deadline(work: _Step) -> None:
    """R8: the crisis meeting is overdue."""
    if work.s.stage != Stage.crisis or work.s.crisis_meeting_result is not None:
        return
    work.escalate("crisis_meeting_overdue", [Receiver.social_service, Receiver.corporation])


def _moratorium_end(work: _Step) -> None:
    work.s.moratorium_until = None
    work.note(result="moratorium ended")


def _aftercare_end(work: _Step) -> None:
    """R10: aftercare completed without new arrears -> resolved."""
    work.act("aftercare_completed", [Receiver.social_team])
    _close(work, Outcome.resolved)


_DEADLINE_HANDLERS: dict[str, Callable[[_Step], None]] = {
    EARLY_SIGNAL_DUE: _early_signal_due,
    HELP_PLAN_DEADLINE: _help_plan_deadline,
    COLLECTION_PAUSE_END: _collection_pause_end,
    MPZO_MONTHS_THRESHOLD: _mpzo_months_threshold,
    CRISIS_MEETING_DEADLINE: _crisis_meeting_deadline,
    MORATORIUM_END: _moratorium_end,
    AFTERCARE_END: _aftercare_end,
}

assert set(_HANDLERS) == set(EVENT_SENDERS), "every event needs a handler"
assert set(_DEADLINE_HANDLERS) == set(DEADLINES), "every deadline needs a handler"
