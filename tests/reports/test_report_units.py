"""Report building blocks without a server: periods and the default quarterly calendar, the
percentile, small-count suppression in every format, and the command's refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from starter.cli import app, load_commands
from vangnet.reports.engine import Column, Days, Report, Share, Table, percentile
from vangnet.reports.period import (
    PeriodError,
    parse_period,
    quarterly_run_days,
    scheduled_period,
)
from vangnet.reports.render import cell_text, html_page, markdown


def test_periods_parse_and_refuse():
    q = parse_period("2026-Q3")
    assert (q.start, q.until, q.label) == (date(2026, 7, 1), date(2026, 9, 30), "2026-Q3")
    assert (parse_period("2026").start, parse_period("2026").until) == (date(2026, 1, 1), date(2026, 12, 31))
    assert parse_period("2027-02").until == date(2027, 2, 28)
    for bad in ("2026-Q5", "Q3", "2026-13", "26"):
        with pytest.raises(PeriodError):
            parse_period(bad)
    assert q.contains(datetime(2026, 9, 30, 21, 59, tzinfo=UTC))  # 23:59 in Amsterdam
    assert not q.contains(datetime(2026, 9, 30, 22, 0, tzinfo=UTC))  # 1 October 00:00


def test_the_quarterly_calendar_counts_dutch_working_days():
    days = quarterly_run_days(range(2027, 2028))
    # 1 Jan 2027 is a holiday and a Friday: the first working day is Monday 4 January, so the
    # report of the quarter that ends runs on 28 December 2026; 1 April 2027 is a Thursday.
    assert days == [date(2026, 12, 28), date(2027, 3, 25), date(2027, 6, 24), date(2027, 9, 24)]


def test_a_scheduled_report_covers_its_quarter_up_to_the_day_before():
    p = scheduled_period("monitoring", datetime(2026, 12, 28, 6, tzinfo=UTC))
    assert (p.start, p.until) == (date(2026, 10, 1), date(2026, 12, 27))
    annual = scheduled_period("naleving", datetime(2027, 1, 15, 6, tzinfo=UTC))
    assert (annual.start, annual.until, annual.label) == (date(2026, 1, 1), date(2026, 12, 31), "2026")


def test_percentile_interpolates_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)


def test_small_counts_are_suppressed_in_every_public_format():
    table = Table("t", "Tabel", [Column("", "text"), Column("n"), Column("%", "share"),
                                 Column("dagen", "days")],
                  [["a", 3, Share(3, 40), Days(12.5, 3)], ["b", 0, Share(0, 0), Days(None, 0)],
                   ["c", 12, Share(12, 40), Days(7.25, 12)]])
    secret = Table("gemist", "Casussen", [Column("casus", "text")], [["case-x-1"]],
                   internal_only=True)
    report = Report("monitoring", "Titel", parse_period("2026-Q3"), "regio",
                    datetime(2026, 10, 1, tzinfo=UTC), [table, secret], episodes=55)
    assert [cell_text(v, True) for v in table.rows[0][1:]] == ["<5", "–", "n<5"]
    assert [cell_text(v, False) for v in table.rows[0][1:]] == ["3", "8%", "12,5"]
    assert [cell_text(v, True) for v in table.rows[2][1:]] == ["12", "30%", "7,2"]
    for text in (markdown(report, True), html_page(report, True)):
        assert "<5" in text or "&lt;5" in text
        assert "case-x-1" not in text
    assert "case-x-1" in markdown(report, False)


load_commands()  # every command, as `python -m starter` has them


@pytest.mark.parametrize(("args", "message"), [
    (["--period", "2026-Q9"], "--period must be"),
    (["--period", "2026-Q3", "--from", "2026-07-01"], "not both"),
    (["--from", "2026-07-01"], "--period"),
    (["--from", "2026-09-01", "--until", "2026-07-01"], "before it starts"),
    (["--period", "2026", "--kind", "jaar"], "--kind must be"),
    (["--period", "2026", "--format", "pdf"], "--format must be"),
])
def test_the_command_refuses_bad_input(args, message):
    out = CliRunner().invoke(app, ["report", *args])
    assert out.exit_code == 1 and message in out.stderr, out.output
