"""vangnet.calendar: local Dutch days, calendar months, working days (weekends and Dutch public
holidays from the `holidays` library)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from vangnet import calendar

from .helpers import ams, midnight


def test_local_date_uses_dutch_time():
    assert calendar.local_date(datetime(2025, 6, 12, 22, 30, tzinfo=UTC)) == date(2025, 6, 13)
    assert calendar.local_date(datetime(2025, 1, 12, 22, 30, tzinfo=UTC)) == date(2025, 1, 12)
    assert calendar.local_date(datetime(2025, 1, 12, 23, 30, tzinfo=UTC)) == date(2025, 1, 13)


@pytest.mark.parametrize(
    ("day", "iso"),
    [
        (date(2025, 1, 15), "2025-01-14T23:00:00+00:00"),  # CET
        (date(2025, 7, 15), "2025-07-14T22:00:00+00:00"),  # CEST
        (date(2025, 3, 30), "2025-03-29T23:00:00+00:00"),  # the switch happens at 02:00
        (date(2025, 3, 31), "2025-03-30T22:00:00+00:00"),
        (date(2025, 10, 26), "2025-10-25T22:00:00+00:00"),
        (date(2025, 10, 27), "2025-10-26T23:00:00+00:00"),
    ],
)
def test_start_of_day_is_dutch_midnight_in_utc(day, iso):
    moment = calendar.start_of_day(day)
    assert moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0
    assert moment.isoformat() == iso
    assert moment == midnight(day)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 3, 1), 2, date(2025, 5, 1)),
        (date(2024, 12, 31), 2, date(2025, 2, 28)),
        (date(2023, 12, 31), 2, date(2024, 2, 29)),
        (date(2025, 8, 31), 1, date(2025, 9, 30)),
        (date(2025, 6, 1), 6, date(2025, 12, 1)),
        (date(2025, 9, 15), 6, date(2026, 3, 15)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(day, months, expected):
    assert calendar.add_months(day, months) == expected


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2025, 3, 1), date(2025, 3, 31), 0),
        (date(2025, 3, 1), date(2025, 4, 1), 1),
        (date(2025, 3, 1), date(2025, 4, 30), 1),
        (date(2025, 3, 1), date(2025, 5, 1), 2),
        (date(2024, 12, 31), date(2025, 2, 28), 2),  # consistent with add_months
        (date(2025, 3, 1), date(2026, 3, 1), 12),
        (date(2025, 3, 1), date(2025, 3, 1), 0),
        (date(2025, 3, 1), date(2025, 2, 1), 0),  # never negative
    ],
)
def test_whole_months_between(start, end, months):
    assert calendar.whole_months_between(start, end) == months


@pytest.mark.parametrize("n", [1, 2, 3, 6, 12])
@pytest.mark.parametrize("start", [date(2024, 12, 31), date(2025, 1, 31), date(2025, 3, 1),
                                   date(2025, 8, 30)])
def test_add_months_reaches_exactly_n_whole_months(start, n):
    end = calendar.add_months(start, n)
    assert calendar.whole_months_between(start, end) == n


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 6, 12), True),    # Thursday
        (date(2025, 6, 14), False),   # Saturday
        (date(2025, 6, 15), False),   # Sunday
        (date(2025, 1, 1), False),    # New Year's Day
        (date(2025, 4, 21), False),   # Easter Monday
        (date(2025, 4, 26), False),   # King's Day (on a Saturday in 2025)
        (date(2026, 4, 27), False),   # King's Day
        (date(2025, 5, 29), False),   # Ascension Day
        (date(2025, 6, 9), False),    # Whit Monday
        (date(2025, 12, 25), False),  # Christmas
        (date(2025, 12, 26), False),  # Boxing Day
        (date(2025, 12, 24), True),   # Christmas Eve is a working day
        (date(2025, 12, 31), True),
    ],
)
def test_is_working_day(day, working):
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (date(2025, 6, 12), 1, date(2025, 6, 13)),
        (date(2025, 6, 12), 2, date(2025, 6, 16)),
        (date(2025, 6, 12), 3, date(2025, 6, 17)),
        (date(2025, 6, 13), 1, date(2025, 6, 16)),
        (date(2025, 6, 14), 1, date(2025, 6, 16)),  # from a Saturday
        (date(2025, 4, 17), 3, date(2025, 4, 24)),  # over Easter
        (date(2025, 12, 23), 3, date(2025, 12, 30)),  # over Christmas
        (date(2025, 12, 30), 3, date(2026, 1, 5)),  # over New Year
        (date(2025, 6, 12), 10, date(2025, 6, 26)),
    ],
)
def test_add_working_days(day, count, expected):
    assert calendar.add_working_days(day, count) == expected


def test_working_days_deadline_is_midnight_after_the_last_working_day():
    assert calendar.working_days_deadline(ams(2025, 12, 23, 10), 3) == midnight(date(2025, 12, 31))
    assert calendar.working_days_deadline(ams(2025, 12, 23, 10), 3).isoformat() == (
        "2025-12-30T23:00:00+00:00")
    # counted from the Dutch day of the moment, whatever zone the moment comes in
    assert calendar.working_days_deadline(datetime(2025, 6, 12, 22, 30, tzinfo=UTC), 3) == (
        midnight(date(2025, 6, 19)))
    assert calendar.working_days_deadline(datetime(2025, 6, 12, 21, 30, tzinfo=UTC), 3) == (
        midnight(date(2025, 6, 18)))


def test_working_days_deadline_over_the_autumn_clock_change():
    # Thursday 23 Oct 2025 -> Fri 24, Mon 27, Tue 28; the clocks go back on Sunday 26
    due = calendar.working_days_deadline(ams(2025, 10, 23, 10), 3)
    assert due.isoformat() == "2025-10-28T23:00:00+00:00"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(1999, 4, 5), False),    # Easter Monday, before any precomputed range
        (date(1999, 4, 6), True),
        (date(2050, 12, 26), False),  # Boxing Day, far ahead
        (date(2050, 12, 27), True),
    ],
)
def test_is_working_day_far_from_today(day, working):
    assert calendar.is_working_day(day) is working
