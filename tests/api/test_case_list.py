"""`GET /v1/cases` (issue 10): the cases a caller may read (RULES §12 I3), from the case store,
filtered and paged by cursor; tested with more cases than one page and with every party kind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.api.conftest import event

TEAM = "sociale-wijkteams-dordrecht"  # dordrecht's social team (config/registry.toml)


async def all_pages(api, as_: str, limit: int = 2, **params) -> list[dict]:  # noqa: ANN001
    cases, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/v1/cases", as_, params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["cases"]) <= limit
        cases += page["cases"]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return cases
        cursor = page["next_cursor"]
        assert pages < 50


async def ids(api, as_: str, **params) -> list[str]:  # noqa: ANN001
    return [c["case_id"] for c in await all_pages(api, as_, **params)]


async def until_listed(api, check, timeout: float = 20.0):  # noqa: ANN001, ANN201
    """The projection is written by the case right after its step: wait for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        cases = await all_pages(api, "operator", limit=500)
        if check({c["case_id"]: c for c in cases}):
            return cases
        assert loop.time() < deadline, cases
        await asyncio.sleep(0.05)


async def test_the_list_pages_and_follows_involvement_for_every_party_kind(api):
    woonbron = [await api.open_case() for _ in range(4)]
    poort6 = [await api.open_case(corporation="poort6", municipality="gorinchem") for _ in range(2)]
    # Involvement: dordrecht accepts help on one case (applied event: it reads it; the social
    # team is given casusregie: a message); sdd starts debt help there (it reads it too).
    helped, concern, closed = woonbron[0], woonbron[1], woonbron[2]
    ref = {c: c.removeprefix("case-woonbron-") for c in woonbron}
    assert (await api.send("dordrecht", event("help_accepted", ref[helped]))).status_code == 202
    assert (await api.send("sdd", event("debt_help_started", ref[helped]))).status_code == 202
    # A concern tells the MPZO (a message): it reads that case.
    assert (await api.send("woonbron", event("concern_reported", ref[concern], kind="nuisance"))).status_code == 202
    assert (await api.send("operator", event("case_closed", ref[closed], reason="test"))).status_code == 202
    everything = woonbron + poort6
    await until_listed(api, lambda by: set(everything) <= set(by)
                       and by[helped]["stage"] == "debt_help" and by[concern]["stage"] == "care"
                       and by[closed]["closed"])

    # Operators and auditors read all; more cases than one page, in case id order, none twice.
    for role in ("operator", "auditor"):
        listed = await ids(api, role)
        assert len(listed) == len(set(listed)) and listed == sorted(listed)
        assert set(everything) <= set(listed)
    # Each party kind reads exactly what it is involved in (RULES §12 I3).
    assert set(await ids(api, "woonbron")) >= set(woonbron)
    assert not set(await ids(api, "woonbron")) & set(poort6)  # corporation: its own tenancies only
    assert set(await ids(api, "poort6")) >= set(poort6) and not set(await ids(api, "poort6")) & set(woonbron)
    assert set(await ids(api, "dordrecht")) & set(everything) == {helped}  # municipality
    assert set(await ids(api, "sdd")) & set(everything) == {helped}  # social service
    assert helped in await ids(api, TEAM) and not set(await ids(api, TEAM)) & set(poort6)  # social team
    assert set(await ids(api, "mpzo")) & set(everything) == {concern}  # MPZO
    assert await ids(api, "adviesgroep") == []  # involved in no case
    assert not set(await ids(api, "gorinchem")) & set(everything)  # another municipality

    # Filters.
    assert set(await ids(api, "operator", municipality="gorinchem")) >= set(poort6)
    assert not set(await ids(api, "operator", corporation="poort6")) & set(woonbron)
    assert set(await ids(api, "operator", stage="care")) & set(everything) == {concern}
    assert set(await ids(api, "woonbron", state="closed")) & set(everything) == {closed}
    assert closed not in await ids(api, "woonbron", state="open")
    future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    with_deadline = set(await ids(api, "operator", deadline_before=future)) & set(everything)
    assert with_deadline == set(everything) - {closed}  # every open case has a deadline (A1)
    assert not set(await ids(api, "operator", deadline_before="2001-01-01T00:00:00Z")) & set(everything)
    one = (await api.get("/v1/cases", "operator", params={"corporation": "poort6", "limit": 500})).json()
    c = next(x for x in one["cases"] if x["case_id"] == poort6[0])
    assert c["stage"] == "arrears" and c["track"] == "spoor_1" and c["next_deadline"]


async def test_bad_requests_get_4xx(api):
    assert (await api.get("/v1/cases", None)).status_code == 401
    r = await api.get("/v1/cases", "operator", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"
    assert (await api.get("/v1/cases", "operator", params={"stage": "nonsense"})).status_code == 422
    assert (await api.get("/v1/cases", "operator", params={"limit": 0})).status_code == 422
