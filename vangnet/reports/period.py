"""Report periods: a quarter (`2026-Q3`), a year (`2026`), a month (`2026-07`) or any two dates,
in Dutch local days (Europe/Amsterdam), both ends included; and the moments the scheduled reports
run.

Default calendar of the quarterly report (decision, issue 11): one week before the first working
day of each quarter, at 07:00 Dutch time, so the figures are ready for the Adviesgroep's meeting
at the start of the quarter. A scheduled quarterly report covers the quarter it runs in, from its
first day up to and including the day before it runs ("t/m"); a scheduled annual report covers the
previous calendar year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from vangnet import calendar


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    start: date
    until: date  # included
    label: str

    def __post_init__(self) -> None:
        if self.until < self.start:
            raise PeriodError(f"the period ends ({self.until}) before it starts ({self.start})")

    @property
    def start_at(self) -> datetime:
        return calendar.start_of_day(self.start)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period (midnight after `until`, Dutch time)."""
        return calendar.start_of_day(self.until + timedelta(days=1))

    def contains(self, moment: datetime) -> bool:
        return self.start_at <= moment < self.end_at

    @property
    def slug(self) -> str:
        """For file and folder names."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label.replace(" t/m ", "_"))

    def describe(self) -> str:
        return f"{self.start.strftime('%d-%m-%Y')} t/m {self.until.strftime('%d-%m-%Y')}"


def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def quarter(year: int, q: int) -> Period:
    if not 1 <= q <= 4:
        raise PeriodError(f"a quarter is 1 to 4, not {q}")
    start = date(year, 3 * q - 2, 1)
    nxt = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return Period(start, nxt - timedelta(days=1), f"{year}-Q{q}")


def year(y: int) -> Period:
    return Period(date(y, 1, 1), date(y, 12, 31), str(y))


def parse_period(text: str) -> Period:
    """`2026-Q3`, `2026`, `2026-07`; a clear error for anything else."""
    text = text.strip()
    if m := re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text):
        return quarter(int(m[1]), int(m[2]))
    if m := re.fullmatch(r"(\d{4})", text):
        return year(int(m[1]))
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodError(f"{text!r}: month {mo} does not exist")
        nxt = date(y + (mo == 12), 1 if mo == 12 else mo + 1, 1)
        return Period(date(y, mo, 1), nxt - timedelta(days=1), text)
    raise PeriodError(f"--period must be a quarter (2026-Q3), a year (2026) or a month (2026-07), "
                      f"not {text!r}")


def between(start: date, until: date) -> Period:
    return Period(start, until, f"{start.isoformat()} t/m {until.isoformat()}")


def first_working_day(day: date) -> date:
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def quarterly_run_days(years: range) -> list[date]:
    """The default calendar: one week before the first working day of every quarter."""
    out = []
    for y in years:
        for q in range(1, 5):
            out.append(first_working_day(date(y, 3 * q - 2, 1)) - timedelta(days=7))
    return out


def scheduled_period(kind: str, when: datetime) -> Period:
    """What a scheduled report run at `when` covers: the annual report the previous calendar year;
    the quarterly report the quarter that `when` falls in, up to and including the day before."""
    day = calendar.local_date(when)
    if kind == "naleving":
        return year(day.year - 1)
    q = quarter(day.year, quarter_of(day))
    until = max(q.start, day - timedelta(days=1))
    if until >= q.until:
        return q
    return Period(q.start, until, f"{q.label}-tm-{until.isoformat()}")


__all__ = ["Period", "PeriodError", "between", "parse_period", "quarter", "quarterly_run_days",
           "scheduled_period", "year", "first_working_day"]
