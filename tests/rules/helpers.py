"""A tiny driver for the pure rules core (vangnet.rules): no Temporal, no database, no clock.

    case = CaseDriver.dordrecht()
    case.send("arrears_reported", at=ams(2025, 3, 1, 9), arrears_cents=..., ...)
    case.advance_to(ams(2025, 4, 1))

`send` parses the payload with `vangnet.domain.parse_event` (as the intake does), first fires every
deadline due up to the event's moment (as the workflow's durable timers would), then applies it.
Every call checks that the rules core did not mutate its input and that the case stays consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from vangnet.domain import (
    CaseContext,
    Collection,
    PartyKind,
    PreviousEpisode,
    Stage,
    Track,
    case_id_for,
    parse_event,
)
from vangnet.policy import Policy
from vangnet.rules import (
    AFTERCARE_END,
    CASE_REVIEW_DUE,
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    CURRENT_RULES,
    EARLY_SIGNAL_DUE,
    EVICTION_OUTCOME_DEADLINE,
    HELP_PLAN_DEADLINE,
    MORATORIUM_END,
    MPZO_MONTHS_THRESHOLD,
    MPZO_PLAN_DEADLINE,
    SEEN_EVENT_IDS_LIMIT,
    CaseState,
    PlannedAction,
    Step,
    apply_event,
    apply_payload,
    fire_due_deadlines,
    new_case,
    next_deadline,
    status,
    timeline,
)

AMS = ZoneInfo("Europe/Amsterdam")


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock moment in Dutch time (aware)."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def midnight(day: date) -> datetime:
    """00:00 Dutch time at the start of `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=AMS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


CORPORATION = "woonbron"

DORDRECHT_PARTIES: dict[str, PartyKind] = {
    "woonbron": PartyKind.corporation,
    "dordrecht": PartyKind.municipality,
    "sdd": PartyKind.social_service,
    "sociale-wijkteams-dordrecht": PartyKind.social_team,
    "mpzo": PartyKind.mpzo,
    "operator": PartyKind.operator,
}

GORINCHEM_PARTIES: dict[str, PartyKind] = {
    "woonbron": PartyKind.corporation,
    "gorinchem": PartyKind.municipality,
    "avres": PartyKind.social_service,
    "sociaal-team-gorinchem": PartyKind.social_team,
    "mpzo": PartyKind.mpzo,
    "operator": PartyKind.operator,
}

MUNICIPALITIES = {
    "dordrecht": ("sdd", "sociale-wijkteams-dordrecht", DORDRECHT_PARTIES),
    "gorinchem": ("avres", "sociaal-team-gorinchem", GORINCHEM_PARTIES),
}

# Who sends an event when a test does not say: the first allowed kind, in this order.
_DEFAULT_KIND: dict[str, PartyKind] = {
    "arrears_reported": PartyKind.corporation,
    "payment_received": PartyKind.corporation,
    "reminder_sent": PartyKind.corporation,
    "self_referral": PartyKind.social_team,
    "signal_bounced": PartyKind.municipality,
    "no_contact": PartyKind.municipality,
    "help_accepted": PartyKind.municipality,
    "help_refused": PartyKind.municipality,
    "debt_help_started": PartyKind.social_service,
    "debt_help_ended": PartyKind.social_service,
    "progress_reported": PartyKind.social_team,
    "payment_arrangement_agreed": PartyKind.social_service,
    "arrangement_breached": PartyKind.corporation,
    "concern_reported": PartyKind.corporation,
    "mpzo_plan_ready": PartyKind.mpzo,
    "care_started": PartyKind.mpzo,
    "summons_served": PartyKind.corporation,
    "judgment_given": PartyKind.corporation,
    "eviction_announced": PartyKind.corporation,
    "crisis_meeting_held": PartyKind.social_service,
    "eviction_postponed": PartyKind.corporation,
    "moratorium_granted": PartyKind.social_service,
    "moratorium_rejected": PartyKind.social_service,
    "eviction_executed": PartyKind.corporation,
    "tenancy_ended": PartyKind.corporation,
    "case_closed": PartyKind.operator,
}


def make_context(
    municipality: str = "dordrecht",
    policy: Policy | None = None,
    previous_episode: PreviousEpisode | None = None,
) -> CaseContext:
    social_service, social_team, parties = MUNICIPALITIES[municipality]
    return CaseContext(
        social_service=social_service,
        social_team=social_team,
        mpzo="mpzo",
        policy=policy or Policy(),
        parties=dict(parties),
        previous_episode=previous_episode,
    )


def make_state(
    municipality: str = "dordrecht",
    tenancy_ref: str = "HR-1001",
    policy: Policy | None = None,
    previous_episode: PreviousEpisode | None = None,
    rules_version: int = CURRENT_RULES,
) -> CaseState:
    state = new_case(case_id_for(CORPORATION, tenancy_ref), tenancy_ref, CORPORATION, municipality,
                     rules_version=rules_version)
    state.context = make_context(municipality, policy, previous_episode)
    return state


def act(action: str, *receivers: str, reason: str | None = None) -> tuple:
    """The expected shape of one planned action: (name, receivers, reason)."""
    return (action, tuple(receivers), reason)


def shape(actions: list[PlannedAction]) -> list[tuple]:
    return [(a.action, tuple(r.value for r in a.receivers), a.reason) for a in actions]


def core(state: CaseState) -> dict[str, Any]:
    """The state without the parts an ignored event may touch (timeline, seen event ids)."""
    return state.model_dump(exclude={"timeline", "seen_event_ids"})


def fingerprint(state: CaseState) -> tuple:
    """Enough of a state to see whether a step changed its input: everything but the timeline,
    and the timeline's entries by identity with the last few in full (a step adds entries to a
    new list and never touches earlier ones; a full dump per step made long cases slow)."""
    entries = state.timeline
    return (state.model_dump(exclude={"timeline"}), id(entries), len(entries),
            [id(e) for e in entries[-50:]], [e.model_dump() for e in entries[-5:]])


def check_invariants(state: CaseState, now: datetime, previous: CaseState | None = None) -> None:
    """What must hold after every step, whatever came in (`previous`: the state the step
    started from, already checked)."""
    if not state.opened:
        assert state.stage is None
        assert not state.closed and state.outcome is None
        assert not state.deadlines
        assert all(e.category == "ignored" for e in state.timeline)
        return
    assert isinstance(state.stage, Stage)
    closed_by_stage = state.stage == Stage.closed
    assert state.closed == closed_by_stage == (state.outcome is not None), (
        state.closed, state.stage, state.outcome)
    if state.closed:
        assert state.deadlines == {}
        assert state.closed_at is not None
    else:
        # every deadline due by `now` has fired
        for kind, due in state.deadlines.items():
            assert due > now, (kind, due, now)
    if state.amended and not state.closed:
        # A1: an open case always owes something by a date
        assert state.deadlines, (state.stage, "open case without a deadline")
    if state.stage == Stage.aftercare:
        # its own timer, and A1's MPZO plan clock when a concern was reported in aftercare (R5d)
        assert set(state.deadlines) <= {AFTERCARE_END, MPZO_PLAN_DEADLINE}
        assert state.collection == Collection.active
        assert state.eviction_date is None
    if state.stage == Stage.care:
        assert state.mpzo_involved
    assert (state.track == Track.spoor_2) == state.mpzo_involved
    if state.collection == Collection.active:
        assert state.collection_paused_until is None
        assert COLLECTION_PAUSE_END not in state.deadlines
    elif not state.closed:
        assert state.deadlines.get(COLLECTION_PAUSE_END) == state.collection_paused_until
    # stages and the facts behind them
    if state.stage in (Stage.debt_help, Stage.arrangement):
        assert state.help_accepted
    if state.stage == Stage.arrangement:
        assert state.arrangement is not None
    if state.stage == Stage.early_signal:
        assert state.early_signal_at is not None
    if not state.closed:
        assert (AFTERCARE_END in state.deadlines) == (state.stage == Stage.aftercare)
        assert (MORATORIUM_END in state.deadlines) == (state.moratorium_until is not None)
    for kind in (CRISIS_MEETING_DEADLINE, MORATORIUM_END, EVICTION_OUTCOME_DEADLINE):
        if kind in state.deadlines:
            assert state.stage == Stage.crisis, (kind, state.stage)
    if state.help_accepted:
        assert not {HELP_PLAN_DEADLINE, MPZO_MONTHS_THRESHOLD, EARLY_SIGNAL_DUE} & set(
            state.deadlines)
    if state.awaiting_reminder:
        assert not state.reminder_sent and EARLY_SIGNAL_DUE not in state.deadlines
    if MPZO_PLAN_DEADLINE in state.deadlines:
        assert state.stretch_mpzo_reasons and not state.mpzo_plan_ready
    if CASE_REVIEW_DUE in state.deadlines and state.stage not in (
            Stage.debt_help, Stage.arrangement, Stage.care):
        assert set(state.deadlines) == {CASE_REVIEW_DUE}, "the review clock is the fallback here"
    # once-per-case (per-stretch, A5) actions, and nothing after the close: checked on the
    # entries this step added (the earlier ones were checked by the steps that made them)
    before = previous.timeline if previous is not None else []
    assert len(state.timeline) >= len(before)
    if before:
        assert state.timeline[len(before) - 1] is before[-1], "a step rewrote the timeline"
    added = state.timeline[len(before):]
    actions = [e for e in added if e.category == "action"]
    mpzo = [e.detail["reason"] for e in actions if e.kind == "mpzo_notified"]
    assert state.mpzo_reasons == (previous.mpzo_reasons if previous else []) + mpzo
    if state.amended:
        stretch = [r for r in state.stretch_mpzo_reasons if r != "summons_served"]
        assert len(stretch) == len(set(stretch))
    else:
        assert len(state.mpzo_reasons) == len(set(state.mpzo_reasons))
    notices = [e.kind for e in actions].count("tenant_notice_sent")
    assert notices <= (0 if previous is not None and previous.tenant_notified else 1)
    closes = [i for i, e in enumerate(added) if e.category == "action" and e.kind == "case_closed"]
    was_closed = previous is not None and previous.closed
    assert len(closes) == (1 if state.closed and not was_closed else 0)
    if closes:
        assert actions[-1].kind == "case_closed"
        assert all(e.category == "ignored" for e in added[closes[0] + 1:])
    if was_closed:
        assert all(e.category == "ignored" for e in added)
    # actions are numbered 1..n on the timeline, each once
    first_seq = (previous.action_seq if previous is not None else 0) + 1
    assert [e.detail["seq"] for e in actions] == list(range(first_seq, state.action_seq + 1))
    assert len(set(state.seen_event_ids)) == len(state.seen_event_ids)
    if state.amended:
        assert len(state.seen_event_ids) <= SEEN_EVENT_IDS_LIMIT


@dataclass
class CaseDriver:
    state: CaseState
    now: datetime
    actions: list[PlannedAction]
    _next_id: int = 0

    @classmethod
    def create(cls, municipality: str = "dordrecht", *, policy: Policy | None = None,
               previous_episode: PreviousEpisode | None = None,
               now: datetime | None = None, rules_version: int = CURRENT_RULES) -> CaseDriver:
        state = make_state(municipality, policy=policy, previous_episode=previous_episode,
                           rules_version=rules_version)
        return cls(state, now or ams(2025, 1, 1), [])

    @classmethod
    def dordrecht(cls, **kw: Any) -> CaseDriver:
        return cls.create("dordrecht", **kw)

    @classmethod
    def gorinchem(cls, **kw: Any) -> CaseDriver:
        return cls.create("gorinchem", **kw)

    # -- driving ------------------------------------------------------------------------------
    def default_source(self, event_type: str) -> str:
        kind = _DEFAULT_KIND[event_type]
        assert self.state.context is not None
        return next(code for code, k in self.state.context.parties.items() if k == kind)

    def payload(self, event_type: str, *, source: str | None = None,
                event_id: str | None = None, occurred_at: datetime | None = None,
                **fields: Any) -> dict[str, Any]:
        if event_id is None:
            self._next_id += 1
            event_id = f"ev-{self._next_id}"
        payload: dict[str, Any] = {"event_id": event_id,
                                   "source": source or self.default_source(event_type), **fields}
        if occurred_at is not None:
            payload["occurred_at"] = occurred_at
        return payload

    def event(self, event_type: str, *, now: datetime | None = None, **kw: Any):
        """The event as the workflow would parse it at `now` (default: the driver's clock)."""
        now = (now or self.now).astimezone(UTC)
        return parse_event(event_type, self.payload(event_type, **kw),
                           now=now if self.state.amended else None)

    def send(self, event_type: str, *, at: datetime | None = None, source: str | None = None,
             event_id: str | None = None, occurred_at: datetime | None = None,
             advance: bool = True, **fields: Any) -> Step:
        at = at or self.now
        assert at >= self.now, "events arrive in order"
        if advance:
            self.advance_to(at)
        event = self.event(event_type, now=at, source=source, event_id=event_id,
                           occurred_at=occurred_at, **fields)
        return self.apply(event, at)

    def send_payload(self, event_type: str, payload: Any, *, at: datetime | None = None,
                     advance: bool = True) -> Step:
        """A signal's payload as it arrived (it may be malformed): `rules.apply_payload`."""
        at = at or self.now
        if advance:
            self.advance_to(at)
        at = at.astimezone(UTC)
        before = fingerprint(self.state)
        step = apply_payload(self.state, event_type, payload, at)
        assert fingerprint(self.state) == before, "apply_payload mutated its input state"
        return self._took(step, at)

    def apply(self, event, at: datetime) -> Step:
        at = at.astimezone(UTC)  # the workflow passes workflow.now(), which is UTC
        before = fingerprint(self.state)
        step = apply_event(self.state, event, at)
        assert fingerprint(self.state) == before, "apply_event mutated its input state"
        return self._took(step, at)

    def advance_to(self, target: datetime) -> list[PlannedAction]:
        """Fire deadlines in order, each at its own due moment, then once at `target`."""
        fired: list[PlannedAction] = []
        while (nxt := next_deadline(self.state)) is not None and nxt[1] <= target:
            fired += self._fire(max(nxt[1], self.now)).actions
        fired += self._fire(target).actions
        return fired

    def advance(self, **delta: Any) -> list[PlannedAction]:
        from datetime import timedelta
        return self.advance_to(self.now + timedelta(**delta))

    def _fire(self, at: datetime) -> Step:
        at = at.astimezone(UTC)
        before = fingerprint(self.state)
        step = fire_due_deadlines(self.state, at)
        assert fingerprint(self.state) == before, "fire_due_deadlines mutated its input state"
        return self._took(step, at)

    def _took(self, step: Step, at: datetime) -> Step:
        previous, self.state = self.state, step.state
        self.now = max(self.now, at)
        self.actions += step.actions
        check_invariants(self.state, self.now, previous)
        return step

    # -- reading ------------------------------------------------------------------------------
    @property
    def stage(self) -> Stage | None:
        return self.state.stage

    @property
    def track(self) -> Track:
        return self.state.track

    @property
    def collection(self) -> Collection:
        return self.state.collection

    @property
    def deadlines(self) -> dict[str, datetime]:
        return dict(self.state.deadlines)

    def status(self, now: datetime | None = None) -> dict[str, Any]:
        return status(self.state, now or self.now)

    def timeline(self) -> list[dict[str, Any]]:
        return timeline(self.state)

    def entries(self, category: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.timeline()
                if (category is None or e["category"] == category)
                and (kind is None or e["kind"] == kind)]

    def all_actions(self, name: str | None = None) -> list[tuple]:
        return [s for s in shape(self.actions) if name is None or s[0] == name]

    def action_names(self) -> list[str]:
        return [a.action for a in self.actions]


# Valid fields for each event type (for exhaustive and property tests).
SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "arrears_reported": {"arrears_cents": 80_000, "monthly_rent_cents": 80_000,
                         "arrears_since": "2025-03-01"},
    "payment_received": {"amount_cents": 10_000, "arrears_cents": 70_000},
    "reminder_sent": {"tenant_objects_to_signal": False},
    "self_referral": {},
    "signal_bounced": {"reason": "help_refused_before"},
    "no_contact": {},
    "help_accepted": {},
    "help_refused": {},
    "debt_help_started": {},
    "debt_help_ended": {"reason": "dropped_out"},
    "progress_reported": {},
    "payment_arrangement_agreed": {"monthly_amount_cents": 10_000, "months": 8},
    "arrangement_breached": {},
    "concern_reported": {"kind": "confused_behaviour"},
    "mpzo_plan_ready": {},
    "care_started": {"by": "bemoeizorg"},
    "summons_served": {"hearing_date": "2025-07-01"},
    "judgment_given": {"eviction_granted": True},
    "eviction_announced": {"eviction_date": "2025-08-01"},
    "crisis_meeting_held": {"result": "moratorium_needed"},
    "eviction_postponed": {"new_eviction_date": None},
    "moratorium_granted": {"until": "2025-12-01"},
    "moratorium_rejected": {},
    "eviction_executed": {},
    "tenancy_ended": {"reason": "moved_out"},
    "case_closed": {"reason": "duplicate registration"},
}


# -- common openings ----------------------------------------------------------------------------

RENT = 80_000  # EUR 800 a month


def open_with_arrears(case: CaseDriver, *, at: datetime, since: date, months: float = 1,
                      rent: int = RENT) -> Step:
    return case.send("arrears_reported", at=at, arrears_cents=int(rent * months),
                     monthly_rent_cents=rent, arrears_since=since.isoformat())


def to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# -- receivers under RULES §11 -----------------------------------------------------------------

# A9(a): the early signal also informs the municipality's social service and social team.
SIGNAL_TO = ("municipality", "social_service", "social_team")


def mpzo_first(reason: str) -> tuple:
    """The first MPZO report of a stretch: A9(b) tells the social team too."""
    return act("mpzo_notified", "mpzo", "social_team", reason=reason)
