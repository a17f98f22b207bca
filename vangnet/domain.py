"""The agreement's vocabulary: stages, tracks, outcomes, party kinds, events and actions.

One definition serves the workflow (signal payloads), the rules core and the intake (validation):
RULES.md sections 3-5 and 9. The names here are public; do not rename them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from vangnet import calendar
from vangnet.policy import Policy
from vangnet.vocabulary import Action


class Stage(StrEnum):
    arrears = "arrears"
    early_signal = "early_signal"
    debt_help = "debt_help"
    arrangement = "arrangement"
    aftercare = "aftercare"
    closed = "closed"
    care = "care"
    crisis = "crisis"


class Track(StrEnum):
    spoor_1 = "spoor_1"
    spoor_2 = "spoor_2"


class Outcome(StrEnum):
    resolved = "resolved"
    evicted = "evicted"
    tenancy_ended = "tenancy_ended"
    withdrawn = "withdrawn"


class Collection(StrEnum):
    active = "active"
    paused = "paused"


class PartyKind(StrEnum):
    corporation = "corporation"
    municipality = "municipality"
    social_service = "social_service"
    social_team = "social_team"
    mpzo = "mpzo"
    operator = "operator"
    adviesgroep = "adviesgroep"  # the steering group (chaired by the GGD): receives the reports, sends nothing


PROFESSIONAL = frozenset(
    {
        PartyKind.corporation,
        PartyKind.municipality,
        PartyKind.social_service,
        PartyKind.social_team,
        PartyKind.mpzo,
    }
)
_C, _M, _SS, _ST, _MPZO, _OP = (
    PartyKind.corporation,
    PartyKind.municipality,
    PartyKind.social_service,
    PartyKind.social_team,
    PartyKind.mpzo,
    PartyKind.operator,
)


# ---------------------------------------------------------------------------------------------
# Events (RULES §4): one pydantic model per signal. `source` is the sending party's code; the
# intake fills it from the authenticated key, never from the body.
# ---------------------------------------------------------------------------------------------

# RULES §11 A12: bad input never stops a case. `parse_event(..., now=...)` checks, besides the
# fields' own types, that amounts are integers (no strings, booleans or floats), that dates lie in
# a plausible window and that event ids are made of safe characters. The checks read `now` from
# the validation context; without it (`now=None`) they are off, as they were before A12, so that
# cases that started before it replay as they ran.
EARLIEST_DATE = date(2000, 1, 1)
YEARS_AHEAD = 5  # eviction_date, hearing_date, until, new_eviction_date: at most this far ahead
CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock may run this much ahead of ours
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)


def _now(info: ValidationInfo) -> datetime | None:
    context = info.context
    return context.get("now") if isinstance(context, dict) else None


def _integer(value: Any, info: ValidationInfo) -> Any:
    if _now(info) is None or type(value) is int:
        return value
    what = {bool: "true or false", str: "text", float: "a decimal number"}.get(type(value), "that")
    raise PydanticCustomError("int_type", "Input should be a whole number, not {what}",
                              {"what": what})


def _not_before_2000(value: date) -> None:
    if value < EARLIEST_DATE:
        raise PydanticCustomError("date_too_early", "must not be before {earliest}",
                                  {"earliest": EARLIEST_DATE.isoformat()})


def _past_date(value: date, info: ValidationInfo) -> date:
    """A date that has happened (arrears_since): 2000-01-01 up to today (Dutch time)."""
    now = _now(info)
    if now is not None:
        _not_before_2000(value)
        today = calendar.local_date(now)
        if value > today:
            raise PydanticCustomError("date_in_future", "must not be in the future (today is {today})",
                                      {"today": today.isoformat()})
    return value


def _coming_date(value: date | None, info: ValidationInfo) -> date | None:
    """A date of a planned step (hearing, eviction, moratorium): at most 5 years ahead."""
    now = _now(info)
    if now is not None and value is not None:
        _not_before_2000(value)
        latest = calendar.add_months(calendar.local_date(now), 12 * YEARS_AHEAD)
        if value > latest:
            raise PydanticCustomError("date_too_far", "must be at most {years} years ahead "
                                      "(on or before {latest})",
                                      {"years": YEARS_AHEAD, "latest": latest.isoformat()})
    return value


def _occurred_at(value: datetime | None, info: ValidationInfo) -> datetime | None:
    now = _now(info)
    if now is None or value is None:
        return value
    if value.tzinfo is None:  # a wall-clock time without offset is Dutch time
        value = value.replace(tzinfo=calendar.TZ)
    _not_before_2000(calendar.local_date(value))
    if value > now + CLOCK_SKEW:
        raise PydanticCustomError("datetime_in_future", "must not be in the future", {})
    return value


def _event_id(value: str, info: ValidationInfo) -> str:
    if _now(info) is not None and not _EVENT_ID.fullmatch(value):
        raise PydanticCustomError(
            "event_id_pattern", "must be 1 to 128 letters, digits or . _ : - (starting with a "
            "letter or digit)", {})
    return value


Cents = Annotated[int, BeforeValidator(_integer), Field(ge=0, le=100_000_000_00)]
PositiveCents = Annotated[int, BeforeValidator(_integer), Field(gt=0, le=100_000_000_00)]
PastDate = Annotated[date, AfterValidator(_past_date)]
ComingDate = Annotated[date, AfterValidator(_coming_date)]


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_event_id)]
    occurred_at: Annotated[datetime | None, AfterValidator(_occurred_at)] = None
    source: Annotated[str, Field(min_length=1, max_length=100)]


class ArrearsReported(EventBase):
    type: Literal["arrears_reported"] = "arrears_reported"
    arrears_cents: PositiveCents
    monthly_rent_cents: PositiveCents
    arrears_since: PastDate


class PaymentReceived(EventBase):
    type: Literal["payment_received"] = "payment_received"
    amount_cents: PositiveCents
    arrears_cents: Cents


class ReminderSent(EventBase):
    type: Literal["reminder_sent"] = "reminder_sent"
    tenant_objects_to_signal: bool


class SelfReferral(EventBase):
    type: Literal["self_referral"] = "self_referral"


class SignalBounced(EventBase):
    type: Literal["signal_bounced"] = "signal_bounced"
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class NoContact(EventBase):
    type: Literal["no_contact"] = "no_contact"


class HelpAccepted(EventBase):
    type: Literal["help_accepted"] = "help_accepted"


class HelpRefused(EventBase):
    type: Literal["help_refused"] = "help_refused"


class DebtHelpStarted(EventBase):
    type: Literal["debt_help_started"] = "debt_help_started"


class DebtHelpEnded(EventBase):
    """RULES §11 A2: debt help ended without result."""

    type: Literal["debt_help_ended"] = "debt_help_ended"
    reason: Literal["dropped_out", "rejected", "other"]


class ProgressReported(EventBase):
    """RULES §11 A1: the party holding the case confirms that work on it goes on."""

    type: Literal["progress_reported"] = "progress_reported"


class PaymentArrangementAgreed(EventBase):
    type: Literal["payment_arrangement_agreed"] = "payment_arrangement_agreed"
    monthly_amount_cents: PositiveCents
    months: Annotated[int, BeforeValidator(_integer), Field(gt=0, le=600)]


class ArrangementBreached(EventBase):
    type: Literal["arrangement_breached"] = "arrangement_breached"


class ConcernReported(EventBase):
    type: Literal["concern_reported"] = "concern_reported"
    kind: Literal["nuisance", "confused_behaviour", "care_and_safety"]


class MpzoPlanReady(EventBase):
    type: Literal["mpzo_plan_ready"] = "mpzo_plan_ready"


class CareStarted(EventBase):
    type: Literal["care_started"] = "care_started"
    by: Literal["social_team", "bemoeizorg", "care_provider"]


class SummonsServed(EventBase):
    type: Literal["summons_served"] = "summons_served"
    hearing_date: ComingDate


class JudgmentGiven(EventBase):
    type: Literal["judgment_given"] = "judgment_given"
    eviction_granted: bool


class EvictionAnnounced(EventBase):
    type: Literal["eviction_announced"] = "eviction_announced"
    eviction_date: ComingDate


class CrisisMeetingHeld(EventBase):
    type: Literal["crisis_meeting_held"] = "crisis_meeting_held"
    result: Literal["postponement_agreed", "moratorium_needed", "no_solution"]


class EvictionPostponed(EventBase):
    type: Literal["eviction_postponed"] = "eviction_postponed"
    new_eviction_date: Annotated[date | None, AfterValidator(_coming_date)]


class MoratoriumGranted(EventBase):
    type: Literal["moratorium_granted"] = "moratorium_granted"
    until: ComingDate


class MoratoriumRejected(EventBase):
    type: Literal["moratorium_rejected"] = "moratorium_rejected"


class EvictionExecuted(EventBase):
    type: Literal["eviction_executed"] = "eviction_executed"


class TenancyEnded(EventBase):
    type: Literal["tenancy_ended"] = "tenancy_ended"
    reason: Literal["moved_out", "deceased", "other"]


class CaseClosed(EventBase):
    type: Literal["case_closed"] = "case_closed"
    reason: Annotated[str, Field(min_length=1, max_length=500)]


Event = Annotated[
    ArrearsReported | PaymentReceived | ReminderSent | SelfReferral | SignalBounced | NoContact | HelpAccepted | HelpRefused | DebtHelpStarted | DebtHelpEnded | ProgressReported | PaymentArrangementAgreed | ArrangementBreached | ConcernReported | MpzoPlanReady | CareStarted | SummonsServed | JudgmentGiven | EvictionAnnounced | CrisisMeetingHeld | EvictionPostponed | MoratoriumGranted | MoratoriumRejected | EvictionExecuted | TenancyEnded | CaseClosed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_MODELS: dict[str, type[EventBase]] = {
    m.model_fields["type"].default: m for m in Event.__origin__.__args__  # type: ignore[attr-defined]
}

# Who may send what (RULES §4 "who"; the intake enforces, the workflow checks again).
EVENT_SENDERS: dict[str, frozenset[PartyKind]] = {
    "arrears_reported": frozenset({_C}),
    "payment_received": frozenset({_C}),
    "reminder_sent": frozenset({_C}),
    "self_referral": frozenset({_C, _SS, _ST}),
    "signal_bounced": frozenset({_M, _SS, _ST}),
    "no_contact": frozenset({_M, _SS, _ST}),
    "help_accepted": frozenset({_M, _SS, _ST}),
    "help_refused": frozenset({_M, _SS, _ST}),
    "debt_help_started": frozenset({_SS, _ST}),
    "debt_help_ended": frozenset({_SS, _ST, _M}),  # A2
    "progress_reported": frozenset({_SS, _ST, _MPZO}),  # A1
    "payment_arrangement_agreed": frozenset({_SS, _C}),
    "arrangement_breached": frozenset({_C, _SS}),
    "concern_reported": PROFESSIONAL,
    "mpzo_plan_ready": frozenset({_MPZO}),
    "care_started": frozenset({_MPZO, _ST}),
    "summons_served": frozenset({_C}),
    "judgment_given": frozenset({_C}),
    "eviction_announced": frozenset({_C}),
    "crisis_meeting_held": frozenset({_SS, _C}),
    "eviction_postponed": frozenset({_C}),
    "moratorium_granted": frozenset({_SS}),
    "moratorium_rejected": frozenset({_SS}),
    "eviction_executed": frozenset({_C}),
    "tenancy_ended": frozenset({_C}),
    "case_closed": frozenset({_OP}),
}

# Events that may open a case (signal-with-start); any other event needs an open case.
OPENING_EVENTS = frozenset({"arrears_reported", "self_referral", "concern_reported"})

assert set(EVENT_SENDERS) == set(EVENT_MODELS), "every event needs its senders"


class InvalidEvent(ValueError):
    """A payload that is not a valid event; `field` names the offending field where known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def parse_event(event_type: str, payload: dict[str, Any], *, now: datetime | None) -> EventBase:
    """Validate one event payload of the given type; raise InvalidEvent with a precise message.

    `now` is the moment the event arrives: the intake's clock, or `workflow.now()` in a case.
    With it, the checks of RULES §11 A12 apply (integer amounts, plausible dates, safe event ids);
    `now=None` leaves them out, for cases that started before A12 (their histories replay as
    they ran). Pure: the same payload and `now` always give the same answer."""
    if event_type not in EVENT_MODELS:
        raise InvalidEvent(
            f"unknown event type {event_type!r}; expected one of: {', '.join(sorted(EVENT_MODELS))}",
            field="type",
        )
    if not isinstance(payload, dict):
        raise InvalidEvent("event payload must be a JSON object")
    body = {k: v for k, v in payload.items() if k != "type"}
    try:
        return EVENT_MODELS[event_type].model_validate(
            body, context={"now": now} if now is not None else None)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or None
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = f"field not allowed for {event_type}"
        raise InvalidEvent(f"{loc}: {msg}" if loc else msg, field=loc) from None


# ---------------------------------------------------------------------------------------------
# Actions (RULES §5): what a case does, one activity each.
# ---------------------------------------------------------------------------------------------

# The names and their catalogue rows live in vangnet.vocabulary; this tuple is the public list.
ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)


class Receiver(StrEnum):
    """A role in the case; the delivery activity turns it into a party code via the registry."""

    corporation = "corporation"
    municipality = "municipality"
    social_service = "social_service"
    social_team = "social_team"
    mpzo = "mpzo"


class ActionRequest(BaseModel):
    """What the workflow asks an action activity to deliver. Carries no personal data."""

    model_config = ConfigDict(frozen=True)

    action: str
    case_id: str
    idempotency_key: str
    corporation: str
    municipality: str
    receivers: list[Receiver]
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    at: datetime
    # The case's policy values, so that a text stating a period states the case's (RULES §11
    # A11). Not part of the delivered message.
    policy: dict[str, Any] = Field(default_factory=dict)


class DeliveryResult(BaseModel):
    """What an action activity did: the messages it wrote (or found already written)."""

    action: str
    message_ids: list[int]
    receivers: list[str]
    channel: str | None = None
    protocol: str | None = None
    duplicate: bool = False
    # Messages whose receiving party has a webhook (registry `webhook_url`): the workflow runs one
    # `deliver_webhook` activity for each (patch "webhooks-v1").
    webhook_message_ids: list[int] = Field(default_factory=list)


class WebhookRequest(BaseModel):
    """Input of the `deliver_webhook` activity: POST one inbox message to its party's webhook."""

    model_config = ConfigDict(frozen=True)

    message_id: int
    case_id: str


class WebhookResult(BaseModel):
    message_id: int
    party_code: str
    status_code: int | None = None
    skipped: str | None = None  # why nothing was posted (the party no longer has a webhook)


class DispatchRequest(BaseModel):
    """One round of the webhook outbox dispatcher (activities/dispatch.py)."""

    limit: int = 100


class DispatchResult(BaseModel):
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    more: bool = False  # the round was full: more may be due at once


class DispatcherInput(BaseModel):
    """WebhookDispatcherWorkflow's input (workflows/dispatcher.py)."""

    poll_seconds: float = 10.0
    rounds_per_run: int = 500
    limit: int = 100


# ---------------------------------------------------------------------------------------------
# Case context: resolved once when a case (episode) opens, by an activity, and kept in the case.
# ---------------------------------------------------------------------------------------------


class CaseInput(BaseModel):
    """Workflow input (RULES §9). `state`, `history_limit` and the timeline fields are internal:
    continue-as-new carries the case state in `state` (a `vangnet.rules.CaseState`; any state an
    earlier version wrote loads); `history_limit` bounds a run's history length."""

    tenancy_ref: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    corporation: Annotated[str, Field(min_length=1, max_length=100)]
    municipality: Annotated[str, Field(min_length=1, max_length=100)]
    state: CaseState | None = None
    history_limit: int = 5000
    # Bounded state (RULES §12): the case keeps its newest `timeline_limit` timeline entries and
    # archives older ones to the case store; `timeline_archived` counts those (it rides along
    # through continue-as-new, so the entries keep their positions).
    timeline_limit: int = 300
    timeline_archived: int = 0


def case_id_for(corporation: str, tenancy_ref: str) -> str:
    """Case id and workflow id (RULES §3): business key, no personal data."""
    return f"case-{corporation}-{tenancy_ref}"


class CaseContextRequest(BaseModel):
    case_id: str
    corporation: str
    municipality: str
    run_id: str


class PreviousEpisode(BaseModel):
    run_id: str
    closed_at: datetime
    outcome: str | None


class CaseContext(BaseModel):
    social_service: str
    social_team: str
    mpzo: str
    policy: Policy
    # Party codes that take part in this case, with their kind (for the sender check).
    parties: dict[str, PartyKind]
    previous_episode: PreviousEpisode | None = None


class CaseProjection(BaseModel):
    """The case store's reporting row for one episode (no personal data)."""

    case_id: str
    run_id: str  # first run of the episode: stable across continue-as-new
    corporation: str
    municipality: str
    stage: Stage
    track: Track
    outcome: Outcome | None
    opened_at: datetime
    closed_at: datetime | None
    next_deadline: datetime | None = None  # issue 10: GET /v1/cases?deadline_before=


# CaseInput.state is the rules core's CaseState, which is built on the models above: resolved
# once both modules are loaded (vangnet.rules.state imports this module, not the other way round).
from vangnet.rules.state import CaseState  # noqa: E402

CaseInput.model_rebuild()
