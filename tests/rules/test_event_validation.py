"""RULES.md §11 A12 in the event models (vangnet.domain.parse_event): integer amounts, dates in a
plausible window relative to `now` (the intake's clock, or workflow.now() in a case), safe event
ids; and no checks for cases that started before A12 (`now=None`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from vangnet.domain import EVENT_ID_PATTERN, InvalidEvent, parse_event

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # Wednesday 11:00 in the Netherlands


def parse(event_type: str, now: datetime | None = NOW, **fields):
    return parse_event(event_type, {"event_id": "e-1", "source": "x", **fields}, now=now)


def refused(event_type: str, **fields) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        parse(event_type, **fields)
    return info.value


ARREARS = {"arrears_cents": 90_000, "monthly_rent_cents": 90_000, "arrears_since": "2026-11-01"}


@pytest.mark.parametrize(("value", "what"), [
    ("90000", "text"), (90000.0, "a decimal number"), (True, "true or false"),
    (False, "true or false"), ([1], "that")])
@pytest.mark.parametrize(("event_type", "field", "base"), [
    ("arrears_reported", "arrears_cents", ARREARS),
    ("arrears_reported", "monthly_rent_cents", ARREARS),
    ("payment_received", "amount_cents", {"amount_cents": 1, "arrears_cents": 0}),
    ("payment_received", "arrears_cents", {"amount_cents": 1, "arrears_cents": 0}),
    ("payment_arrangement_agreed", "monthly_amount_cents",
     {"monthly_amount_cents": 100, "months": 3}),
    ("payment_arrangement_agreed", "months", {"monthly_amount_cents": 100, "months": 3}),
])
def test_amounts_are_whole_numbers(event_type, field, base, value, what):
    err = refused(event_type, **{**base, field: value})
    assert err.field == field
    assert err.message == f"{field}: Input should be a whole number, not {what}"
    assert parse(event_type, **base)  # the integer is fine


def test_amounts_keep_their_bounds():
    assert refused("payment_received", amount_cents=0, arrears_cents=0).field == "amount_cents"
    assert refused("payment_received", amount_cents=1, arrears_cents=-1).field == "arrears_cents"


@pytest.mark.parametrize(("value", "message"), [
    ("2026-12-03", "arrears_since: must not be in the future (today is 2026-12-02)"),
    ("1999-12-31", "arrears_since: must not be before 2000-01-01"),
    ("0001-01-01", "arrears_since: must not be before 2000-01-01"),
])
def test_arrears_since_lies_between_2000_and_today(value, message):
    assert refused("arrears_reported", **{**ARREARS, "arrears_since": value}).message == message
    assert parse("arrears_reported", **{**ARREARS, "arrears_since": "2026-12-02"})
    assert parse("arrears_reported", **{**ARREARS, "arrears_since": "2000-01-01"})


@pytest.mark.parametrize(("event_type", "field"), [
    ("summons_served", "hearing_date"), ("eviction_announced", "eviction_date"),
    ("moratorium_granted", "until"), ("eviction_postponed", "new_eviction_date")])
def test_planned_dates_lie_at_most_five_years_ahead(event_type, field):
    assert refused(event_type, **{field: "9999-12-31"}).message == (
        f"{field}: must be at most 5 years ahead (on or before 2031-12-02)")
    assert refused(event_type, **{field: "2031-12-03"}).field == field
    assert refused(event_type, **{field: "1999-12-31"}).message == (
        f"{field}: must not be before 2000-01-01")
    assert getattr(parse(event_type, **{field: "2031-12-02"}), field) == date(2031, 12, 2)
    # a date in the past is plausible (a late report); the rules decide what it means
    assert parse(event_type, **{field: "2026-11-01"})


def test_occurred_at_is_not_in_the_future_and_not_before_2000():
    base = {"eviction_date": "2027-01-15"}
    assert refused("eviction_announced", **base, occurred_at="2026-12-02T11:30:00+01:00"
                   ).message == "occurred_at: must not be in the future"
    assert refused("eviction_announced", **base, occurred_at="1999-12-31T12:00:00Z"
                   ).field == "occurred_at"
    # a sender's clock a few minutes ahead is no error; a time without offset is Dutch time
    assert parse("eviction_announced", **base, occurred_at="2026-12-02T11:04:00+01:00")
    event = parse("eviction_announced", **base, occurred_at="2026-12-01T09:00:00")
    assert event.occurred_at.isoformat() == "2026-12-01T09:00:00+01:00"


@pytest.mark.parametrize("event_id", ["wb-2026-11-001", "A", "x.y:z_1-2", "9" * 128])
def test_safe_event_ids(event_id):
    assert parse_event("no_contact", {"event_id": event_id, "source": "x"}, now=NOW)


@pytest.mark.parametrize("event_id", ["", "-starts-with-dash", "has space", "a/b", "é", "9" * 129,
                                      "x\n", "<script>"])
def test_unsafe_event_ids_are_refused(event_id):
    with pytest.raises(InvalidEvent) as info:
        parse_event("no_contact", {"event_id": event_id, "source": "x"}, now=NOW)
    assert info.value.field == "event_id"


def test_the_pattern_is_the_one_issue_12_asked_for():
    assert EVENT_ID_PATTERN == r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def test_new_events_of_section_11():
    assert parse("progress_reported").type == "progress_reported"
    assert parse("debt_help_ended", reason="dropped_out").reason == "dropped_out"
    assert refused("debt_help_ended", reason="bored").field == "reason"


def test_without_now_the_checks_of_before_a12_apply():
    """For cases that started before A12: their histories replay with what they accepted."""
    event = parse("arrears_reported", now=None, arrears_cents="90000", monthly_rent_cents=90_000.0,
                  arrears_since="9999-12-31")
    assert event.arrears_cents == 90_000 and event.arrears_since == date(9999, 12, 31)
    assert parse_event("no_contact", {"event_id": "has space", "source": "x"}, now=None)


def test_parse_event_is_pure():
    payload = {"event_id": "e-1", "source": "x", **ARREARS}
    first = parse_event("arrears_reported", dict(payload), now=NOW)
    assert parse_event("arrears_reported", dict(payload), now=NOW) == first
    with pytest.raises(InvalidEvent):  # the same payload a month earlier: arrears in the future
        parse_event("arrears_reported", dict(payload), now=datetime(2026, 10, 1, tzinfo=UTC))
