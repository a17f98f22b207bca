"""Validating one intake event (no I/O): the envelope of RULES §10 and the event itself, through
`vangnet.domain.parse_event`, the definition the workflow applies as well (with A12's date
windows as of the intake's clock once the event models have them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from starter.schemas import ENVELOPE_FIELDS, Envelope
from starter.service.errors import invalid
from vangnet.case_messages import EventSubmission
from vangnet.domain import (
    EVENT_SENDERS,
    OPENING_EVENTS,
    EventBase,
    InvalidEvent,
    case_id_for,
    parse_event,
)


@dataclass(frozen=True)
class ValidatedEvent:
    """An intake event that passed validation: its type, envelope and event model."""

    type: str
    envelope: Envelope
    event: EventBase

    @property
    def case_id(self) -> str:
        return case_id_for(self.envelope.corporation, self.envelope.tenancy_ref)

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def source(self) -> str:
        return self.event.source

    @property
    def opening(self) -> bool:
        """May this event open the case (RULES §4)?"""
        return self.type in OPENING_EVENTS

    def payload(self) -> dict[str, Any]:
        """The event as its signal carries it (RULES §9): {event_id, source, occurred_at, …}."""
        return self.event.model_dump(mode="json", exclude={"type"})

    def submission(self) -> EventSubmission:
        """The argument of the case's `submit_event` update."""
        env = self.envelope
        return EventSubmission(type=self.type, tenancy_ref=env.tenancy_ref,
                               corporation=env.corporation, municipality=env.municipality,
                               event=self.payload())


def validate_event(body: Any, source: str, now: datetime) -> ValidatedEvent:
    """Validate one intake event; raise IntakeError(422) naming the field."""
    if not isinstance(body, dict):
        raise invalid("invalid_event", "an event must be a JSON object")
    if "source" in body:
        raise invalid(
            "invalid_event", "source is taken from your API key: leave it out of the event", "source"
        )
    event_type = body.get("type")
    if event_type is None:
        raise invalid("invalid_event", "type: field required", "type")
    if not isinstance(event_type, str):
        raise invalid("unknown_event_type", "type must be a string naming an event", "type")
    if event_type not in EVENT_SENDERS:
        # parse_event's message lists the known types
        try:
            parse_event(event_type, {}, now=now)
        except InvalidEvent as err:
            raise invalid("unknown_event_type", err.message, "type") from None
    try:
        envelope = Envelope.model_validate({k: body[k] for k in ENVELOPE_FIELDS if k in body})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        msg = "field required" if first["type"] == "missing" else first["msg"]
        raise invalid("invalid_event", f"{field}: {msg}" if field else msg, field) from None
    fields = {k: v for k, v in body.items() if k not in ENVELOPE_FIELDS and k != "type"}
    fields["source"] = source
    try:
        event = parse_event(event_type, fields, now=now)
    except InvalidEvent as err:
        raise invalid("invalid_event", err.message, err.field) from None
    return ValidatedEvent(type=event_type, envelope=envelope, event=event)


__all__ = ["ValidatedEvent", "validate_event"]
