"""Court steps: a summons always goes to the MPZO (R5a), and help after a summons asks for a
postponement consultation instead of pausing collection (R7)."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.driver import today_nl

SOCIAL_TEAM = "sociale-wijkteams-dordrecht"


async def test_summons_notifies_mpzo_even_in_debt_help(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("help_accepted", SOCIAL_TEAM)
    await case.send("debt_help_started", "sdd")
    status = await case.status()
    assert (status["stage"], status["collection"], status["track"]) == ("debt_help", "paused", "spoor_1")

    await case.send("summons_served", hearing_date=since + timedelta(days=60))
    assert (await case.actions())[-1] == ("mpzo_notified", "summons_served")
    status = await case.status()
    assert status["track"] == "spoor_2"
    assert status["stage"] == "care"
    assert status["collection"] == "paused"  # R5(a) does not resume collection
    assert status["mpzo_reasons"] == ["summons_served"]
    sa = await case.search_attributes()
    assert (sa["CaseTrack"], sa["CaseStage"]) == ("spoor_2", "care")
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "summons_served")]

    # A judgment is recorded; the MPZO is not told twice.
    await case.send("judgment_given", eviction_granted=True)
    assert (await case.timeline())[-1]["kind"] == "judgment_given"
    assert await case.inbox_actions("mpzo") == [("mpzo_notified", "summons_served")]


async def test_help_after_summons_requests_postponement_consultation_without_pause(cases):
    since = today_nl()
    case = await cases.open(arrears_since=since)
    await case.send("summons_served", hearing_date=since + timedelta(days=45))
    assert await case.actions() == [("tenant_notice_sent", None), ("mpzo_notified", "summons_served")]

    await case.send("help_accepted", "sdd")
    timeline = await case.timeline()
    assert [(t["category"], t["kind"]) for t in timeline[-2:]] == [
        ("event", "help_accepted"), ("action", "postponement_consultation_requested"),
    ]
    assert timeline[-1]["detail"]["delivered_to"] == ["woonbron", "sdd"]
    status = await case.status()
    assert status["collection"] == "active"
    assert status["collection_paused_until"] is None
    assert (status["stage"], status["track"]) == ("care", "spoor_2")
    assert status["next_deadline"]["kind"] == "mpzo_plan_deadline"  # A1: the MPZO owes a plan

    # Debt help after the summons: the consultation was already asked for, still no pause.
    await case.send("debt_help_started", "sdd")
    last = (await case.timeline())[-1]
    assert (last["kind"], last["detail"]["result"]) == (
        "debt_help_started", "postponement consultation already requested")
    assert (await case.status())["collection"] == "active"

    actions = [k for k, _ in await case.actions()]
    assert actions == ["tenant_notice_sent", "mpzo_notified", "postponement_consultation_requested"]
    assert "collection_paused" not in actions and "casusregie_assigned" not in actions
    assert await case.inbox_actions("woonbron") == [
        ("tenant_notice_sent", None), ("postponement_consultation_requested", None),
    ]
    assert await case.inbox_actions("sdd") == [("postponement_consultation_requested", None)]
    # A9(b): the social team heard that the case moved to spoor 2 (codes only: not why)
    assert await case.inbox_actions(SOCIAL_TEAM) == [("mpzo_notified", None)]
