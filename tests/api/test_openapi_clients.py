"""Issue 10: an OpenAPI document that client generators can use, and docs that work offline.

A typed client is generated from `/openapi.json` with `openapi-python-client` and used to send an
event and read the case; `/docs` and `/redoc` load no external URL and their assets are served.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import new_event_id, new_ref

OPERATIONS = {"submitEvent", "submitEvents", "listCases", "getCase", "getCaseTimeline", "listInbox",
              "ackMessage", "getHealth", "getLiveness", "getReadiness"}


async def test_the_document_is_made_for_generators(api):
    doc = (await api.http.get("/openapi.json")).json()
    ops = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    assert set(ops) == OPERATIONS
    assert all(op.get("tags") for op in ops.values())
    assert {t["name"] for t in doc["tags"]} == {"events", "cases", "inbox", "operations"}
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # one error schema
    for name, op in ops.items():
        for status, response in op["responses"].items():
            if status[0] in "45" and name not in ("getHealth", "getReadiness"):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}, (name, status)
    # An example per event type, valid for the intake, and every event field described.
    examples = ops["submitEvent"]["requestBody"]["content"]["application/json"]["examples"]
    from vangnet.domain import EVENT_MODELS

    assert set(examples) == set(EVENT_MODELS)
    for event_type in EVENT_MODELS:
        camel = "".join(p.capitalize() for p in event_type.split("_")) + "Event"
        schema = schemas[camel]
        assert schema["examples"][0]["type"] == event_type
        assert all(prop.get("description") for prop in schema["properties"].values()), camel
    r = await api.post("/v1/events", "woonbron", json={**examples["arrears_reported"]["value"],
                                                       "tenancy_ref": new_ref(), "event_id": new_event_id()})
    assert r.status_code == 202, r.text


def generate(spec: dict, where: Path) -> str:
    (where / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    bindir = Path(sys.executable).parent
    out = subprocess.run(
        [str(bindir / "openapi-python-client"), "generate", "--path", str(where / "spec.json"),
         "--output-path", str(where / "vangnet_client"), "--meta", "none"],
        capture_output=True, text=True, timeout=300,
        env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(where)})
    assert out.returncode == 0, out.stdout + out.stderr
    return "vangnet_client"


async def test_a_generated_client_sends_an_event_and_reads_the_case(api, tmp_path, monkeypatch):
    spec = (await api.http.get("/openapi.json")).json()
    package = generate(spec, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    client_mod = importlib.import_module(f"{package}.client")
    submit_event = importlib.import_module(f"{package}.api.events.submit_event")
    get_case = importlib.import_module(f"{package}.api.cases.get_case")
    list_cases = importlib.import_module(f"{package}.api.cases.list_cases")
    models = importlib.import_module(f"{package}.models")

    key = await api.key("woonbron")
    client = client_mod.AuthenticatedClient(base_url="http://intake.test", token=key)
    client.set_async_httpx_client(httpx.AsyncClient(
        transport=api.http._transport, base_url="http://intake.test",  # the app, in-process
        headers={"Authorization": f"Bearer {key}"}))
    ref = new_ref()
    from datetime import date, timedelta

    body = models.ArrearsReportedEvent(
        type_="arrears_reported", tenancy_ref=ref, corporation="woonbron", municipality="dordrecht",
        event_id=new_event_id(), arrears_cents=92_500, monthly_rent_cents=92_500,
        arrears_since=date.today() - timedelta(days=20))
    accepted = await submit_event.asyncio(client=client, body=body)
    assert isinstance(accepted, models.Accepted), accepted
    assert accepted.case_id == f"case-woonbron-{ref}" and accepted.duplicate is False
    await api.settled(accepted.case_id)
    status = await get_case.asyncio(case_id=accepted.case_id, client=client)
    assert isinstance(status, models.CaseStatus), status
    assert (status.case_id, status.stage, status.closed) == (accepted.case_id, "arrears", False)
    page = await list_cases.asyncio(client=client, limit=500)
    assert accepted.case_id in [c.case_id for c in page.cases]
    # An error comes back as the one error model.
    missing = await get_case.asyncio(case_id="case-woonbron-NOPE", client=client)
    assert isinstance(missing, models.ErrorBody) and missing.error.code == "case_not_found"
    await client.get_async_httpx_client().aclose()


async def test_docs_and_redoc_work_offline(api):
    for page in ("/docs", "/redoc"):
        r = await api.http.get(page)
        assert r.status_code == 200
        html = r.text
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", html), f"{page} loads an external URL"
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
        assets = re.findall(r"(?:src|href)=[\"']?(/docs-assets/[^\"'>\s]+)", html)
        assert assets, html
        for asset in assets:
            got = await api.http.get(asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset
