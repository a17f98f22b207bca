"""Bounded state (RULES §12): 10,000 events on one case keep what continue-as-new carries under
256 KB, and its size flat, so that a step costs the same at the 10,000th event as at the first.

Pure (no server): the rules core applies the events as the workflow does, and the workflow's own
rule (`archive_count`) moves the timeline's oldest entries to the case store; the core keeps the seen event ids bounded and copies only what a step changes
(RULES §11, issue 8). The workflow's side of it runs on the server in test_timeline_archive.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.rules.helpers import ams, make_state
from vangnet.domain import CaseInput, parse_event
from vangnet.rules import CaseState, apply_event
from workflows.case import archive_count

EVENTS = 10_000
LIMIT = 256 * 1024
LIMIT_ENTRIES = CaseInput.model_fields["timeline_limit"].default


def carried(state: CaseState, archived: int) -> int:
    """Bytes of the continue-as-new input that carries this state."""
    payload = CaseInput(tenancy_ref=state.tenancy_ref, corporation=state.corporation,
                        municipality=state.municipality, state=state.model_dump(mode="json"),
                        timeline_archived=archived)
    return len(payload.model_dump_json().encode())


def events(n: int):
    """A month-end worth of traffic and then some: payments (applied), events the case ignores,
    and repeats, in turn."""
    arrears = 9_000_000
    for i in range(n):
        match i % 4:
            case 0 | 1:
                arrears -= 1
                yield "payment_received", {"event_id": f"pay-{i}", "source": "woonbron",
                                           "amount_cents": 1, "arrears_cents": arrears}
            case 2:  # the MPZO's plan for a case it was never told of: ignored (R12)
                yield "mpzo_plan_ready", {"event_id": f"plan-{i}", "source": "mpzo"}
            case 3:  # a repeat of the payment before
                yield "payment_received", {"event_id": f"pay-{i - 3}", "source": "woonbron",
                                            "amount_cents": 1, "arrears_cents": arrears + 1}


def run(n: int) -> tuple[dict[int, int], CaseState, int]:
    now = ams(2026, 1, 5, 9)
    state = make_state()
    state = apply_event(state, parse_event("arrears_reported", {
        "event_id": "open", "source": "woonbron", "arrears_cents": 9_000_000,
        "monthly_rent_cents": 90_000_000, "arrears_since": "2026-01-01"}, now=now), now).state
    archived = 0
    sizes = {}
    for i, (kind, payload) in enumerate(events(n), start=1):
        now += timedelta(seconds=30)
        state = apply_event(state, parse_event(kind, payload, now=now), now).state
        excess = archive_count(len(state.timeline), LIMIT_ENTRIES)
        if excess:  # as TenantCaseWorkflow._archive_timeline does, after the store has them
            del state.timeline[:excess]
            archived += excess
        if i % 500 == 0:
            sizes[i] = carried(state, archived)
    return sizes, state, archived


@pytest.fixture(scope="module")
def first_events() -> tuple[dict[int, int], CaseState, int]:
    return run(600)


def test_the_timeline_part_of_the_state_is_bounded(first_events):
    """The workflow's part: the timeline holds at most its limit plus one archive batch."""
    _, state, archived = first_events
    entries = 1 + 1 + 600 * 3 // 4  # the opening, its tenant notice, payments and ignored ones
    assert archived + len(state.timeline) == entries
    assert archived >= 100 and len(state.timeline) < LIMIT_ENTRIES + 100
    assert len(json.dumps([e.model_dump(mode="json") for e in state.timeline])) < LIMIT / 2


def test_ten_thousand_events_stay_under_256_kb_and_flat(first_events):
    sizes, _, _ = run(EVENTS)
    assert max(sizes.values()) < LIMIT, sizes
    # Flat: the last 5,000 events carry no more than the first few thousand (the timeline swings
    # between its limit and one archive batch more; a few numbers grow a digit).
    early = max(v for k, v in sizes.items() if 1_000 <= k <= 4_000)
    assert max(v for k, v in sizes.items() if k > 5_000) <= early * 1.02, sizes
