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
    COLLECTION_PAUSE_END,
    CRISIS_MEETING_DEADLINE,
    EARLY_SIGNAL_DUE,
    HELP_PLAN_DEADLINE,
    MORATORIUM_END,
    MPZO_MONTHS_THRESHOLD,
    CaseState,
    PlannedAction,
    Step,
    apply_event,
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
) -> CaseState:
    state = new_case(case_id_for(CORPORATION, tenancy_ref), tenancy_ref, CORPORATION, municipality)
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


def check_invariants(state: CaseState, now: datetime) -> None:
    """What must hold after every step, whatever came in."""
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
    if state.stage == Stage.aftercare:
        assert set(state.deadlines) <= {AFTERCARE_END}
        assert state.collection == Collection.active
        assert state.eviction_date is None
    if state.stage == Stage.care:
        assert state.mpzo_involved
    assert (state.track == Track.spoor_2) == state.mpzo_involved
    assert len(set(state.mpzo_reasons)) == len(state.mpzo_reasons)
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
    for kind in (CRISIS_MEETING_DEADLINE, MORATORIUM_END):
        if kind in state.deadlines:
            assert state.stage == Stage.crisis, (kind, state.stage)
    if state.help_accepted:
        assert not {HELP_PLAN_DEADLINE, MPZO_MONTHS_THRESHOLD, EARLY_SIGNAL_DUE} & set(
            state.deadlines)
    if state.awaiting_reminder:
        assert not state.reminder_sent and EARLY_SIGNAL_DUE not in state.deadlines
    # once-per-case actions, and nothing after the close
    actions = [e for e in state.timeline if e.category == "action"]
    mpzo = [e.detail["reason"] for e in actions if e.kind == "mpzo_notified"]
    assert len(mpzo) == len(set(mpzo)) and mpzo == state.mpzo_reasons
    assert [e.kind for e in actions].count("tenant_notice_sent") <= 1
    assert [e.kind for e in actions].count("case_closed") == (1 if state.closed else 0)
    if state.closed:
        assert actions[-1].kind == "case_closed"
        last_close = max(i for i, e in enumerate(state.timeline) if e.kind == "case_closed"
                         and e.category == "action")
        assert all(e.category == "ignored" for e in state.timeline[last_close + 1:])
    # actions are numbered 1..n on the timeline, each once
    seqs = [e.detail["seq"] for e in state.timeline if e.category == "action"]
    assert seqs == list(range(1, state.action_seq + 1))
    assert len(set(state.seen_event_ids)) == len(state.seen_event_ids)


@dataclass
class CaseDriver:
    state: CaseState
    now: datetime
    actions: list[PlannedAction]
    _next_id: int = 0

    @classmethod
    def create(cls, municipality: str = "dordrecht", *, policy: Policy | None = None,
               previous_episode: PreviousEpisode | None = None,
               now: datetime | None = None) -> CaseDriver:
        return cls(make_state(municipality, policy=policy, previous_episode=previous_episode),
                   now or ams(2025, 1, 1), [])

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

    def event(self, event_type: str, *, source: str | None = None, event_id: str | None = None,
              occurred_at: datetime | None = None, **fields: Any):
        if event_id is None:
            self._next_id += 1
            event_id = f"ev-{self._next_id}"
        payload: dict[str, Any] = {"event_id": event_id,
                                   "source": source or self.default_source(event_type), **fields}
        if occurred_at is not None:
            payload["occurred_at"] = occurred_at
        return parse_event(event_type, payload)

    def send(self, event_type: str, *, at: datetime | None = None, source: str | None = None,
             event_id: str | None = None, occurred_at: datetime | None = None,
             advance: bool = True, **fields: Any) -> Step:
        at = at or self.now
        assert at >= self.now, "events arrive in order"
        if advance:
            self.advance_to(at)
        event = self.event(event_type, source=source, event_id=event_id,
                           occurred_at=occurred_at, **fields)
        return self.apply(event, at)

    def apply(self, event, at: datetime) -> Step:
        at = at.astimezone(UTC)  # the workflow passes workflow.now(), which is UTC
        before = self.state.model_dump()
        step = apply_event(self.state, event, at)
        assert self.state.model_dump() == before, "apply_event mutated its input state"
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
        before = self.state.model_dump()
        step = fire_due_deadlines(self.state, at)
        assert self.state.model_dump() == before, "fire_due_deadlines mutated its input state"
        return self._took(step, at)

    def _took(self, step: Step, at: datetime) -> Step:
        self.state = step.state
        self.now = max(self.now, at)
        self.actions += step.actions
        check_invariants(self.state, self.now)
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
