"""The step machinery: one event (`apply_event`, `apply_payload`) or the deadlines due
(`fire_due_deadlines`) in, a new state and the actions to take out.

Nothing is half-applied: an event that is a repeat changes nothing; one that makes no sense (R12),
is malformed (A12) or fails inside a handler (A12 `internal_error`, under §11) leaves the state as
it was plus one `ignored` entry. Under §11 a deadline whose handler fails is dropped with an
`ignored` entry, undoing only what that handler did, and the case goes on (one bad step never
blocks the next). A case that started before §11 keeps the behaviour it ran with: a failure
there raises, as it always did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from vangnet.domain import EVENT_SENDERS, OPENING_EVENTS, EventBase, InvalidEvent, parse_event
from vangnet.rules import arrears, care, court, help
from vangnet.rules.reading import next_deadline
from vangnet.rules.state import DEADLINES, CaseState, Step
from vangnet.rules.work import Ignored, Work, ignored_step, remember

HANDLERS: dict[str, Callable[[Work, Any], None]] = {
    "arrears_reported": arrears.on_arrears_reported,
    "payment_received": arrears.on_payment_received,
    "reminder_sent": arrears.on_reminder_sent,
    "self_referral": help.on_self_referral,
    "signal_bounced": help.on_not_taken_up,
    "no_contact": help.on_not_taken_up,
    "help_accepted": help.on_help,
    "help_refused": help.on_not_taken_up,
    "debt_help_started": help.on_help,
    "debt_help_ended": help.on_debt_help_ended,
    "progress_reported": care.on_progress_reported,
    "payment_arrangement_agreed": help.on_arrangement_agreed,
    "arrangement_breached": help.on_arrangement_breached,
    "concern_reported": care.on_concern_reported,
    "mpzo_plan_ready": care.on_mpzo_plan_ready,
    "care_started": care.on_care_started,
    "summons_served": court.on_summons_served,
    "judgment_given": court.on_judgment_given,
    "eviction_announced": court.on_eviction_announced,
    "crisis_meeting_held": court.on_crisis_meeting_held,
    "eviction_postponed": court.on_eviction_postponed,
    "moratorium_granted": court.on_moratorium_granted,
    "moratorium_rejected": court.on_moratorium_rejected,
    "eviction_executed": court.on_eviction_executed,
    "tenancy_ended": court.on_tenancy_ended,
    "case_closed": court.on_case_closed,
}

DEADLINE_HANDLERS: dict[str, Callable[[Work], None]] = {
    "early_signal_due": arrears.early_signal_due,
    "help_plan_deadline": help.help_plan_deadline,
    "collection_pause_end": help.collection_pause_end,
    "mpzo_months_threshold": arrears.mpzo_months_threshold,
    "crisis_meeting_deadline": court.crisis_meeting_deadline,
    "moratorium_end": court.moratorium_end,
    "aftercare_end": court.aftercare_end,
    "case_review_due": care.case_review_due,
    "mpzo_plan_deadline": care.mpzo_plan_deadline,
    "eviction_outcome_deadline": court.eviction_outcome_deadline,
}

# Events that exist only under §11: a case running the earlier rules ignores them.
AMENDMENT_EVENTS = frozenset({"debt_help_ended", "progress_reported"})
# Under §11, more deadlines than this firing in one step means a handler keeps re-arming a
# deadline in the past: the rest is dropped as an internal error rather than looping forever.
MAX_FIRINGS_PER_STEP = 500


def internal_error(err: BaseException) -> str:
    """The `reason` of an `ignored` entry for a failure the rules did not foresee (A12)."""
    return f"internal_error: {type(err).__name__}"


def event_detail(event: EventBase) -> dict[str, Any]:
    fields = event.model_dump(mode="json", exclude={"type", "event_id", "source", "occurred_at"})
    detail = {"event_id": event.event_id, "source": event.source, **fields}
    if event.occurred_at is not None:
        detail["occurred_at"] = event.occurred_at.isoformat()
    return detail


def _ignored_detail(detail: dict[str, Any], why: str) -> dict[str, Any]:
    """`reason` says why the event was ignored; an event's own `reason` field is kept as
    `event_reason` (signal_bounced, tenancy_ended, case_closed, debt_help_ended carry one)."""
    kept = dict(detail)
    if "reason" in kept:
        kept["event_reason"] = kept.pop("reason")
    kept["reason"] = why
    return kept


def apply_event(state: CaseState, event: EventBase, now: datetime) -> Step:
    """Apply one event (a signal). Duplicates (same source and event_id) change nothing."""
    key = f"{event.source}:{event.event_id}"
    if key in state.seen_event_ids:
        return Step(state=state, duplicate=True)
    event_type: str = event.type  # type: ignore[attr-defined]
    detail = event_detail(event)
    try:
        _check_admissible(state, event_type, event.source)
        work = Work(state, now)
        work.s.seen_event_ids = remember(state, key)
        work.entry = work.record("event", event_type, **detail)
        HANDLERS[event_type](work, event)
        if work.amended:
            care.after_event(work, event)
        return finish(work)
    except Ignored as why:
        return ignored_step(state, event_type, _ignored_detail(detail, str(why)), now, key)
    except Exception as err:
        if not state.amended:
            raise
        return ignored_step(state, event_type, _ignored_detail(detail, internal_error(err)), now,
                            key)


def apply_payload(state: CaseState, event_type: str, payload: Any, now: datetime) -> Step:
    """Validate a signal's payload and apply it. A payload that is not a valid event changes
    nothing but one `ignored` entry with the reason (A12: also dates outside the plausible
    window, amounts that are not integers, unsafe event ids, for cases under §11)."""
    try:
        if payload is None:
            raise InvalidEvent("event payload must be a JSON object")
        event = parse_event(event_type, payload, now=now if state.amended else None)
    except InvalidEvent as err:
        return ignore_payload(state, event_type, payload, f"malformed event: {err.message}", now)
    except Exception as err:
        if not state.amended:
            raise
        return ignore_payload(state, event_type, payload, internal_error(err), now)
    return apply_event(state, event, now)


def ignore_payload(state: CaseState, event_type: str, payload: Any, why: str,
                   now: datetime) -> Step:
    """Record a payload as `ignored`, keeping what identifies it, when it is there, so that its
    sender can find it."""
    ids = {k: payload[k] for k in ("event_id", "source")
           if isinstance(payload, dict) and isinstance(payload.get(k), str)}
    return ignored_step(state, str(event_type), {**ids, "reason": why}, now)


def fire_due_deadlines(state: CaseState, now: datetime) -> Step:
    """Fire every deadline due at or before `now`, earliest first."""
    return finish(Work(state, now))


def skip_due_deadline(state: CaseState, now: datetime, why: str) -> Step:
    """Drop the earliest due deadline with an `ignored` entry: the workflow's last resort when
    firing deadlines fails outside any handler (A12)."""
    nxt = next_deadline(state)
    if nxt is None or nxt[1] > now:
        return Step(state=state)
    kind, due = nxt
    deadlines = {k: v for k, v in state.deadlines.items() if k != kind}
    step = ignored_step(state.model_copy(update={"deadlines": deadlines}), kind,
                        {"due_at": due.isoformat(), "reason": why}, now)
    return step


def finish(work: Work) -> Step:
    """Fire what fell due, keep the case alive (A1), and build the step's result."""
    _fire_due(work)
    if work.amended:
        care.keep_alive(work)
    return work.result()


def _fire_due(work: Work) -> None:
    firings = 0
    while True:
        nxt = next_deadline(work.s)
        if nxt is None or nxt[1] > work.now:
            return
        kind, due = nxt
        firings += 1
        point = work.savepoint() if work.amended else None
        del work.s.deadlines[kind]
        work.fired.append((kind, due))
        previous_entry = work.entry
        work.entry = work.record("deadline", kind, due_at=due.isoformat())
        try:
            if firings > MAX_FIRINGS_PER_STEP:
                raise RecursionError(f"more than {MAX_FIRINGS_PER_STEP} deadlines in one step")
            DEADLINE_HANDLERS[kind](work)
        except Exception as err:
            if point is None:
                raise
            work.rollback(point)
            work.s.deadlines.pop(kind, None)
            work.record("ignored", kind, due_at=due.isoformat(), reason=internal_error(err))
        work.entry = previous_entry


def _check_admissible(state: CaseState, event_type: str, source: str) -> None:
    if state.closed:
        raise Ignored(f"case is closed ({state.outcome.value if state.outcome else 'closed'})")
    if not state.opened and event_type not in OPENING_EVENTS:
        raise Ignored(
            "no open case: a case opens with arrears_reported, self_referral or concern_reported"
        )
    if event_type in AMENDMENT_EVENTS and not state.amended:
        raise Ignored(f"{event_type} is not known to the rules this case started under")
    parties = state.context.parties if state.context else {}
    kind = parties.get(source)
    if kind is None:
        raise Ignored(f"source {source!r} is not a party to this case")
    if kind not in EVENT_SENDERS[event_type]:
        allowed = ", ".join(sorted(k.value for k in EVENT_SENDERS[event_type]))
        raise Ignored(f"a {kind.value} may not send {event_type} (allowed: {allowed})")


assert set(HANDLERS) == set(EVENT_SENDERS), "every event needs a handler"
assert set(DEADLINE_HANDLERS) == set(DEADLINES), "every deadline needs a handler"
