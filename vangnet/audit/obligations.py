"""The parts of the compliance check (vangnet.audit.compliance): a finding, a timeline entry as
the check reads it, an obligation while it is open, and the small matchers that fulfil or end one.

Verdicts: an obligation done on or before its due day is `met`, after it `late`. One never done
is `missed` when the case closed or moved on after the due day, `overdue` while the case is open
and the day has passed, `pending` before it. A recurring obligation (A1's review clock: a report
at least every N days) is one finding per stretch: `met` while every report came in time, `late`
when one came after its day (by the longest overrun), `missed` when the stretch ended, or the
case closed, with the last period run out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from vangnet import calendar
from vangnet.audit.references import parse_time

MET, LATE, MISSED, OVERDUE, PENDING = "met", "late", "missed", "overdue", "pending"
VERDICTS = (MET, LATE, MISSED, OVERDUE, PENDING)
VANGNET = "vangnet"


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
        text = days(self.late_days)
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


def days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


@dataclass
class Entry:
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

    @property
    def receivers(self) -> set[str]:
        """Who an action went to: the roles (`receivers`) and the parties (`delivered_to`)."""
        return {str(r) for key in ("receivers", "delivered_to") for r in self.detail.get(key) or []}

    def is_event(self, *kinds: str) -> bool:
        return self.category == "event" and self.kind in kinds

    def is_action(self, kind: str, reason: str | None = None) -> bool:
        return (self.category == "action" and self.kind == kind
                and (reason is None or self.detail.get("reason") == reason))


Fulfil = Callable[[Entry], datetime | None]


def never(_: Entry) -> bool:
    return False


def by_reports_only(_: Entry) -> datetime | None:
    """The fulfilment of a recurring obligation (A1): reports close its periods, no single entry."""
    return None


@dataclass
class Open:
    key: str
    rule: str
    title: str
    responsible: str
    trigger: str
    trigger_at: datetime
    due_at: datetime
    fulfil: Fulfil
    cancel: Callable[[Entry], bool] = never
    working_days: int | None = None  # due counted in working days from the trigger day
    notes: list[str] = field(default_factory=list)
    # A1: an obligation that recurs (a report at least every `every`) until `cancel` ends it
    every: timedelta | None = None
    reports: int = 0
    last_done: datetime | None = None
    worst: tuple[int, date] | None = None  # the longest overrun so far: (days, its due day)
    last_due: date | None = None  # the due day of the last period a report closed
    # A1: the escalation vangnet owes when this one passes its due day: (key, rule, title, reason)
    escalation: tuple[str, str, str, str] | None = None
    escalated_for: datetime | None = None  # the due moment the escalation was armed for

    @property
    def due_day(self) -> date:
        if self.working_days is not None:
            return calendar.add_working_days(calendar.local_date(self.trigger_at),
                                             self.working_days)
        return calendar.local_date(self.due_at)

    def finding(self, verdict: str, done_at: datetime | None) -> Finding:
        late_days = late_wd = None
        due_day = self.due_day
        if verdict == LATE and done_at is not None:
            done_day = calendar.local_date(done_at)
            late_days = (done_day - due_day).days
            if self.working_days is not None:
                late_wd = working_days_between(due_day, done_day)
        if verdict == LATE and self.every is not None and self.worst is not None:
            late_days, due_day = self.worst
        elif verdict == MET and self.every is not None and self.last_due is not None:
            due_day = self.last_due
        return Finding(
            obligation=self.key, rule=self.rule, title=self.title,
            responsible=self.responsible, trigger=self.trigger, trigger_at=self.trigger_at,
            due_at=self.due_at, due_day=due_day, done_at=done_at, verdict=verdict,
            late_days=late_days, late_working_days=late_wd, notes=list(self.notes),
        )

    # -- recurring obligations (A1) ------------------------------------------------------------

    def report(self, done: datetime) -> None:
        """A report in a recurring obligation: note an overrun, and the next period starts."""
        assert self.every is not None
        overrun = (calendar.local_date(done) - self.due_day).days
        if overrun > 0 and (self.worst is None or overrun > self.worst[0]):
            self.worst = (overrun, self.due_day)
        self.reports += 1
        self.last_done = done
        self.last_due = self.due_day
        self.due_at = done + self.every

    def restart(self, at: datetime) -> None:
        """A1: the review clock restarts when a review stage starts."""
        assert self.every is not None
        self.due_at = at + self.every

    def stretch_verdict(self) -> str | None:
        """The verdict of a recurring obligation whose last period has not run out."""
        if self.worst is not None:
            return LATE
        return MET if self.reports else None


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end`."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            count += 1
    return count


def action(kind: str, reason: str | None = None, *, to: Iterable[str] = ()) -> Fulfil:
    """Fulfilled by the action (with that reason; to every one of the roles `to`, A9)."""
    needed = {str(r) for r in to if r}
    return lambda e: (e.at if e.is_action(kind, reason) and needed <= e.receivers else None)


def events(*kinds: str) -> Fulfil:
    return lambda e: e.happened if e.is_event(*kinds) else None


def stops(*, events: tuple[str, ...] = (), actions: tuple[str, ...] = ("case_closed",)
          ) -> Callable[[Entry], bool]:
    return lambda e: e.is_event(*events) or (e.category == "action" and e.kind in actions)


def describe(e: Entry) -> str:
    source = e.detail.get("source")
    return f"{e.kind} ({source})" if source else e.kind
