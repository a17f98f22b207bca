"""One event through the intake (RULES §10 `POST /v1/events`, §12 I1–I4).

1. Validate (422) and check the sender against the request alone (403, §7): no I/O.
2. Look the event up among those the intake already has a verdict for: the same event again is a
   duplicate (202) or the same refusal (422); its `event_id` for another event is 422.
3. An event that may open a case: the tenancy's municipality is that of its earlier episodes (I4).
4. Hand it to the case (`CaseClient.submit`) and turn the case's own verdict into the answer:
   applied → 202; duplicate → 202 `"duplicate": true`; ignored → 422 `event_ignored` with the
   case's reason (I2), or 409 `case_closed` when it came in behind the closing event; accepted but
   not yet applied → 202 (it is in the case's history: I1).
5. Record the verdict (so that a 202 and a repeat's "duplicate" always mean "in history").

No oracle (I3): where the answer would tell that a case exists, a sender that §7 does not let act
on that case is answered as if there were none (404 `no_open_case`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from starter.service import failpoints
from starter.service.access import Principal, check_send, may_send
from starter.service.case_client import CaseClient, CaseRejected, NoRunningCase
from starter.service.errors import IntakeError, conflict, invalid, not_found
from starter.service.validation import ValidatedEvent, validate_event
from vangnet.case_messages import (
    REJECTED_CLOSED,
    REJECTED_INVALID,
    REJECTED_MUNICIPALITY,
    EventVerdict,
)
from vangnet.domain import OPENING_EVENTS, PartyKind
from vangnet.store import Store
from vangnet.store.cases import municipality_of
from vangnet.store.intake_events import (
    ACCEPTED,
    APPLIED,
    IGNORED,
    Verdict,
    find_events,
    record_verdicts,
)
from vangnet.store.models import IntakeEvent
from vangnet.store.registry import Parties

log = structlog.get_logger("vangnet.intake")

UNKNOWN: Any = object()  # "not looked up yet" (a batch looks up many events at once)


@dataclass(frozen=True)
class EventAccepted:
    """A 202: the event is in its case's history."""

    case_id: str
    event_id: str
    duplicate: bool


def prepare(p: Principal, body: Any, parties: Parties, now: Any) -> ValidatedEvent:
    """Steps 1: validation, the registry, and §7 on the request alone."""
    event = validate_event(body, p.source, now)
    env = event.envelope
    if parties.kind(env.corporation) is not PartyKind.corporation:
        raise invalid("unknown_corporation",
                      f"corporation {env.corporation!r} is not a housing corporation in the registry",
                      "corporation")
    if parties.kind(env.municipality) is not PartyKind.municipality:
        raise invalid("unknown_municipality",
                      f"municipality {env.municipality!r} is not a municipality in the registry",
                      "municipality")
    check_send(p, event.type, env.corporation, env.municipality, parties)
    return event


def no_open_case(case_id: str) -> IntakeError:
    return not_found(
        "no_open_case",
        f"there is no open case {case_id}; a case opens with " + ", ".join(sorted(OPENING_EVENTS)),
    )


def case_closed(case_id: str, outcome: str | None, *, racing: bool = False) -> IntakeError:
    what = f" (outcome: {outcome})" if outcome else ""
    if racing:
        return conflict("case_closed",
                        f"case {case_id} closed{what} before this event was applied: it accepts no "
                        "further events; new arrears, a self-referral or a concern open a new case",
                        case_id)
    return conflict("case_closed",
                    f"case {case_id} is closed{what}: it accepts no further events; new arrears, "
                    "a self-referral or a concern open a new case", case_id)


def event_ignored(case_id: str, reason: str | None) -> IntakeError:
    return IntakeError(422, "event_ignored",
                       f"case {case_id} recorded this event as ignored: {reason or 'no reason given'}",
                       case_id=case_id)


class EventIntake:
    """Steps 2–5 for one prepared event (the batch runs many through the same method)."""

    def __init__(self, store: Store, cases: CaseClient) -> None:
        self.store = store
        self.cases = cases

    async def apply(self, p: Principal, event: ValidatedEvent, parties: Parties, *,
                    prior: IntakeEvent | None = UNKNOWN,
                    case_municipality: str | None = UNKNOWN,
                    verdicts: list[Verdict] | None = None,
                    patience: float | None = None) -> EventAccepted:
        """`prior` and `case_municipality` may be looked up by the caller (a batch does it for
        all its events at once). Verdicts are recorded at once, or appended to `verdicts` for
        the caller to record. `patience`: how long the case may take to accept the event."""
        if prior is UNKNOWN:
            prior = (await _find(self.store, event.source, [event.event_id])).get(event.event_id)
        if prior is not None:
            if (prior.case_id, prior.type) != (event.case_id, event.type):
                raise invalid(
                    "event_id_reused",
                    f"{p.label} already used event_id {event.event_id!r} for {prior.type} on "
                    f"{prior.case_id}", "event_id")
            if prior.verdict == APPLIED:
                return EventAccepted(event.case_id, event.event_id, duplicate=True)
            if prior.verdict == IGNORED:
                raise event_ignored(event.case_id, prior.reason)
            # ACCEPTED: in history, verdict not learnt yet: ask the case again (same update id).
        if event.opening:
            if case_municipality is UNKNOWN:
                case_municipality = await municipality_of(self.store.sessions, event.case_id)
            if case_municipality is not None and case_municipality != event.envelope.municipality:
                raise self._mismatch(p, event, case_municipality, parties, running=False)
        await failpoints.reached("before_update")
        try:
            verdict = await self.cases.submit(event, patience=patience)
        except CaseRejected as rejected:
            raise self._rejected(p, event, parties, rejected) from None
        except NoRunningCase as missing:
            raise self._missing(p, event, parties, missing) from None
        await failpoints.reached("after_update")
        accepted = await self._answer(event, verdict, verdicts)
        await failpoints.reached("after_record")
        return accepted

    async def _answer(self, event: ValidatedEvent, verdict: EventVerdict | None,
                      verdicts: list[Verdict] | None) -> EventAccepted:
        def record(kind: str, reason: str | None = None) -> Verdict:
            return Verdict(event.source, event.event_id, event.case_id, event.type, kind, reason)

        if verdict is None:
            await self._record(record(ACCEPTED), verdicts)
            return EventAccepted(event.case_id, event.event_id, duplicate=False)
        if verdict.verdict == "duplicate":
            return EventAccepted(event.case_id, event.event_id, duplicate=True)
        if verdict.verdict == "applied":
            await self._record(record(APPLIED), verdicts)
            return EventAccepted(event.case_id, event.event_id, duplicate=False)
        if verdict.case_closed:  # came in behind the closing event: sent again, it may open anew
            raise case_closed(event.case_id, verdict.outcome, racing=True)
        await self._record(record(IGNORED, verdict.reason), verdicts)
        raise event_ignored(event.case_id, verdict.reason)

    async def _record(self, verdict: Verdict, verdicts: list[Verdict] | None) -> None:
        if verdicts is not None:
            verdicts.append(verdict)
            return
        try:
            await record_verdicts(self.store.sessions, [verdict])
        except Exception as err:  # the event is in history: the answer stands
            # A repeat finds no row and asks the case, whose answer is the same: nothing lost.
            log.warning("intake_record_failed", case_id=verdict.case_id, error=type(err).__name__)

    def _mismatch(self, p: Principal, event: ValidatedEvent, case_municipality: str,
                  parties: Parties, *, running: bool) -> IntakeError:
        """The event names another municipality than its case's (RULES §12 I3, I4)."""
        env = event.envelope
        if may_send(p, event.type, env.corporation, case_municipality, parties):
            return invalid("municipality_mismatch",
                           f"case {event.case_id} is in municipality {case_municipality!r}, "
                           f"not {env.municipality!r}", "municipality")
        if not event.opening:
            return no_open_case(event.case_id)  # not a case this sender may act on: no oracle
        if running:  # another opening for another municipality was first
            return conflict("conflict",
                            f"case {event.case_id} is open already, for another municipality than "
                            "this event names: the event was not applied", event.case_id)
        return invalid("municipality_mismatch",
                       f"tenancy {env.tenancy_ref} of {env.corporation} belongs to another "
                       "municipality (that of its earlier cases): a new case stays there",
                       "municipality")

    def _rejected(self, p: Principal, event: ValidatedEvent, parties: Parties,
                  rejected: CaseRejected) -> IntakeError:
        if rejected.kind == REJECTED_MUNICIPALITY and rejected.detail:
            return self._mismatch(p, event, rejected.detail, parties, running=True)
        if rejected.kind == REJECTED_CLOSED:
            # The municipality matched, and §7 let the sender act for it: it may know.
            return case_closed(event.case_id, rejected.detail, racing=event.opening)
        if rejected.kind == REJECTED_INVALID:
            return invalid("invalid_event", rejected.message, rejected.detail)
        # (REJECTED_OTHER_CASE: the case id names another tenancy than the envelope: a bug.)
        log.error("event_rejected_by_case", case_id=event.case_id, kind=rejected.kind)
        return IntakeError(500, "internal_error", "the intake failed; retry with the same event_id")

    def _missing(self, p: Principal, event: ValidatedEvent, parties: Parties,
                 missing: NoRunningCase) -> IntakeError:
        env = event.envelope
        if missing.closed and may_send(p, event.type, env.corporation,
                                       missing.municipality or env.municipality, parties):
            return case_closed(event.case_id, missing.outcome)
        return no_open_case(event.case_id)


async def _find(store: Store, source: str, event_ids: list[str]) -> dict[str, IntakeEvent]:
    return await find_events(store.sessions, source, event_ids)


__all__ = ["EventAccepted", "EventIntake", "prepare", "no_open_case", "case_closed",
           "event_ignored", "UNKNOWN"]
