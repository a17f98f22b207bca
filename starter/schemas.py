"""The intake's request and response shapes, derived from `vangnet.domain` (no second list).

An intake event is the envelope (`type`, `tenancy_ref`, `corporation`, `municipality`) plus the
fields of the event's model in `vangnet.domain.EVENT_MODELS`, minus `source` (the intake sets it
from the API key). The per-type request models below exist for the OpenAPI document; validation
itself goes through `vangnet.domain.parse_event`, the same function the workflow uses on its signals.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from starter.openapi_docs import FIELD_DOCS
from vangnet.case_messages import CaseStatus, NextDeadline, TimelineEntry
from vangnet.domain import EVENT_MODELS, CaseInput

# The envelope's fields: the workflow input's (RULES §9), so the intake accepts exactly what a
# case can be started with.
ENVELOPE_FIELDS = ("tenancy_ref", "corporation", "municipality")
MAX_BATCH = 10_000


class Envelope(BaseModel):
    """Which tenancy an event is about; validated with CaseInput's own field definitions."""

    model_config = ConfigDict(extra="ignore")

    tenancy_ref: Annotated[str, CaseInput.model_fields["tenancy_ref"]]
    corporation: Annotated[str, CaseInput.model_fields["corporation"]]
    municipality: Annotated[str, CaseInput.model_fields["municipality"]]


class _RequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenancy_ref: Annotated[str, CaseInput.model_fields["tenancy_ref"], Field(description=FIELD_DOCS["tenancy_ref"])]
    corporation: Annotated[str, CaseInput.model_fields["corporation"], Field(description=FIELD_DOCS["corporation"])]
    municipality: Annotated[str, CaseInput.model_fields["municipality"], Field(description=FIELD_DOCS["municipality"])]


def _described(info: FieldInfo, name: str) -> FieldInfo:
    """The domain model's field, with its description for the OpenAPI document (issue 10)."""
    if info.description or name not in FIELD_DOCS:
        return info
    return FieldInfo.merge_field_infos(info, description=FIELD_DOCS[name])


def _request_model(event_type: str, model: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {"type": (Literal[event_type], Field(description=FIELD_DOCS["type"]))}
    for name, info in model.model_fields.items():
        if name in ("type", "source"):
            continue
        fields[name] = (info.annotation, _described(info, name))
    camel = "".join(part.capitalize() for part in event_type.split("_"))
    return create_model(f"{camel}Event", __base__=_RequestBase, __doc__=model.__doc__, **fields)


REQUEST_MODELS: dict[str, type[BaseModel]] = {
    name: _request_model(name, model) for name, model in EVENT_MODELS.items()
}
# Union of a runtime tuple of models: no `X | Y` spelling exists for that.
IntakeEventBody = Annotated[Union[tuple(REQUEST_MODELS.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(cast(Any, IntakeEventBody))


def event_schemas(ref_template: str = "#/components/schemas/{model}") -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema of one intake event, the component schemas it refers to) for the OpenAPI document."""
    schema = _EVENT_ADAPTER.json_schema(ref_template=ref_template)
    defs = schema.pop("$defs", {})
    return schema, defs


# -- responses ------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable reason, e.g. `invalid_event`, `forbidden`, "
                      "`case_closed`, `conflict`, `event_ignored`, `key_expired`")
    message: str = Field(description="one sentence for people")
    field: str | None = Field(default=None, description="the offending field, where there is one")
    case_id: str | None = Field(default=None, description="the case, where the answer is about one "
                                "(409 `case_closed` and `conflict`, 422 `event_ignored`)")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Accepted(BaseModel):
    case_id: str
    event_id: str
    duplicate: bool = Field(description="true when this party already sent this event_id and it is in "
                            "the case's history (nothing applied again)")


class BatchItemResult(BaseModel):
    index: int = Field(description="0-based position of the item in the request (NDJSON: among non-blank lines)")
    status: int = Field(description="the HTTP status this item would have had as a single event (202 accepted)")
    case_id: str | None = None
    event_id: str | None = None
    duplicate: bool | None = None
    error: ErrorDetail | None = None


class BatchResult(BaseModel):
    count: int
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult]


class Delivery(BaseModel):
    """A message's webhook push (issue 10); null when the party has no webhook."""

    state: Literal["pending", "delivered", "failed"] = Field(
        description="pending: not delivered yet (retried with backoff); delivered: the receiver "
                    "answered 2xx; failed: refused for good or undelivered after the give-up period")
    attempts: int = Field(description="push attempts so far")
    last_error: str | None = Field(description="the last failed attempt's code, e.g. `http_503`, `unreachable`")
    next_attempt_at: str | None = Field(description="when the next attempt is due (pending only)")
    delivered_at: str | None = Field(description="when the receiver accepted it")


class InboxMessageOut(BaseModel):
    id: int
    case_id: str
    action: str
    idempotency_key: str
    created_at: str
    acked_at: str | None
    payload: dict[str, Any]
    delivery: Delivery | None = None


class InboxPage(BaseModel):
    messages: list[InboxMessageOut]
    next_cursor: int = Field(description="pass as `after` to read the next page")
    has_more: bool


class AckResult(BaseModel):
    message_id: int
    acked: bool


class CaseListItem(BaseModel):
    """One case episode in `GET /v1/cases` (issue 10), from the case store."""

    case_id: str = Field(description="`case-{corporation}-{tenancy_ref}`")
    run_id: str = Field(description="the episode: the first run id of its workflow")
    corporation: str = Field(description="housing corporation code (RULES §1)")
    municipality: str = Field(description="municipality code (RULES §1)")
    stage: str = Field(description="stage of RULES §3")
    track: str = Field(description="`spoor_1` or `spoor_2`")
    outcome: str | None = Field(description="when closed: resolved, evicted, tenancy_ended or withdrawn")
    closed: bool = Field(description="whether the episode is closed")
    opened_at: str = Field(description="when the episode opened (ISO 8601)")
    closed_at: str | None = Field(description="when it closed")
    next_deadline: str | None = Field(description="its next deadline when last projected (null when closed, or for runs started before the case list existed)")
    updated_at: str = Field(description="when the case store last heard from the case")


class CaseList(BaseModel):
    cases: list[CaseListItem]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    has_more: bool


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    temporal: str
    database: str


__all__ = [
    "ENVELOPE_FIELDS",
    "MAX_BATCH",
    "Envelope",
    "REQUEST_MODELS",
    "event_schemas",
    "ErrorDetail",
    "ErrorBody",
    "Accepted",
    "BatchItemResult",
    "BatchResult",
    "InboxMessageOut",
    "InboxPage",
    "AckResult",
    "CaseStatus",
    "NextDeadline",
    "TimelineEntry",
    "Health",
]
