"""The intake API of RULES §10 (FastAPI): parties' systems send events and read cases and inboxes.

`create_app()` builds the app; `python -m starter serve` runs it on uvicorn. Every route but
`/healthz` and `/openapi.json` needs `Authorization: Bearer <key>`. All the work happens in
`starter.service.IntakeService` (shared with the command line); this module only speaks HTTP.
Errors are `{"error": {"code", "message", "field"?}}` with the status codes of RULES §10.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from starter.schemas import (
    MAX_BATCH,
    Accepted,
    AckResult,
    BatchResult,
    CaseStatus,
    ErrorBody,
    Health,
    InboxPage,
    TimelineEntry,
    event_schemas,
)
from starter.service import IntakeError, IntakeService, Principal, invalid, ndjson_items, open_service

log = structlog.get_logger("vangnet.intake")

NDJSON = "application/x-ndjson"
MAX_INT = 2**63 - 1
MAX_BODY_BYTES = 32 * 2**20  # 10,000 events fit with room to spare
DESCRIPTION = """\
The intake of vangnet: parties' systems send the events of the agreement (RULES §4) and read
their cases and inboxes. Authenticate with `Authorization: Bearer <key>`
(`python -m starter keys create PARTY_CODE`). Every error is
`{"error": {"code", "message", "field"?}}`: 401 no or unknown key; 403 not allowed for this party;
404 no open case (and the event cannot open one); 409 case closed; 422 malformed.
Every event carries an `event_id` unique per sender: repeating a call is safe.
"""

bearer = HTTPBearer(auto_error=False, description="an API key from `python -m starter keys create`")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        401: "no or unknown API key",
        403: "this party may not do this (RULES §7)",
        404: "not found (for events: no open case, and this event cannot open one)",
        409: "the case is closed",
        413: "more than 10,000 events in one batch, or a body over 32 MiB",
        422: "malformed: unknown type, missing or wrong field, bad date, unknown municipality or corporation",
        503: "Temporal or the database is not reachable; retry later",
    }
    return {c: {"model": ErrorBody, "description": meaning[c]} for c in codes}


def route_of(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def service_of(request: Request) -> IntakeService:
    return request.app.state.service


async def principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Principal:
    p = await service_of(request).authenticate(request.headers.get("authorization"), route=route_of(request))
    request.state.principal = p
    return p


Caller = Annotated[Principal, Security(principal)]
CaseId = Annotated[str, Path(min_length=1, max_length=250, description="`case-{corporation}-{tenancy_ref}`")]
MessageId = Annotated[int, Path(ge=1, le=MAX_INT)]
After = Annotated[int, Query(ge=0, le=MAX_INT, description="cursor: `next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=1000)]


async def _body(request: Request) -> bytes:
    """The raw body, refused (413) beyond MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    too_large = IntakeError(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _refuse(request, too_large)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _refuse(request, too_large)
    return raw


async def _json_body(request: Request) -> Any:
    raw = await _body(request)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _refuse(request, invalid("invalid_json", "the body is not valid JSON")) from None


def _refuse(request: Request, err: IntakeError) -> IntakeError:
    IntakeService.log_refusal(getattr(request.state, "principal", None), route_of(request), err)
    return err


def create_app(service: IntakeService | None = None, settings: Any = None) -> FastAPI:
    """The intake app. With `service`, the app uses it (tests); otherwise the lifespan builds one
    from the process configuration and closes it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            app.state.service = service
            yield
            return
        svc, close = await open_service(settings)
        app.state.service = svc
        log.info("intake_started", task_queue=svc.task_queue,
                 temporal=svc.client.service_client.config.target_host,
                 database=svc.store.engine.url.get_backend_name())
        try:
            yield
        finally:
            await close()

    app = FastAPI(title="vangnet intake", version="1", description=DESCRIPTION, lifespan=lifespan)
    if service is not None:
        app.state.service = service

    # -- errors ---------------------------------------------------------------------------

    @app.exception_handler(IntakeError)
    async def _intake_error(_request: Request, err: IntakeError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body", "header")]
        field = ".".join(loc) or None
        err = invalid("invalid_request", f"{field}: {first.get('msg')}" if field else str(first.get("msg")), field)
        _refuse(request, err)
        return JSONResponse(err.body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("request_failed", route=route_of(request), error=type(exc).__name__, exc_info=exc)
        body = {"error": {"code": "internal_error", "message": "the intake failed; retry with the same event_id"}}
        return JSONResponse(body, status_code=500)

    # -- events ---------------------------------------------------------------------------

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        summary="Send one event",
        description="The event becomes a signal on the case `case-{corporation}-{tenancy_ref}`; "
        "arrears_reported, self_referral and concern_reported open the case when none is open.",
        responses=_errors(401, 403, 404, 409, 422, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IntakeEvent"}}},
            }
        },
    )
    async def post_event(request: Request, p: Caller) -> dict[str, Any]:
        body = await _json_body(request)
        out = await service_of(request).submit(p, body, route=route_of(request))
        return {"case_id": out.case_id, "event_id": out.event_id, "duplicate": out.duplicate}

    @app.post(
        "/v1/events/batch",
        response_model=BatchResult,
        response_model_exclude_none=True,
        summary="Send up to 10,000 events",
        description="A JSON array of events, or NDJSON (one event per line) with "
        "`Content-Type: application/x-ndjson`. Every item gets a result, in order; a bad item "
        "never sinks the others. Events for the same case are applied in the order given.",
        responses=_errors(401, 413, 422, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "maxItems": MAX_BATCH,
                                   "items": {"$ref": "#/components/schemas/IntakeEvent"}}
                    },
                    NDJSON: {"schema": {"type": "string", "description": "one event (JSON object) per line"}},
                },
            }
        },
    )
    async def post_batch(request: Request, p: Caller) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == NDJSON:
            items = [item for _, item in ndjson_items(await _body(request))]
        else:
            items = await _json_body(request)
            if not isinstance(items, list):
                raise _refuse(request, invalid(
                    "invalid_batch", "a batch is a JSON array of events (or NDJSON with "
                    f"Content-Type: {NDJSON})"))
        results = await service_of(request).submit_batch(p, items, route=route_of(request))
        accepted = [r for r in results if r["status"] == 202]
        return {
            "count": len(results),
            "accepted": len(accepted),
            "duplicates": sum(1 for r in accepted if r.get("duplicate")),
            "rejected": len(results) - len(accepted),
            "results": results,
        }

    # -- cases ----------------------------------------------------------------------------

    @app.get("/v1/cases/{case_id}", summary="A case's status (RULES §9)",
             responses={200: {"model": CaseStatus}, **_errors(401, 403, 404, 503)})
    async def get_case(request: Request, case_id: CaseId, p: Caller) -> Any:
        return await service_of(request).case_status(p, case_id, route=route_of(request))

    @app.get("/v1/cases/{case_id}/timeline", summary="A case's timeline (RULES §9)",
             responses={200: {"model": list[TimelineEntry]}, **_errors(401, 403, 404, 503)})
    async def get_timeline(request: Request, case_id: CaseId, p: Caller) -> Any:
        return await service_of(request).case_timeline(p, case_id, route=route_of(request))

    # -- inbox ----------------------------------------------------------------------------

    @app.get("/v1/inbox", response_model=InboxPage, summary="The calling party's messages, oldest first",
             responses=_errors(401, 403, 422))
    async def get_inbox(
        request: Request,
        p: Caller,
        after: After = 0,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        return await service_of(request).inbox(p, after, limit, route=route_of(request))

    @app.post("/v1/inbox/{message_id}/ack", response_model=AckResult, summary="Mark a message handled",
              responses=_errors(401, 403, 404, 422))
    async def post_ack(
        request: Request, p: Caller, message_id: MessageId
    ) -> dict[str, Any]:
        return await service_of(request).ack(p, message_id, route=route_of(request))

    # -- health ---------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, summary="Liveness, with Temporal and the database checked",
             responses={503: {"model": Health}})
    async def healthz(request: Request) -> Any:
        result = await service_of(request).health()
        return JSONResponse(result, status_code=200 if result["status"] == "ok" else 503)

    # -- the OpenAPI document: the event schemas come from vangnet.domain --------------------

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        event_schema, defs = event_schemas()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs)
        schemas["IntakeEvent"] = {**event_schema, "title": "IntakeEvent",
                                  "description": "One event of RULES §4 with its case's envelope; "
                                  "`source` is set from the API key."}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    # Operations (issue 13): /livez, /readyz, /metrics, request ids, access log, event counters.
    from starter import observability

    observability.install(app)
    return app


__all__ = ["create_app", "NDJSON"]
