"""R12 (out-of-context events are recorded as `ignored` and change nothing), duplicates, sender
checks, opening events, and that the core never mutates its input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from vangnet.domain import EVENT_SENDERS, OPENING_EVENTS, PartyKind, Stage
from vangnet.rules import apply_event, fire_due_deadlines

from .helpers import (
    DORDRECHT_PARTIES,
    SAMPLE_FIELDS,
    CaseDriver,
    act,
    ams,
    core,
    make_state,
    midnight,
    open_with_arrears,
    shape,
)

AT = ams(2025, 3, 10, 9)
LATER = ams(2025, 3, 12, 9)
SINCE = date(2025, 3, 1)


def opened() -> CaseDriver:
    case = CaseDriver.dordrecht()
    open_with_arrears(case, at=AT, since=SINCE)
    return case


def in_aftercare() -> CaseDriver:
    case = opened()
    case.send("payment_received", at=ams(2025, 3, 11), amount_cents=80_000, arrears_cents=0)
    return case


def signalled() -> CaseDriver:
    case = opened()
    case.send("reminder_sent", at=ams(2025, 3, 11), tenant_objects_to_signal=False)
    case.advance_to(midnight(date(2025, 3, 31)))
    return case


def signalled_with_help() -> CaseDriver:
    case = signalled()
    case.send("help_accepted", at=ams(2025, 4, 1, 10))
    return case


def _with(case: CaseDriver, event_type: str, **fields) -> CaseDriver:
    case.send(event_type, at=case.now, **fields)
    return case


def assert_ignored(case: CaseDriver, event_type: str, reason: str, *, at=None, source=None,
                   fields: dict | None = None) -> None:
    before_core = core(case.state)
    before_seq = case.state.action_seq
    n_timeline = len(case.state.timeline)
    n_seen = len(case.state.seen_event_ids)
    fields = fields or dict(SAMPLE_FIELDS[event_type])
    step = case.send(event_type, at=at or case.now, source=source, event_id="late-1", **fields)
    assert step.ignored == reason
    assert step.actions == [] and not step.duplicate
    assert core(case.state) == before_core
    assert case.state.action_seq == before_seq
    assert len(case.state.timeline) == n_timeline + 1
    assert len(case.state.seen_event_ids) == n_seen + 1
    sender = source or case.default_source(event_type)
    assert case.state.seen_event_ids[-1] == f"{sender}:late-1"
    last = case.timeline()[-1]
    assert last["category"] == "ignored" and last["kind"] == event_type
    assert last["detail"]["event_id"] == "late-1"
    assert last["detail"]["source"] == sender
    assert last["detail"]["reason"] == reason


# -- R12: out of context ---------------------------------------------------------------------------

NOT_CRISIS = "no eviction announced: the case is not in crisis"
IN_AFTERCARE = "the arrears are cleared and the case is in aftercare"

CASES: list[tuple[str, Callable[[], CaseDriver], str, dict, str]] = [
    ("moratorium without eviction", opened, "moratorium_granted", {"until": "2025-09-01"},
     NOT_CRISIS),
    ("meeting without eviction", opened, "crisis_meeting_held", {"result": "no_solution"},
     NOT_CRISIS),
    ("postponed without eviction", opened, "eviction_postponed",
     {"new_eviction_date": "2025-09-01"}, NOT_CRISIS),
    ("rejected without eviction", opened, "moratorium_rejected", {}, NOT_CRISIS),
    ("judgment without summons", opened, "judgment_given", {"eviction_granted": True},
     "no summons was served"),
    ("mpzo plan without report", opened, "mpzo_plan_ready", {},
     "the MPZO has not been notified for this case"),
    ("breach without arrangement", opened, "arrangement_breached", {},
     "no payment arrangement is running"),
    ("bounce before signal", opened, "signal_bounced", {"reason": "x"},
     "no early signal was submitted and the tenant did not refer themselves"),
    ("debt help twice", lambda: _with(signalled_with_help(), "debt_help_started"),
     "debt_help_started", {}, "debt help has already started"),
    ("help twice", signalled_with_help, "help_accepted", {}, "help was already accepted"),
    ("self-referral after help", signalled_with_help, "self_referral", {},
     "help is already in place for this case"),
    ("bounce after help", signalled_with_help, "signal_bounced", {"reason": "x"},
     "help was already accepted"),
    ("self-referral while help is awaited (A8)", signalled, "self_referral", {},
     "help is already awaited: a repeated self-referral moves no deadline"),
    ("debt help ended without help (A2)", opened, "debt_help_ended", {"reason": "dropped_out"},
     "no help is running for this case"),
    ("debt help ended in aftercare (A2)", in_aftercare, "debt_help_ended", {"reason": "other"},
     IN_AFTERCARE),
    ("reminder in aftercare", in_aftercare, "reminder_sent", {"tenant_objects_to_signal": True},
     IN_AFTERCARE),
    ("summons in aftercare", in_aftercare, "summons_served", {"hearing_date": "2025-05-01"},
     IN_AFTERCARE),
    ("help in aftercare", in_aftercare, "help_accepted", {}, IN_AFTERCARE),
    ("self-referral in aftercare", in_aftercare, "self_referral", {},
     "help is already in place for this case"),
    ("new arrears by payment in aftercare", in_aftercare, "payment_received",
     {"amount_cents": 1, "arrears_cents": 500},
     "case is in aftercare; report new arrears with arrears_reported"),
]


@pytest.mark.parametrize(("setup", "event_type", "fields", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_r12_out_of_context_events_are_ignored(setup, event_type, fields, reason):
    case = setup()
    assert_ignored(case, event_type, reason, fields=fields)


def test_r12_ignored_entry_keeps_the_event_fields():
    case = opened()
    case.send("moratorium_granted", at=LATER, event_id="m-1", until="2025-09-01",
              occurred_at=ams(2025, 3, 11, 15))
    assert case.timeline()[-1] == {
        "at": "2025-03-12T08:00:00Z",
        "category": "ignored",
        "kind": "moratorium_granted",
        "detail": {"event_id": "m-1", "source": "sdd", "until": "2025-09-01",
                   "occurred_at": "2025-03-11T15:00:00+01:00", "reason": NOT_CRISIS},
    }


def test_r12_occurred_at_is_recorded_never_used_to_reorder():
    case = opened()
    case.send("reminder_sent", at=LATER, tenant_objects_to_signal=False,
              occurred_at=ams(2025, 2, 1, 12))
    step = case.send("help_accepted", at=ams(2025, 3, 13, 9), occurred_at=ams(2025, 1, 1, 9))
    assert shape(step.actions) == [act("collection_paused", "corporation"),
                                   act("casusregie_assigned", "social_team")]
    events = case.entries("event")
    assert [e["kind"] for e in events] == ["arrears_reported", "reminder_sent", "help_accepted"]
    assert events[1]["detail"]["occurred_at"] == "2025-02-01T12:00:00+01:00"
    assert events[2]["at"] == "2025-03-13T08:00:00Z"


# -- duplicates ------------------------------------------------------------------------------------


def test_duplicate_event_id_changes_nothing():
    case = opened()
    case.send("help_accepted", at=LATER, event_id="h-1")
    state = case.state
    dump = state.model_dump()
    step = apply_event(state, case.event("help_accepted", event_id="h-1"), ams(2025, 3, 13))
    assert step.duplicate and step.state is state and step.actions == []
    assert step.ignored is None
    assert state.model_dump() == dump


def test_duplicate_with_a_different_payload_is_still_a_duplicate():
    case = opened()
    step = case.send("arrears_reported", at=LATER, event_id="ev-1", arrears_cents=999_999,
                     monthly_rent_cents=1, arrears_since="2024-01-01")
    assert step.duplicate
    assert case.state.arrears_cents == 80_000
    assert case.all_actions("tenant_notice_sent") == [act("tenant_notice_sent", "corporation")]


def test_same_event_id_from_another_sender_is_not_a_duplicate():
    case = opened()
    case.send("concern_reported", at=LATER, event_id="x-1", kind="nuisance", source="woonbron")
    step = case.send("concern_reported", at=LATER, event_id="x-1", kind="care_and_safety",
                     source="sdd")
    assert not step.duplicate
    assert shape(step.actions) == [act("mpzo_notified", "mpzo", reason="concern_care_and_safety")]


def test_an_ignored_event_id_is_remembered():
    case = opened()
    first = case.send("judgment_given", at=LATER, event_id="j-1", eviction_granted=True)
    assert first.ignored
    case.send("summons_served", at=LATER, hearing_date="2025-05-01")
    again = case.send("judgment_given", at=LATER, event_id="j-1", eviction_granted=True)
    assert again.duplicate and case.state.eviction_granted is None


def test_duplicate_after_close_is_a_duplicate_not_an_ignore():
    case = opened()
    case.send("case_closed", at=LATER, event_id="c-1", reason="test")
    n = len(case.timeline())
    step = case.send("case_closed", at=LATER, event_id="c-1", reason="test")
    assert step.duplicate and len(case.timeline()) == n


# -- senders ---------------------------------------------------------------------------------------


WRONG_SENDERS = [
    (event_type, code, kind)
    for event_type, allowed in sorted(EVENT_SENDERS.items())
    for code, kind in DORDRECHT_PARTIES.items()
    if kind not in allowed
]


@pytest.mark.parametrize(("event_type", "source", "kind"), WRONG_SENDERS,
                         ids=[f"{e}-by-{k.value}" for e, _, k in WRONG_SENDERS])
def test_wrong_sender_kind_is_ignored(event_type, source, kind):
    case = opened()
    allowed = ", ".join(sorted(k.value for k in EVENT_SENDERS[event_type]))
    reason = f"a {kind.value} may not send {event_type} (allowed: {allowed})"
    assert_ignored(case, event_type, reason,
                   at=LATER, source=source, fields=SAMPLE_FIELDS[event_type])


@pytest.mark.parametrize("source", ["rhiant", "avres", "gorinchem", "unknown-party"])
def test_unknown_source_is_ignored(source):
    case = opened()
    assert_ignored(case, "concern_reported", f"source {source!r} is not a party to this case",
                   at=LATER, source=source, fields={"kind": "nuisance"})


def test_other_municipality_parties_are_strangers_to_a_gorinchem_case():
    case = CaseDriver.gorinchem()
    step = open_with_arrears(case, at=AT, since=SINCE)
    assert shape(step.actions) == [act("tenant_notice_sent", "corporation")]
    for source in ("dordrecht", "sdd", "sociale-wijkteams-dordrecht"):
        step = case.send("concern_reported", at=LATER, source=source, kind="nuisance")
        assert step.ignored == f"source {source!r} is not a party to this case"
    step = case.send("self_referral", at=LATER, source="sociaal-team-gorinchem")
    assert step.ignored is None


# -- opening ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(set(EVENT_SENDERS) - OPENING_EVENTS))
def test_first_event_must_open_the_case(event_type):
    case = CaseDriver.dordrecht()
    step = case.send(event_type, at=AT, **SAMPLE_FIELDS[event_type])
    assert step.ignored == (
        "no open case: a case opens with arrears_reported, self_referral or concern_reported")
    assert not case.state.opened and case.state.stage is None
    assert [e["category"] for e in case.timeline()] == ["ignored"]
    assert case.state.deadlines == {}
    # and the case still opens normally afterwards
    step = open_with_arrears(case, at=LATER, since=SINCE)
    assert shape(step.actions) == [act("tenant_notice_sent", "corporation")]
    assert case.stage == Stage.arrears


@pytest.mark.parametrize(
    ("event_type", "source", "fields", "stage"),
    [("arrears_reported", "woonbron", SAMPLE_FIELDS["arrears_reported"], Stage.arrears),
     ("self_referral", "woonbron", {}, Stage.arrears),
     ("self_referral", "sdd", {}, Stage.arrears),
     ("self_referral", "sociale-wijkteams-dordrecht", {}, Stage.arrears),
     ("concern_reported", "dordrecht", {"kind": "nuisance"}, Stage.care),
     ("concern_reported", "mpzo", {"kind": "care_and_safety"}, Stage.care)],
)
def test_opening_events(event_type, source, fields, stage):
    case = CaseDriver.dordrecht()
    step = case.send(event_type, at=AT, source=source, **fields)
    assert step.ignored is None
    assert case.state.opened and case.state.opened_at == AT and case.stage == stage


def test_opening_event_from_a_wrong_sender_does_not_open():
    case = CaseDriver.dordrecht()
    step = case.send("self_referral", at=AT, source="dordrecht")
    assert step.ignored == ("a municipality may not send self_referral "
                            "(allowed: corporation, social_service, social_team)")
    assert not case.state.opened


def test_a_case_without_context_opens_nothing():
    state = make_state()
    state.context = None
    event = CaseDriver.dordrecht().event("arrears_reported", now=AT,
                                         **SAMPLE_FIELDS["arrears_reported"])
    step = apply_event(state, event, AT)
    assert step.ignored == "source 'woonbron' is not a party to this case"
    assert not step.state.opened


# -- purity ----------------------------------------------------------------------------------------


def test_apply_event_and_fire_never_mutate_their_input():
    state = make_state()
    driver = CaseDriver.dordrecht()
    events = [
        ("arrears_reported", SAMPLE_FIELDS["arrears_reported"]),
        ("concern_reported", {"kind": "nuisance"}),
        ("moratorium_granted", {"until": "2025-09-01"}),  # ignored
    ]
    for event_type, fields in events:
        event = driver.event(event_type, now=AT, **fields)
        dump = state.model_dump()
        timeline_before = list(state.timeline)
        step = apply_event(state, event, AT)
        assert state.model_dump() == dump
        assert state.timeline == timeline_before
        assert step.state is not state
        assert step.state.timeline is not state.timeline
        if step.ignored is None:
            # an applied step works on copies of what it may change; an ignored one may share
            # them with its input (copy-on-write: no step changes a container it was given)
            assert step.state.deadlines is not state.deadlines
        state = step.state
    dump = state.model_dump()
    step = fire_due_deadlines(state, ams(2025, 6, 1))
    assert state.model_dump() == dump
    assert step.state is not state and step.actions  # the signal timer and more fired


def test_fire_due_deadlines_with_nothing_due_changes_nothing():
    case = opened()
    before = case.state.model_dump()
    assert case.advance_to(ams(2025, 3, 20)) == []
    assert case.state.model_dump() == before


def test_party_kinds_used_in_the_fixture_cover_every_kind():
    # The adviesgroep (issue 11) only receives reports: it is no party to a case and sends nothing.
    assert set(DORDRECHT_PARTIES.values()) == set(PartyKind) - {PartyKind.adviesgroep}
    assert not any(PartyKind.adviesgroep in kinds for kinds in EVENT_SENDERS.values())
