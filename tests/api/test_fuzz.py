"""Property-based fuzzing of the intake against its own /openapi.json (schemathesis + hypothesis).

The intake runs on uvicorn on a free port of 127.0.0.1 (in this process, on the real worker and
dev server); schemathesis sends valid and invalid requests from the OpenAPI document as several
callers. Checked: no 5xx, and nothing half-applied — every event the intake recorded as accepted is
on a case's timeline, and every event on a timeline was recorded as accepted.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import schemathesis
import sqlalchemy as sa
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from starter.api import create_app
from vangnet.store.models import IntakeEvent

MAX_EXAMPLES = 100
REFS = ["FZ-1", "FZ-2", "FZ-3"]


def steer(doc: dict[str, Any]) -> dict[str, Any]:
    """Test-only: point the generated events at a few real parties and tenancies, so that many
    requests get past validation into authorisation and Temporal (the published document keeps
    the registry out of the schema: it is data)."""
    doc = copy.deepcopy(doc)
    for name, schema in doc["components"]["schemas"].items():
        props = schema.get("properties", {})
        if name.endswith("Event") and "tenancy_ref" in props:
            props["tenancy_ref"] = {"type": "string", "enum": REFS}
            props["corporation"] = {"type": "string", "enum": ["woonbron", "poort6"]}
            props["municipality"] = {"type": "string", "enum": ["dordrecht", "gorinchem"]}
            props["event_id"] = {"type": "string", "enum": [f"fz-{i}" for i in range(12)]}
    return doc


def fuzz(doc: dict[str, Any], base_url: str, callers: list[dict[str, str]]) -> list[str]:
    schema = schemathesis.openapi.from_dict(steer(doc))
    positive = schema.as_strategy(GenerationMode.POSITIVE)
    negative = schema.as_strategy(GenerationMode.NEGATIVE)
    strategy = st.one_of(positive, positive, negative)  # mostly valid requests: they reach Temporal
    problems: list[str] = []

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, who=st.sampled_from(callers))
    def check(case: Any, who: dict[str, str]) -> None:
        if who:  # a real key for most requests (generated Authorization headers are only 401s)
            case.headers = {**(case.headers or {}), **who}
        response = case.call(base_url=base_url, timeout=30)
        if response.status_code >= 500:
            problems.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")
        elif response.status_code == 200 and case.path == "/v1/events/batch":
            bad = [r for r in response.json()["results"] if r["status"] >= 500]
            if bad:
                problems.append(f"batch items failed: {bad[:3]}")
        elif response.status_code >= 400:
            error = response.json().get("error", {})
            if not (isinstance(error, dict) and error.get("code") and error.get("message")):
                problems.append(f"{case.method} {case.formatted_path} -> {response.status_code} without "
                                f"an error body: {response.text[:300]}")

    check()
    return problems


async def test_fuzz_the_openapi_document(api, service, store, task_queue):
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=0,
                                           log_config=None, access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        callers = [{"Authorization": f"Bearer {await api.key(code)}"}
                   for code in ("woonbron", "poort6", "sdd", "mpzo", "operator", "auditor")]
        callers.append({})
        doc = (await api.http.get("/openapi.json")).json()
        problems = await asyncio.to_thread(fuzz, doc, f"http://127.0.0.1:{port}", callers)
    finally:
        server.should_exit = True
        await serving
    assert problems == []
    await assert_nothing_half_applied(api, store, task_queue)


async def assert_nothing_half_applied(api, store, task_queue) -> None:
    async with store.sessions() as session:
        rows = {(r.source, r.event_id) for r in (await session.execute(sa.select(IntakeEvent))).scalars()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        seen: set[tuple[str, str]] = set()
        async for wf in api.client.list_workflows(f'TaskQueue = "{task_queue}"'):
            handle = api.client.get_workflow_handle(wf.id, run_id=wf.run_id)
            for entry in await handle.query("timeline"):
                detail = entry["detail"]
                if entry["category"] in ("event", "ignored") and "event_id" in detail:
                    seen.add((detail["source"], detail["event_id"]))
        if seen == rows or loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert seen == rows
