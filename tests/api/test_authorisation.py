"""RULES §7 and §12 I3 over HTTP: one test per row of the matrix, allowed and refused, and the
read-involvement matrix (every party kind × involved / not involved / no such case).

Every case here is woonbron's tenancy in Dordrecht (social service sdd, social team
sociale-wijkteams-dordrecht) unless a row says otherwise.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import arrears, event, new_ref

DORDRECHT_TEAM = "sociale-wijkteams-dordrecht"
GORINCHEM_TEAM = "sociaal-team-gorinchem"


def assert_forbidden(r, *phrases: str) -> None:
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "forbidden"
    for phrase in phrases:
        assert phrase in err["message"], err["message"]


async def assert_applied(api, r, case_id: str, event_id: str) -> None:
    """202, and the case itself took the event from this sender (not ignored as a stranger's)."""
    assert r.status_code == 202, r.text
    assert r.json() == {"case_id": case_id, "event_id": event_id, "duplicate": False}
    [entry] = [t for t in await api.timeline(case_id) if t["detail"].get("event_id") == event_id]
    assert "not a party" not in str(entry["detail"].get("reason", ""))
    assert "may not send" not in str(entry["detail"].get("reason", ""))


# -- sending -------------------------------------------------------------------------------


async def test_corporation_sends_for_its_own_tenancy(api):
    ref = new_ref()
    body = arrears(ref)
    r = await api.send("woonbron", body)
    await assert_applied(api, r, f"case-woonbron-{ref}", body["event_id"])


async def test_corporation_is_refused_for_another_corporations_tenancy(api):
    ref = new_ref()
    await api.open_case(ref)
    r = await api.send("poort6", event("payment_received", ref, amount_cents=100, arrears_cents=84_900))
    assert_forbidden(r, "poort6", "own tenancies", "woonbron")
    r = await api.send("poort6", arrears(ref))  # nor may it open one in woonbron's name
    assert_forbidden(r, "own tenancies")


async def test_party_kind_is_refused_for_events_of_another_kind(api):
    case_ref = new_ref()
    await api.open_case(case_ref)
    r = await api.send("woonbron", event("help_accepted", case_ref))  # municipality / social work
    assert_forbidden(r, "woonbron (corporation) may not send help_accepted",
                     "it may be sent by: municipality, social_service, social_team")
    r = await api.send(DORDRECHT_TEAM, event("arrears_reported", case_ref, arrears_cents=1,
                                             monthly_rent_cents=1, arrears_since="2025-01-01"))
    assert_forbidden(r, "may not send arrears_reported; it may be sent by: corporation")


@pytest.mark.parametrize(
    ("sender", "event_type"),
    [
        ("dordrecht", "help_accepted"),  # municipality
        ("sdd", "debt_help_started"),  # social service
        (DORDRECHT_TEAM, "help_accepted"),  # social team
    ],
)
async def test_municipal_parties_send_for_municipalities_they_serve(api, sender, event_type):
    ref = new_ref()
    case_id = await api.open_case(ref)
    body = event(event_type, ref)
    r = await api.send(sender, body)
    await assert_applied(api, r, case_id, body["event_id"])


@pytest.mark.parametrize(
    ("sender", "event_type"),
    [
        ("gorinchem", "help_accepted"),  # another municipality
        ("avres", "debt_help_started"),  # the other social service
        (GORINCHEM_TEAM, "help_accepted"),  # another municipality's social team
    ],
)
async def test_municipal_parties_are_refused_elsewhere(api, sender, event_type):
    ref = new_ref()
    case_id = await api.open_case(ref)
    # Naming the case's own municipality: they do not serve it.
    r = await api.send(sender, event(event_type, ref))
    assert_forbidden(r, sender, "does not serve municipality 'dordrecht'")
    # Naming a municipality they serve does not get them into a Dordrecht case either, and the
    # answer is the one for a tenancy without a case (RULES §12 I3: no oracle).
    r = await api.send(sender, event(event_type, ref, municipality="gorinchem"))
    other = new_ref()
    nothing = await api.send(sender, event(event_type, other, municipality="gorinchem"))
    assert r.status_code == nothing.status_code == 404, r.text
    assert r.json()["error"]["code"] == nothing.json()["error"]["code"] == "no_open_case"
    assert r.json()["error"]["message"].replace(case_id, "X") == (
        nothing.json()["error"]["message"].replace(f"case-woonbron-{other}", "X"))
    assert all(t["detail"].get("source") != sender for t in await api.timeline(case_id))


async def test_social_service_serves_all_its_municipalities_but_names_the_right_one(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    # sdd serves Zwijndrecht too, but this case is in Dordrecht: a malformed event, said plainly.
    r = await api.send("sdd", event("debt_help_started", ref, municipality="zwijndrecht"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "municipality_mismatch",
        "message": f"case {case_id} is in municipality 'dordrecht', not 'zwijndrecht'",
        "field": "municipality",
    }


async def test_mpzo_sends_for_the_whole_region(api):
    for municipality, corporation in (("molenlanden", "poort6"), ("dordrecht", "woonbron")):
        ref = new_ref()
        body = event("concern_reported", ref, corporation=corporation, municipality=municipality,
                     kind="care_and_safety")
        r = await api.send("mpzo", body)  # opens the case
        await assert_applied(api, r, f"case-{corporation}-{ref}", body["event_id"])


async def test_mpzo_is_refused_for_events_that_are_not_its_own(api):
    ref = new_ref()
    await api.open_case(ref)
    r = await api.send("mpzo", event("help_accepted", ref))
    assert_forbidden(r, "mpzo (mpzo) may not send help_accepted")


async def test_operator_closes_cases(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    body = event("case_closed", ref, reason="dubbel geregistreerd")
    r = await api.send("operator", body)
    assert r.status_code == 202, r.text
    status = (await api.get(f"/v1/cases/{case_id}", "operator")).json()
    assert (status["closed"], status["outcome"]) == (True, "withdrawn")
    closed = [t for t in await api.timeline(case_id) if t["kind"] == "case_closed" and t["category"] == "event"]
    assert closed[0]["detail"]["source"] == "operator"


async def test_operator_is_refused_for_other_events(api):
    ref = new_ref()
    await api.open_case(ref)
    r = await api.send("operator", arrears(ref))
    assert_forbidden(r, "operator may send only case_closed")


async def test_auditor_sends_nothing(api):
    r = await api.send("auditor", arrears(new_ref()))
    assert_forbidden(r, "auditor key reads cases")


async def test_only_a_corporation_key_sets_the_source(api):
    ref = new_ref()
    r = await api.send("woonbron", {**arrears(ref), "source": "poort6"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "source"


# -- reading (RULES §12 I3) ----------------------------------------------------------------

NOT_THERE = "case-woonbron-NOBODY-HERE"


async def read(api, case_id: str, reader: str) -> tuple[int, int, dict, dict]:
    status = await api.get(f"/v1/cases/{case_id}", reader)
    timeline = await api.get(f"/v1/cases/{case_id}/timeline", reader)
    return status.status_code, timeline.status_code, status.json(), timeline.json()


def assert_not_found(answer: tuple[int, int, dict, dict], case_id: str) -> None:
    """The answer a case that does not exist gets: the same status, code and wording."""
    assert answer[:2] == (404, 404), answer
    for body in answer[2:]:
        assert body == {"error": {"code": "case_not_found", "message": f"there is no case {case_id}"}}


@pytest.fixture
async def involvement(api):
    """Case A: every party kind becomes involved, each in its own way; case B: only opened."""
    ref_a, ref_b = new_ref(), new_ref()
    case_a, case_b = await api.open_case(ref_a), await api.open_case(ref_b)
    # By an applied event of their own: the municipality and the social service.
    assert (await api.send("dordrecht", event("help_accepted", ref_a))).status_code == 202
    assert (await api.send("sdd", event("debt_help_started", ref_a))).status_code == 202
    # By a message from the case: casusregie to the social team (after help_accepted), and the
    # MPZO's report of the corporation's concern.
    assert (await api.send("woonbron", event("concern_reported", ref_a, kind="care_and_safety"))
            ).status_code == 202
    await api.settled(case_a)
    return case_a, case_b


INVOLVED_BY = {
    "woonbron": "the tenancy's corporation",
    "dordrecht": "an applied event (help_accepted)",
    "sdd": "an applied event (debt_help_started)",
    DORDRECHT_TEAM: "a message (casusregie_assigned)",
    "mpzo": "a message (mpzo_notified)",
    "operator": "its role",
    "auditor": "its role",
}


@pytest.mark.parametrize("reader", list(INVOLVED_BY), ids=list(INVOLVED_BY))
async def test_read_matrix_involved_not_involved_missing(api, involvement, reader):
    case_a, case_b = involvement
    status, timeline, body, entries = await read(api, case_a, reader)
    assert (status, timeline) == (200, 200), (reader, INVOLVED_BY[reader], body)
    assert body["case_id"] == case_a and entries[0]["kind"] == "arrears_reported"
    not_involved = await read(api, case_b, reader)
    if reader in ("woonbron", "operator", "auditor"):
        assert not_involved[:2] == (200, 200)
    else:  # not involved in B: answered exactly as a case that does not exist
        assert_not_found(not_involved, case_b)
    assert_not_found(await read(api, NOT_THERE, reader), NOT_THERE)


@pytest.mark.parametrize("reader", ["poort6", "gorinchem", "avres", GORINCHEM_TEAM])
async def test_parties_of_elsewhere_read_nothing_and_learn_nothing(api, involvement, reader):
    case_a, _ = involvement
    assert_not_found(await read(api, case_a, reader), case_a)


async def test_an_ignored_event_does_not_make_a_party_involved(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    # The MPZO's plan before the MPZO was told of the case: ignored (R12), and said so (I2).
    r = await api.send("mpzo", event("mpzo_plan_ready", ref))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "event_ignored", "case_id": case_id,
        "message": f"case {case_id} recorded this event as ignored: the MPZO has not been notified "
                   "for this case"}
    assert_not_found(await read(api, case_id, "mpzo"), case_id)


async def test_a_party_reads_from_the_moment_it_is_involved(api):
    ref = new_ref()
    case_id = await api.open_case(ref)
    assert_not_found(await read(api, case_id, "mpzo"), case_id)
    r = await api.send("mpzo", event("concern_reported", ref, kind="nuisance"))  # applied
    assert r.status_code == 202, r.text
    assert (await read(api, case_id, "mpzo"))[:2] == (200, 200)


async def test_inbox_is_the_callers_own(api):
    await api.settled(await api.open_case())  # the tenant notice is delivered, not just accepted
    r = await api.get("/v1/inbox", "woonbron")
    assert [m["action"] for m in r.json()["messages"]] == ["tenant_notice_sent"]
    r = await api.get("/v1/inbox", "poort6")
    assert r.status_code == 200 and r.json()["messages"] == []
    for role in ("operator", "auditor"):
        r = await api.get("/v1/inbox", role)
        assert_forbidden(r, "has no inbox")


async def test_refusals_are_logged_with_party_route_and_reason(api, caplog):
    import structlog

    with structlog.testing.capture_logs() as logs:
        await api.send("poort6", arrears(new_ref()))
    [line] = [e for e in logs if e["event"] == "request_refused"]
    assert line["party"] == "poort6"
    assert line["route"] == "POST /v1/events"
    assert line["status"] == 403 and line["code"] == "forbidden"
    assert "own tenancies" in line["reason"]
