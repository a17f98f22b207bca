"""Routing is data (RULES §1): the early signal's channel per (corporation, municipality) pair and
the parties a case's messages go to."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.workflow.driver import only, today_nl
from vangnet import calendar


@pytest.mark.parametrize(
    ("municipality", "channel", "social_team", "joint_youth_team"),
    [
        # Footnote 5: this pair is not connected to RIS.
        ("hendrik-ido-ambacht", "beveiligde mailbox gemeente Hendrik-Ido-Ambacht",
         "sociaal-wijkteam-hendrik-ido-ambacht", False),
        # The same corporation elsewhere uses RIS.
        ("dordrecht", "RIS", "sociale-wijkteams-dordrecht", True),
    ],
)
async def test_early_signal_channel_and_casusregie_follow_the_registry(
        cases, municipality, channel, social_team, joint_youth_team):
    since = today_nl()
    case = await cases.open(corporation="heerjansdam", municipality=municipality,
                            arrears_since=since)
    assert case.id.startswith("case-heerjansdam-")
    await case.send("reminder_sent", tenant_objects_to_signal=False)
    await case.advance_past(calendar.start_of_day(since + timedelta(days=30)))

    signal = only(await case.action_entries("early_signal_submitted"))
    # Recorded as the same action whatever the channel, with the channel in its detail.
    assert signal["detail"]["channel"] == channel
    # A9(a): the municipality's social service and social team are told as well
    assert signal["detail"]["delivered_to"] == [municipality, "sdd", social_team]
    message = only(await case.inbox(municipality))
    assert message.action == "early_signal_submitted"
    assert message.payload["channel"] == channel
    assert f"(via {channel})" in message.payload["text"]
    assert (await case.status())["stage"] == "early_signal"
    sa = await case.search_attributes()
    assert (sa["Municipality"], sa["HousingCorporation"], sa["SocialService"]) == (
        municipality, "heerjansdam", "sdd")

    told = only(await case.inbox(social_team))
    assert told.action == "early_signal_submitted" and told.payload["role"] == "social_team"
    assert "ter informatie voor het sociaal team" in told.payload["text"]
    await case.send("help_accepted", municipality)
    casusregie = (await case.inbox(social_team))[-1]
    assert casusregie.action == "casusregie_assigned"
    assert casusregie.payload["casusregie_party"] == social_team
    assert casusregie.payload["joint_youth_team"] is joint_youth_team
    assert await case.inbox_actions("heerjansdam") == [
        ("tenant_notice_sent", None), ("collection_paused", None),
    ]
