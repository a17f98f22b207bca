"""Property-based: random event sequences (with random senders, duplicate ids, gaps in time and
policies) never make the rules core raise, and always leave a consistent case.

The per-step invariants live in helpers.check_invariants (run by the driver after every step):
exactly one stage once opened; closed <=> stage closed <=> outcome set; no deadlines when closed;
no deadline left overdue; aftercare holds only its own timer; track spoor_2 <=> MPZO involved;
collection pause and its timer agree; actions numbered 1..n; and the input state never mutated.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vangnet.domain import EVENT_SENDERS, PreviousEpisode
from vangnet.policy import Policy

from .helpers import DORDRECHT_PARTIES, GORINCHEM_PARTIES, CaseDriver, core

START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
EVENT_TYPES = sorted(EVENT_SENDERS)
SOURCES = sorted(set(DORDRECHT_PARTIES) | set(GORINCHEM_PARTIES) | {"stranger"})

dates = st.dates(min_value=date(2024, 9, 1), max_value=date(2026, 12, 31))
cents = st.integers(1, 1_000_000)

FIELDS = {
    "arrears_reported": st.fixed_dictionaries({
        "arrears_cents": cents, "monthly_rent_cents": st.integers(20_000, 150_000),
        "arrears_since": dates}),
    "payment_received": st.fixed_dictionaries({
        "amount_cents": cents, "arrears_cents": st.one_of(st.just(0), cents)}),
    "reminder_sent": st.fixed_dictionaries({"tenant_objects_to_signal": st.booleans()}),
    "signal_bounced": st.fixed_dictionaries({"reason": st.sampled_from(["help_refused_before",
                                                                        "unknown_tenant"])}),
    "payment_arrangement_agreed": st.fixed_dictionaries({
        "monthly_amount_cents": cents, "months": st.integers(1, 36)}),
    "concern_reported": st.fixed_dictionaries({"kind": st.sampled_from(
        ["nuisance", "confused_behaviour", "care_and_safety"])}),
    "care_started": st.fixed_dictionaries({"by": st.sampled_from(
        ["social_team", "bemoeizorg", "care_provider"])}),
    "summons_served": st.fixed_dictionaries({"hearing_date": dates}),
    "judgment_given": st.fixed_dictionaries({"eviction_granted": st.booleans()}),
    "eviction_announced": st.fixed_dictionaries({"eviction_date": dates}),
    "crisis_meeting_held": st.fixed_dictionaries({"result": st.sampled_from(
        ["postponement_agreed", "moratorium_needed", "no_solution"])}),
    "eviction_postponed": st.fixed_dictionaries({"new_eviction_date": st.none() | dates}),
    "moratorium_granted": st.fixed_dictionaries({"until": dates}),
    "tenancy_ended": st.fixed_dictionaries({"reason": st.sampled_from(
        ["moved_out", "deceased", "other"])}),
    "case_closed": st.fixed_dictionaries({"reason": st.just("closed by an operator")}),
}

# Arrears and the steps that follow them come up more often than the rarer court steps.
WEIGHTED_TYPES = EVENT_TYPES + [
    "arrears_reported", "arrears_reported", "reminder_sent", "help_accepted", "debt_help_started",
    "payment_arrangement_agreed", "payment_received", "eviction_announced", "crisis_meeting_held",
]

gaps = st.one_of(st.integers(0, 24 * 60), st.integers(0, 50 * 24 * 60))


@st.composite
def steps(draw):
    if draw(st.integers(0, 9)) == 0:
        return ("advance", draw(gaps))
    event_type = draw(st.sampled_from(WEIGHTED_TYPES))
    fields = draw(FIELDS.get(event_type, st.just({})))
    source = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(SOURCES)))
    event_id = draw(st.one_of(st.none(), st.none(), st.integers(0, 3).map(lambda n: f"dup-{n}")))
    return ("event", draw(gaps), event_type, fields, source, event_id)


policies = st.one_of(
    st.just(None),
    st.builds(Policy, early_signal_after_days=st.integers(1, 60),
              help_plan_deadline_days=st.integers(1, 60), collection_pause_days=st.integers(1, 60),
              mpzo_after_months=st.integers(1, 4), crisis_response_working_days=st.integers(1, 10),
              aftercare_months=st.integers(1, 8), relapse_window_months=st.integers(1, 24)),
)
previous = st.one_of(st.none(), st.builds(
    PreviousEpisode, run_id=st.just("run-prev"),
    closed_at=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 1, 5),
                           timezones=st.just(UTC)),
    outcome=st.sampled_from(["resolved", "evicted", None])))


def opening():
    return st.tuples(st.just("event"), st.just(0), st.just("arrears_reported"),
                     FIELDS["arrears_reported"], st.none(), st.none())


# VANGNET_PROPERTY_EXAMPLES=5000 for a longer hunt; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("VANGNET_PROPERTY_EXAMPLES", "120"))


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    municipality=st.sampled_from(["dordrecht", "gorinchem"]),
    policy=policies,
    previous_episode=previous,
    first=st.one_of(opening(), steps()),
    rest=st.lists(steps(), max_size=30),
)
def test_random_sequences_keep_the_case_consistent(municipality, policy, previous_episode,
                                                    first, rest):
    case = CaseDriver.create(municipality, policy=policy, previous_episode=previous_episode,
                             now=START)
    for item in [first, *rest]:
        at = case.now + timedelta(minutes=item[1])
        if item[0] == "advance":
            case.advance_to(at)
            continue
        _, _, event_type, fields, source, event_id = item
        case.advance_to(at)
        state_before = case.state
        before = core(state_before)
        n_timeline = len(state_before.timeline)
        step = case.send(event_type, at=at, source=source, event_id=event_id, advance=False,
                         **fields)
        if step.duplicate:
            assert step.state is state_before and step.actions == []
        elif step.ignored is not None:
            assert core(case.state) == before
            assert len(case.state.timeline) == n_timeline + 1
            assert case.state.timeline[-1].category == "ignored"
        else:
            assert case.state.timeline[n_timeline].category == "event"
            assert case.state.timeline[n_timeline].kind == event_type
        # the queries always answer, in JSON
        json.dumps(case.status())
        json.dumps(case.timeline())
    # a last long wait: everything due fires, and the case stays consistent
    case.advance_to(case.now + timedelta(days=800))
    if case.state.opened and not case.state.closed:
        # only open-ended waits remain: nothing is overdue
        assert all(due > case.now for due in case.state.deadlines.values())
    if case.state.closed:
        assert case.state.deadlines == {}
        assert case.status()["next_deadline"] is None
