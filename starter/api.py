"""The intake API of RULES §10 (FastAPI): parties' systems send events and read cases and inboxes.

`create_app()` builds the app; `python -m starter serve` runs it on uvicorn. Every route but
`/healthz` and `/openapi.json` needs `Authorization: Bearer <key>`. All the work happens in
`starter.service.IntakeService` (shared with the command line); this module only speaks HTTP.
Errors are `{"error": {"code", "message", "field"?}}` with the status codes of RULES §10.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from starter.openapi_docs import for_generators, install_offline_docs
from starter.schemas import (
    MAX_BATCH,
    Accepted,
    AckResult,
    BatchResult,
    CaseList,
    CaseStatus,
    ErrorBody,
    Health,
    InboxPage,
    TimelineEntry,
    event_schemas,
)
from starter.service import (
    IntakeError,
    IntakeService,
    Principal,
    invalid,
    ndjson_items,
    open_service,
    parse_json,
)
from starter.service.errors import database_unavailable, is_database_error, log_refusal, too_large
from vangnet.domain import Stage

log = structlog.get_logger("vangnet.intake")

NDJSON = "application/x-ndjson"
MAX_INT = 2**63 - 1
MAX_BODY_BYTES = 32 * 2**20  # 10,000 events fit with room to spare
DESCRIPTION = """\
The intake of vangnet: parties' systems send the events of the agreement (RULES §4) and read
their cases and inboxes. Authenticate with `Authorization: Bearer <key>`
(`python -m starter keys create PARTY_CODE`). Every error is
`{"error": {"code", "message", "field"?, "case_id"?}}`: 401 no, unknown or expired key; 403 not
allowed for this party; 404 no such case, or not one this party may read or act on (the same
answer); 409 case closed, or another event opened the case for another municipality; 413 too
large; 422 malformed, or the case recorded the event as ignored (`event_ignored`, with the case's
reason); 503 Temporal or the database did not answer.
A 202 means the event is in its case's history. Every event carries an `event_id` unique per
sender: repeating a call is safe.
"""

# Tags per audience (issue 10): who calls what.
TAG_EVENTS = "events"
TAG_CASES = "cases"
TAG_INBOX = "inbox"
TAG_OPERATIONS = "operations"
TAGS = [
    {"name": TAG_EVENTS, "description": "For the parties' systems that report what happened: "
     "corporations, municipalities, social services and teams, the MPZO, operators (RULES §4, §7)."},
    {"name": TAG_CASES, "description": "For every party, operators and auditors: the cases they may "
     "read (RULES §12 I3)."},
    {"name": TAG_INBOX, "description": "For the parties that receive the cases' messages (RULES §5); "
     "the same messages are pushed to a party's webhook, signed as Standard Webhooks."},
    {"name": TAG_OPERATIONS, "description": "For operators and monitoring."},
]

bearer = HTTPBearer(auto_error=False, description="an API key from `python -m starter keys create`")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        401: "no, unknown, revoked or expired API key (`key_expired`)",
        403: "this party may not do this (RULES §7)",
        404: "not found, or not a case this party may read or act on: the same answer (RULES §12 I3); "
             "for events: no open case, and this event cannot open one",
        409: "the case is closed (`case_closed`), or another event opened it for another "
             "municipality (`conflict`, with `case_id`)",
        413: "more than 10,000 events in one batch, or a body over 32 MiB",
        422: "malformed (unknown type, missing or wrong field, bad date, unknown municipality or "
             "corporation, nested too deep), or recorded by the case as ignored (`event_ignored`)",
        503: "Temporal or the database did not answer; retry later with the same event_id",
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
    """The raw body, refused (413) beyond MAX_BODY_BYTES: by its Content-Length, or, sent in
    chunks, as soon as the chunks read add up to more (it is never read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _refuse(request, _too_large())
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _refuse(request, _too_large())
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> IntakeError:
    return too_large("body_too_large", f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB")


async def _json_body(request: Request) -> Any:
    raw = await _body(request)
    try:
        return parse_json(raw)
    except IntakeError as err:
        raise _refuse(request, err) from None


def _refuse(request: Request, err: IntakeError) -> IntakeError:
    p = getattr(request.state, "principal", None)
    log_refusal(p.label if p else None, route_of(request), err)
    return err


def _where(exc: BaseException) -> list[str]:
    """Where an unexpected error happened, as `file:line function` (no values, no locals)."""
    return [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}"
            for f in traceback.extract_tb(exc.__traceback__)][-8:]


class _LastResort:
    """Pure ASGI middleware: an error nothing else handled becomes a 500 JSON answer, logged with
    its type and where it happened only (RULES §12 I5: no message, no locals, no body), and is
    not raised on to the server (which would log the whole traceback again)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # noqa: BLE001 - the last resort
            route = f"{scope.get('method')} {scope.get('path')}"
            if is_database_error(exc):
                err = database_unavailable()
                log_refusal(None, route, err, error=type(exc).__name__)
                response = JSONResponse(err.body(), status_code=err.status)
            else:
                log.error("request_failed", route=route, error=type(exc).__name__, where=_where(exc))
                response = JSONResponse({"error": {
                    "code": "internal_error",
                    "message": "the intake failed; retry with the same event_id"}}, status_code=500)
            if not started:
                await response(scope, receive, send)


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

    # /docs and /redoc serve their assets from this process (the `fastapi-offline` package):
    # they work on a network without internet (issue 10).
    app = FastAPI(title="vangnet intake", version="1", description=DESCRIPTION, lifespan=lifespan,
                  openapi_tags=TAGS, docs_url=None, redoc_url=None)
    install_offline_docs(app)
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

    app.add_middleware(_LastResort)

    # -- events ---------------------------------------------------------------------------

    @app.post(
        "/v1/events",
        operation_id="submitEvent",
        tags=[TAG_EVENTS],
        status_code=202,
        response_model=Accepted,
        summary="Send one event",
        description="The event goes to the case `case-{corporation}-{tenancy_ref}` (the update "
        "`submit_event`); arrears_reported, self_referral and concern_reported open the case when "
        "none is open. 202 once the event is in the case's history, with the case's own verdict: "
        "an event the case records as ignored is a 422 `event_ignored` with its reason.",
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
        operation_id="submitEvents",
        tags=[TAG_EVENTS],
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

    @app.get("/v1/cases", operation_id="listCases", tags=[TAG_CASES], response_model=CaseList, summary="The cases the caller may read",
             description="Case episodes from the case store (so cases outlive Temporal's retention "
             "here), in case id order, paged by `cursor`. Only the cases the caller may read "
             "(RULES §12 I3): its own tenancies for a corporation, cases that sent it a message or "
             "applied its event; all for operators and auditors.",
             responses=_errors(401, 422, 503))
    async def list_cases(
        request: Request,
        p: Caller,
        stage: Annotated[Stage | None, Query(description="only episodes in this stage")] = None,
        municipality: Annotated[str | None, Query(max_length=100, description="municipality code")] = None,
        corporation: Annotated[str | None, Query(max_length=100, description="corporation code")] = None,
        deadline_before: Annotated[datetime | None, Query(
            description="only episodes whose next deadline falls before this time (ISO 8601)")] = None,
        state: Annotated[Literal["open", "closed"] | None, Query(description="open or closed episodes")] = None,
        cursor: Annotated[str | None, Query(max_length=700, description="`next_cursor` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        from vangnet.store.case_list import CaseFilter

        if deadline_before is not None and deadline_before.tzinfo is None:
            deadline_before = deadline_before.replace(tzinfo=UTC)
        filters = CaseFilter(stage=stage.value if stage else None, municipality=municipality,
                             corporation=corporation, deadline_before=deadline_before, state=state)
        return await service_of(request).list_cases(p, filters, cursor, limit, route=route_of(request))

    @app.get("/v1/cases/{case_id}", operation_id="getCase", tags=[TAG_CASES], summary="A case's status (RULES §9)",
             responses={200: {"model": CaseStatus}, **_errors(401, 403, 404, 503)})
    async def get_case(request: Request, case_id: CaseId, p: Caller) -> Any:
        return await service_of(request).case_status(p, case_id, route=route_of(request))

    @app.get("/v1/cases/{case_id}/timeline", operation_id="getCaseTimeline", tags=[TAG_CASES], summary="A case's timeline (RULES §9)",
             responses={200: {"model": list[TimelineEntry]}, **_errors(401, 403, 404, 503)})
    async def get_timeline(request: Request, case_id: CaseId, p: Caller) -> Any:
        return await service_of(request).case_timeline(p, case_id, route=route_of(request))

    # -- inbox ----------------------------------------------------------------------------

    @app.get("/v1/inbox", operation_id="listInbox", tags=[TAG_INBOX], response_model=InboxPage, summary="The calling party's messages, oldest first",
             responses=_errors(401, 403, 422))
    async def get_inbox(
        request: Request,
        p: Caller,
        after: After = 0,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        return await service_of(request).inbox(p, after, limit, route=route_of(request))

    @app.post("/v1/inbox/{message_id}/ack", operation_id="ackMessage", tags=[TAG_INBOX], response_model=AckResult, summary="Mark a message handled",
              responses=_errors(401, 403, 404, 422))
    async def post_ack(
        request: Request, p: Caller, message_id: MessageId
    ) -> dict[str, Any]:
        return await service_of(request).ack(p, message_id, route=route_of(request))

    # -- health ---------------------------------------------------------------------------

    @app.get("/healthz", operation_id="getHealth", tags=[TAG_OPERATIONS], response_model=Health, summary="Liveness, with Temporal and the database checked",
             responses={503: {"model": Health}})
    async def healthz(request: Request) -> Any:
        result = await service_of(request).health()
        return JSONResponse(result, status_code=200 if result["status"] == "ok" else 503)

    # -- the OpenAPI document: the event schemas come from vangnet.domain --------------------

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes, tags=app.openapi_tags)
        event_schema, defs = event_schemas()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs)
        schemas["IntakeEvent"] = {**event_schema, "title": "IntakeEvent",
                                  "description": "One event of RULES §4 with its case's envelope; "
                                  "`source` is set from the API key."}
        for_generators(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    # Operations (issue 13): /livez, /readyz, /metrics, request ids, access log, event counters.
    from starter import observability

    observability.install(app)
    return app


__all__ = ["create_app", "NDJSON"]
