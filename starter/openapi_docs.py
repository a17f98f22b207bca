"""What the OpenAPI document says about the intake's fields (issue 10: made for generators).

`FIELD_DOCS` describes every field of the intake events (RULES §4) and their envelope; the request
models of starter/schemas.py take their descriptions from here, and `example_event()` builds the
example shown for each event type. Response models carry their own descriptions.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, get_args

FIELD_DOCS: dict[str, str] = {
    "type": "the event's name (RULES §4): one signal of the case",
    "tenancy_ref": "the corporation's own contract reference: no name, BSN or address (RULES §3)",
    "corporation": "the tenancy's housing corporation, by code (RULES §1)",
    "municipality": "the tenancy's municipality, by code (RULES §1)",
    "event_id": "unique per sender: a repeat with the same id is answered `duplicate` and applied once",
    "occurred_at": "when it happened in the world (ISO 8601; recorded, never used to reorder; "
                   "not in the future, not before 2000)",
    "arrears_cents": "arrears in euro cents (an integer: 925,00 euro is 92500); after a payment: "
                     "what remains",
    "monthly_rent_cents": "the monthly rent in euro cents",
    "arrears_since": "the first unpaid due date (the arrears clock starts here)",
    "amount_cents": "the amount paid, in euro cents",
    "tenant_objects_to_signal": "the tenant objected to the early signal in reply to the reminder",
    "reason": "a reason code or short text without personal data",
    "monthly_amount_cents": "the arrangement's monthly payment, in euro cents",
    "months": "the arrangement's number of months",
    "kind": "what the concern is about: nuisance, confused_behaviour or care_and_safety",
    "by": "who started the care: social_team, bemoeizorg or care_provider",
    "hearing_date": "the date of the court hearing",
    "eviction_granted": "whether the court granted the eviction",
    "eviction_date": "the announced eviction date",
    "result": "the outcome of the crisis meeting",
    "new_eviction_date": "the new eviction date, or null when none is set yet",
    "until": "the last day of the moratorium (art. 287b Fw)",
}

_TODAY = date(2026, 11, 20)
_EXAMPLE_VALUES: dict[str, Any] = {
    "arrears_cents": 92_500,
    "monthly_rent_cents": 92_500,
    "arrears_since": (_TODAY - timedelta(days=20)).isoformat(),
    "amount_cents": 92_500,
    "tenant_objects_to_signal": False,
    "reason": "help_refused_before",
    "monthly_amount_cents": 20_000,
    "months": 6,
    "hearing_date": (_TODAY + timedelta(days=30)).isoformat(),
    "eviction_granted": True,
    "eviction_date": (_TODAY + timedelta(days=40)).isoformat(),
    "new_eviction_date": (_TODAY + timedelta(days=70)).isoformat(),
    "until": (_TODAY + timedelta(days=120)).isoformat(),
}


def example_event(event_type: str, model: Any) -> dict[str, Any]:
    """A valid request body for one event type, for the OpenAPI document."""
    body: dict[str, Any] = {"type": event_type, "tenancy_ref": "HC-2026-0042", "corporation": "woonbron",
                            "municipality": "dordrecht", "event_id": f"{event_type}-0001"}
    for name, info in model.model_fields.items():
        if name in body or name in ("source", "occurred_at"):
            continue
        if name in _EXAMPLE_VALUES:
            body[name] = _EXAMPLE_VALUES[name]
        elif choices := [a for a in get_args(info.annotation) if isinstance(a, str)]:
            body[name] = choices[0]
        elif info.is_required():
            body[name] = "other"
    if event_type == "case_closed":
        body["reason"] = "tenant moved to another region"
    if event_type == "tenancy_ended":
        body["reason"] = "moved_out"
    return body


def for_generators(doc: dict[str, Any]) -> None:
    """Finish the OpenAPI document for client generators (issue 10): one error schema
    (`ErrorBody`) for every 4xx and 5xx (FastAPI's own 422 schema is replaced: the intake answers
    validation errors with ErrorBody too), and an example per event type."""
    from vangnet.domain import EVENT_MODELS

    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if status[:1] not in ("4", "5") or operation.get("operationId") in ("getHealth", "getReadiness"):
                    continue
                response["content"] = {"application/json": {"schema": error_ref}}
                response.setdefault("description", "error")
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    examples = {}
    for event_type, model in EVENT_MODELS.items():
        example = example_event(event_type, model)
        camel = "".join(part.capitalize() for part in event_type.split("_")) + "Event"
        if camel in schemas:
            schemas[camel]["examples"] = [example]
        examples[event_type] = {"summary": event_type, "value": example}
    for path, method in (("/v1/events", "post"),):
        body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
        body["examples"] = examples
    batch = doc["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]
    batch["examples"] = {"two events": {"value": [examples["arrears_reported"]["value"],
                                                  examples["reminder_sent"]["value"]]}}


def install_offline_docs(app: Any, static_url: str = "/docs-assets") -> None:
    """/docs (Swagger UI) and /redoc with their scripts and styles served by the app itself, from
    the `fastapi-offline` package: no CDN, no Google Fonts."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from starlette.responses import HTMLResponse

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(static_url, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{static_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{static_url}/swagger-ui.css",
            swagger_favicon_url=f"{static_url}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{static_url}/redoc.standalone.js",
            redoc_favicon_url=f"{static_url}/favicon.png", with_google_fonts=False)


__all__ = ["FIELD_DOCS", "example_event", "for_generators", "install_offline_docs"]
