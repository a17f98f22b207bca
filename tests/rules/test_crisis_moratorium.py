"""R8 (crisis protocol, meeting within 3 Dutch working days) and R9 (moratorium)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from vangnet.domain import Stage, Track
from vangnet.rules import CRISIS_MEETING_DEADLINE, MORATORIUM_END

from .helpers import CaseDriver, act, ams, midnight, open_with_arrears, shape, to_utc


def crisis_at(moment: datetime, *, eviction_in_days: int = 30, municipality: str = "dordrecht",
              summons: bool = True) -> tuple[CaseDriver, object]:
    """A case with a summons served, then the eviction announced at `moment`."""
    case = CaseDriver.create(municipality)
    open_with_arrears(case, at=moment - timedelta(days=5),
                      since=(moment - timedelta(days=8)).date(), months=1.5)
    if summons:
        case.send("summons_served", at=moment - timedelta(days=1), hearing_date="2025-01-01")
    eviction_date = (moment + timedelta(days=eviction_in_days)).date()
    step = case.send("eviction_announced", at=moment, eviction_date=eviction_date.isoformat())
    return case, step


# -- R8 ------------------------------------------------------------------------------------------


def test_r8_crisis_protocol_at_once():
    case, step = crisis_at(ams(2025, 6, 12, 10))
    assert shape(step.actions) == [act("crisis_protocol_invoked", "social_service")]
    assert step.actions[0].detail == {"eviction_date": "2025-07-12"}
    assert case.stage == Stage.crisis and case.track == Track.spoor_2
    assert case.state.eviction_date == date(2025, 7, 12)
    st = case.status()
    assert st["stage"] == "crisis" and st["eviction_date"] == "2025-07-12"


@pytest.mark.parametrize(
    ("announced", "due_day"),
    [
        # Thursday -> Fri, Mon, Tue: over a weekend
        (ams(2025, 6, 12, 10), date(2025, 6, 18)),
        # Thursday before Easter: Good Friday (in the `holidays` NL calendar) and Easter Monday
        # do not count -> Tue 22, Wed 23, Thu 24
        (ams(2025, 4, 17, 10), date(2025, 4, 25)),
        # Tuesday before Christmas -> Wed 24, (25, 26 holidays, weekend) Mon 29, Tue 30
        (ams(2025, 12, 23, 10), date(2025, 12, 31)),
        # over New Year into the next year's calendar -> Wed 31, Fri 2, Mon 5
        (ams(2025, 12, 30, 10), date(2026, 1, 6)),
        # Wednesday before Ascension Day -> Fri 30, Mon 2, Tue 3
        (ams(2025, 5, 28, 10), date(2025, 6, 4)),
        # Friday before Whit Monday -> Tue 10, Wed 11, Thu 12
        (ams(2025, 6, 6, 10), date(2025, 6, 13)),
        # on a Saturday -> Mon, Tue, Wed
        (ams(2025, 6, 14, 10), date(2025, 6, 19)),
        # late Thursday evening in Dutch time still counts from Thursday ...
        (ams(2025, 6, 12, 23, 30), date(2025, 6, 18)),
        # ... and just after midnight (still Thursday in UTC) counts from Friday
        (ams(2025, 6, 13, 0, 30), date(2025, 6, 19)),
    ],
)
def test_r8_meeting_deadline_is_the_end_of_the_third_dutch_working_day(announced, due_day):
    case, _ = crisis_at(announced)
    assert case.deadlines[CRISIS_MEETING_DEADLINE] == midnight(due_day)


def test_r8_exact_due_moments_in_utc():
    case, _ = crisis_at(ams(2025, 12, 23, 10))
    assert to_utc(case.deadlines[CRISIS_MEETING_DEADLINE]).isoformat() == (
        "2025-12-30T23:00:00+00:00")  # 31 Dec 00:00 CET
    case, _ = crisis_at(ams(2025, 4, 17, 10))
    assert to_utc(case.deadlines[CRISIS_MEETING_DEADLINE]).isoformat() == (
        "2025-04-24T22:00:00+00:00")  # 25 Apr 00:00 CEST


def test_r8_overdue_meeting_escalates():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    due = midnight(date(2025, 6, 18))
    assert case.advance_to(due - timedelta(seconds=1)) == []
    fired = case.advance_to(due)
    assert shape(fired) == [act("escalation_raised", "social_service", "corporation",
                                reason="crisis_meeting_overdue")]
    assert case.stage == Stage.crisis
    assert case.entries("deadline", CRISIS_MEETING_DEADLINE) == [
        {"at": "2025-06-17T22:00:00Z", "category": "deadline", "kind": CRISIS_MEETING_DEADLINE,
         "detail": {"due_at": "2025-06-17T22:00:00+00:00"}}]
    # the meeting can still be held late
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 19, 10), result="moratorium_needed")
    assert shape(step.actions) == [act("moratorium_requested", "social_service")]


@pytest.mark.parametrize("source", ["sdd", "woonbron"])
def test_r8_meeting_in_time_stops_the_deadline(source):
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), source=source,
                     result="postponement_agreed")
    assert step.actions == []
    assert CRISIS_MEETING_DEADLINE not in case.deadlines
    assert case.state.crisis_meeting_result == "postponement_agreed"
    case.advance_to(ams(2025, 6, 20))
    assert "escalation_raised" not in case.action_names()
    assert case.stage == Stage.crisis


def test_a4_a_new_date_before_the_meeting_is_covered_by_the_pending_meeting():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    deadline = case.deadlines[CRISIS_MEETING_DEADLINE]
    step = case.send("eviction_announced", at=ams(2025, 6, 13, 10), eviction_date="2025-07-20")
    assert step.actions == []
    assert case.state.eviction_date == date(2025, 7, 20)
    assert case.deadlines[CRISIS_MEETING_DEADLINE] == deadline
    [_, second] = case.entries("event", "eviction_announced")
    assert second["detail"]["result"] == (
        "the new date is covered by the crisis meeting still to be held")


def test_r8_gorinchem_uses_its_own_social_service():
    case, step = crisis_at(ams(2025, 6, 12, 10), municipality="gorinchem")
    assert shape(step.actions) == [act("crisis_protocol_invoked", "social_service")]
    assert case.state.context.social_service == "avres"
    assert case.send("crisis_meeting_held", at=ams(2025, 6, 13), source="sdd",
                     result="no_solution").ignored == "source 'sdd' is not a party to this case"
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 13, 10), source="avres",
                     result="no_solution")
    assert shape(step.actions) == [act("moratorium_requested", "social_service")]


def test_r8_crisis_events_outside_crisis_are_ignored():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 6, 1), since=date(2025, 5, 28))
    reason = "no eviction announced: the case is not in crisis"
    assert case.send("crisis_meeting_held", at=ams(2025, 6, 2),
                     result="moratorium_needed").ignored == reason
    assert case.send("eviction_postponed", at=ams(2025, 6, 2),
                     new_eviction_date="2025-08-01").ignored == reason
    assert case.send("moratorium_rejected", at=ams(2025, 6, 2)).ignored == reason


# -- R9 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("result", ["moratorium_needed", "no_solution"])
def test_r9_moratorium_requested_when_the_eviction_date_is_ahead(result):
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result=result)
    assert shape(step.actions) == [act("moratorium_requested", "social_service")]
    assert step.actions[0].detail == {"eviction_date": "2025-07-12"}
    assert case.state.moratorium_requested


def test_r9_no_moratorium_after_postponement_agreed():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="postponement_agreed")
    assert step.actions == []


def test_r9_excluded_with_nuisance():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    case.send("concern_reported", at=ams(2025, 6, 13), kind="nuisance", source="dordrecht")
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="moratorium_needed")
    assert shape(step.actions) == [act("escalation_raised", "social_service", "corporation",
                                       reason="moratorium_excluded_nuisance")]
    assert not case.state.moratorium_requested


def test_r9_nuisance_reported_before_the_crisis_also_excludes():
    case = CaseDriver.dordrecht()
    case.send("concern_reported", at=ams(2025, 6, 1), kind="nuisance")
    case.send("eviction_announced", at=ams(2025, 6, 12, 10), eviction_date="2025-07-12")
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="no_solution")
    assert shape(step.actions) == [act("escalation_raised", "social_service", "corporation",
                                       reason="moratorium_excluded_nuisance")]


def test_r9_other_concerns_do_not_exclude():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    case.send("concern_reported", at=ams(2025, 6, 13), kind="confused_behaviour")
    case.send("concern_reported", at=ams(2025, 6, 13), kind="care_and_safety")
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="moratorium_needed")
    assert shape(step.actions) == [act("moratorium_requested", "social_service")]


@pytest.mark.parametrize("days_ahead", [0, -3])
def test_r9_not_requested_when_the_eviction_date_is_not_ahead(days_ahead):
    meeting = ams(2025, 6, 16, 10)
    case, _ = crisis_at(ams(2025, 6, 12, 10),
                        eviction_in_days=4 + days_ahead)  # 16 June, or 13 June
    step = case.send("crisis_meeting_held", at=meeting, result="moratorium_needed")
    assert step.actions == []
    [entry] = case.entries("event", "crisis_meeting_held")
    assert entry["detail"]["moratorium"] == (
        "no moratorium requested: the eviction date is not ahead")
    assert entry["detail"]["result"] == "moratorium_needed"  # the event's own field stays
    assert not case.state.moratorium_requested


def test_r9_requested_once_until_rejected():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="moratorium_needed")
    assert case.send("crisis_meeting_held", at=ams(2025, 6, 17, 10),
                     result="no_solution").actions == []
    assert case.send("moratorium_rejected", at=ams(2025, 6, 20)).actions == []
    assert not case.state.moratorium_requested
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 23, 10), result="no_solution")
    assert shape(step.actions) == [act("moratorium_requested", "social_service")]
    assert len(case.all_actions("moratorium_requested")) == 2


def test_r9_moratorium_granted_holds_the_crisis_until_its_end():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="moratorium_needed")
    step = case.send("moratorium_granted", at=ams(2025, 6, 25, 10), until="2025-09-01")
    assert step.actions == []
    assert case.state.moratorium_until == date(2025, 9, 1)
    assert case.deadlines[MORATORIUM_END] == midnight(date(2025, 9, 2))
    case.advance_to(midnight(date(2025, 9, 1)))  # the arrears timers have long fired by now
    assert case.state.moratorium_until == date(2025, 9, 1)
    # A4: its end is escalated to the social service and the corporation; the crisis stays
    assert shape(case.advance_to(midnight(date(2025, 9, 2)))) == [
        act("escalation_raised", "social_service", "corporation", reason="moratorium_ended")]
    [entry] = case.entries("deadline", MORATORIUM_END)
    assert entry["detail"]["result"] == "moratorium ended"
    assert case.state.moratorium_until is None
    assert case.stage == Stage.crisis


def test_r9_moratorium_granted_without_crisis_is_ignored():
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=ams(2025, 6, 1), since=date(2025, 5, 28))
    before = case.state.model_dump(exclude={"timeline", "seen_event_ids"})
    step = case.send("moratorium_granted", at=ams(2025, 6, 2), until="2025-09-01")
    assert step.ignored == "no eviction announced: the case is not in crisis"
    assert step.actions == []
    assert case.state.model_dump(exclude={"timeline", "seen_event_ids"}) == before
    assert MORATORIUM_END not in case.deadlines


def test_r9_moratorium_end_in_the_past_is_ignored():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    step = case.send("moratorium_granted", at=ams(2025, 6, 25, 10), until="2025-06-25")
    assert step.ignored == "the moratorium's end date is not in the future"


def test_r9_eviction_postponed_moves_the_date():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    case.send("eviction_postponed", at=ams(2025, 6, 14), new_eviction_date="2025-08-30")
    assert case.state.eviction_date == date(2025, 8, 30)
    assert case.status()["eviction_date"] == "2025-08-30"
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="no_solution")
    assert step.actions[0].detail == {"eviction_date": "2025-08-30"}
    case.send("eviction_postponed", at=ams(2025, 6, 20), new_eviction_date=None)
    assert case.state.eviction_date is None and case.stage == Stage.crisis


def test_r9_meeting_with_unknown_eviction_date_requests_nothing():
    case, _ = crisis_at(ams(2025, 6, 12, 10))
    case.send("eviction_postponed", at=ams(2025, 6, 14), new_eviction_date=None)
    step = case.send("crisis_meeting_held", at=ams(2025, 6, 16, 10), result="no_solution")
    assert step.actions == []
