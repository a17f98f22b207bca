"""The working copy of one step, which every handler talks to.

A step never changes its input. Instead of copying the whole state (its timeline grows with the
case: a deep copy per event cost 2 ms at 100 entries and 20 ms at 1,000), a step works on a
shallow copy whose few mutable containers (deadlines, involved parties, reason lists, seen event
ids) are copied too; the timeline is shared, and the step's own entries are kept apart and joined
to it only when the step succeeds. An event that is ignored, or fails, leaves the input as it was;
the caller builds the state it returns from the input, plus one `ignored` entry.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from vangnet import calendar
from vangnet.domain import Receiver, Stage, Track
from vangnet.rules.state import (
    ENDED,
    MPZO_PLAN_DEADLINE,
    MPZO_SUMMONS,
    SEEN_EVENT_IDS_LIMIT,
    CaseState,
    PlannedAction,
    Step,
    TimelineEntry,
)
from vangnet.vocabulary import Action, Escalation


class Ignored(Exception):
    """Raised by a handler before it changes anything: the event is recorded as `ignored`."""


def working_copy(state: CaseState) -> CaseState:
    """A copy that a step may change freely, except for its timeline (append nothing to it)."""
    s = state.model_copy()
    s.deadlines = dict(state.deadlines)
    s.involved = list(state.involved)
    s.concerns = list(state.concerns)
    s.mpzo_reasons = list(state.mpzo_reasons)
    s.stretch_mpzo_reasons = list(state.stretch_mpzo_reasons)
    s.seen_event_ids = list(state.seen_event_ids)
    return s


def remember(state: CaseState, key: str) -> list[str]:
    """The seen event ids with `key` added (the last SEEN_EVENT_IDS_LIMIT under §11)."""
    seen = [*state.seen_event_ids, key]
    if state.amended and len(seen) > SEEN_EVENT_IDS_LIMIT:
        del seen[: len(seen) - SEEN_EVENT_IDS_LIMIT]
    return seen


def jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


class Work:
    """One step in progress: the working state, the actions planned and the entries recorded."""

    def __init__(self, state: CaseState, now: datetime) -> None:
        self.base = state
        self.s = working_copy(state)
        self.now = now
        self.actions: list[PlannedAction] = []
        self.entries: list[TimelineEntry] = []
        self.entry: TimelineEntry | None = None  # the event or deadline this step is about
        self.fired: list[tuple[str, datetime]] = []  # deadlines consumed, even if rolled back

    @property
    def amended(self) -> bool:
        return self.s.amended

    @property
    def today(self) -> date:
        return calendar.local_date(self.now)

    # timeline -------------------------------------------------------------------------------
    def record(self, category: str, kind: str, /, **detail: Any) -> TimelineEntry:
        # positional-only: an event field may be called `kind` (concern_reported)
        entry = TimelineEntry(at=self.now, category=category, kind=kind, detail=detail)
        self.entries.append(entry)
        return entry

    def note(self, **detail: Any) -> None:
        """Add to the entry that caused this step (the event or the deadline)."""
        assert self.entry is not None
        self.entry.detail.update({k: jsonable(v) for k, v in detail.items()})

    # actions --------------------------------------------------------------------------------
    def act(self, action: Action, receivers: list[Receiver], reason: str | None = None,
            **detail: Any) -> None:
        self.s.action_seq += 1
        detail = {k: jsonable(v) for k, v in detail.items()}
        reason = str(reason) if reason is not None else None
        planned = PlannedAction(seq=self.s.action_seq, action=str(action), receivers=receivers,
                                reason=reason, detail=detail)
        self.actions.append(planned)
        for receiver in receivers:
            if receiver not in self.s.involved:
                self.s.involved.append(receiver)
        extra = {"reason": reason} if reason else {}
        self.record("action", str(action), seq=planned.seq,
                    receivers=[r.value for r in receivers], **extra, **detail)

    def escalate(self, reason: Escalation, receivers: list[Receiver], **detail: Any) -> None:
        self.act(Action.escalation_raised, receivers, reason=reason, **detail)

    def holder(self) -> Receiver:
        """A1: who holds casusregie: the social team in spoor 1, the MPZO in spoor 2."""
        return Receiver.mpzo if self.s.track == Track.spoor_2 else Receiver.social_team

    def notify_mpzo(self, reason: str) -> None:
        """R5: report to the MPZO; track 2; stage care unless crisis. Before §11 once per case;
        under A5 once per stretch, and every summons; A9(b): the first report of a stretch also
        tells the social team, and starts the MPZO's plan deadline (A1)."""
        s = self.s
        reason = str(reason)
        if not self.amended:
            if reason in s.mpzo_reasons:
                return
            self.act(Action.mpzo_notified, [Receiver.mpzo], reason=reason)
            s.mpzo_reasons.append(reason)
        else:
            if reason in s.stretch_mpzo_reasons and reason != MPZO_SUMMONS:
                return
            first = not s.stretch_mpzo_reasons
            receivers = [Receiver.mpzo, Receiver.social_team] if first else [Receiver.mpzo]
            self.act(Action.mpzo_notified, receivers, reason=reason)
            s.mpzo_reasons.append(reason)
            s.stretch_mpzo_reasons.append(reason)
            if first and not s.mpzo_plan_ready:
                self.set_deadline(MPZO_PLAN_DEADLINE, calendar.working_days_deadline(
                    self.now, s.policy.mpzo_plan_working_days))
        s.track = Track.spoor_2
        if s.stage not in (Stage.crisis, *ENDED):
            s.stage = Stage.care

    # deadlines ------------------------------------------------------------------------------
    def set_deadline(self, kind: str, due: datetime) -> None:
        self.s.deadlines[str(kind)] = due

    def set_deadline_in(self, kind: str, days: int) -> None:
        self.set_deadline(kind, self.now + timedelta(days=days))

    def clear_deadline(self, *kinds: str) -> None:
        for kind in kinds:
            self.s.deadlines.pop(str(kind), None)

    # all or nothing -------------------------------------------------------------------------
    def savepoint(self) -> tuple[CaseState, int, int, TimelineEntry | None]:
        return working_copy(self.s), len(self.entries), len(self.actions), self.entry

    def rollback(self, point: tuple[CaseState, int, int, TimelineEntry | None]) -> None:
        self.s, entries, actions, self.entry = point
        del self.entries[entries:]
        del self.actions[actions:]

    def result(self) -> Step:
        self.s.timeline = [*self.base.timeline, *self.entries]
        return Step(state=self.s, actions=self.actions, fired=self.fired)


def ignored_step(state: CaseState, kind: str, detail: dict[str, Any], now: datetime,
                 seen: str | None = None) -> Step:
    """The input state, unchanged but for one `ignored` entry (and the event id, if given)."""
    entry = TimelineEntry(at=now, category="ignored", kind=kind, detail=detail)
    update: dict[str, Any] = {"timeline": [*state.timeline, entry]}
    if seen is not None:
        update["seen_event_ids"] = remember(state, seen)
    return Step(state=state.model_copy(update=update), ignored=str(detail.get("reason", "")))
