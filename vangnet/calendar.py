"""Dates as the agreement counts them: local Dutch days, calendar months and working days.

Working days exclude weekends and Dutch public holidays from the maintained `holidays` library.
Everything here is pure and deterministic, so the workflow may call it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

TZ = ZoneInfo("Europe/Amsterdam")


def local_date(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def start_of_day(day: date) -> datetime:
    """00:00 Dutch time on `day`, as an aware UTC datetime."""
    return datetime.combine(day, time(0), TZ).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    return day + relativedelta(months=months)


def whole_months_between(start: date, end: date) -> int:
    if end <= start:
        return 0
    delta = relativedelta(end, start)
    return delta.years * 12 + delta.months


# The holidays of these years are computed once, at import, outside any workflow: `holidays`
# imports its country modules lazily and translates names with gettext, and the workflow sandbox
# forbids both (a workflow task that counted working days would fail, and be retried, forever).
_PRECOMPUTED_YEARS = range(2000, 2101)
_NL_HOLIDAYS = frozenset(holidays.country_holidays("NL", years=_PRECOMPUTED_YEARS).keys())


@lru_cache(maxsize=64)
def _dutch_holidays(year: int) -> frozenset[date]:
    """Years outside the precomputed range (not callable inside a workflow)."""
    return frozenset(holidays.country_holidays("NL", years=year).keys())


def is_working_day(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    if day.year in _PRECOMPUTED_YEARS:
        return day not in _NL_HOLIDAYS
    return day not in _dutch_holidays(day.year)


def add_working_days(day: date, count: int) -> date:
    """The `count`-th working day after `day` (`day` itself does not count)."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_deadline(moment: datetime, count: int) -> datetime:
    """End of the `count`-th Dutch working day after the day of `moment` (midnight after it)."""
    last_day = add_working_days(local_date(moment), count)
    return start_of_day(last_day + timedelta(days=1))
