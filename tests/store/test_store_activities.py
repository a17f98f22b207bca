"""The case's activities, run as real activities (temporalio.testing.ActivityEnvironment)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import RECORD_CASE, RESOLVE_CASE_CONTEXT, CaseActivities
from vangnet.domain import (
    ACTIONS,
    ActionRequest,
    CaseContextRequest,
    CaseProjection,
    DeliveryResult,
    Outcome,
    PartyKind,
    Receiver,
    Stage,
    Track,
)
from vangnet.policy import Policy
from vangnet.store import Store
from vangnet.store.cases import get_case
from vangnet.store.inbox import list_messages
from vangnet.store.models import Party
from vangnet.store.registry import load_registry

R = Receiver
AT = datetime(2025, 2, 3, 10, 0, tzinfo=UTC)
# The receivers of RULES §5 for each action (escalation: the corporation as case owner here).
SPEC_RECEIVERS: dict[str, list[Receiver]] = {
    "tenant_notice_sent": [R.corporation],
    "early_signal_submitted": [R.municipality],
    "casusregie_assigned": [R.social_team],
    "collection_paused": [R.corporation],
    "collection_resumed": [R.corporation],
    "mpzo_notified": [R.mpzo],
    "postponement_consultation_requested": [R.corporation, R.social_service],
    "crisis_protocol_invoked": [R.social_service],
    "moratorium_requested": [R.social_service],
    "escalation_raised": [R.corporation],
    "aftercare_started": [R.social_team],
    "aftercare_completed": [R.social_team],
    "case_closed": [R.corporation, R.municipality, R.social_service, R.social_team, R.mpzo],
    "referral_forwarded": [R.social_service],  # RULES §11 A9(d)
}
# rhiant in Dordrecht: who each role is.
DORDRECHT = {
    R.corporation: "rhiant",
    R.municipality: "dordrecht",
    R.social_service: "sdd",
    R.social_team: "sociale-wijkteams-dordrecht",
    R.mpzo: "mpzo",
}


@pytest.fixture
def acts(store: Store) -> CaseActivities:
    return CaseActivities(store)


def request(action: str, receivers: list[Receiver], *, corporation: str = "rhiant",
            municipality: str = "dordrecht", key: str | None = None, reason: str | None = None,
            detail: dict | None = None) -> ActionRequest:
    case_id = f"case-{corporation}-H-42"
    return ActionRequest(
        action=action, case_id=case_id, idempotency_key=key or f"{case_id}/run-1/{action}/1",
        corporation=corporation, municipality=municipality, receivers=receivers,
        reason=reason, detail=detail or {}, at=AT,
    )


async def run_action(acts: CaseActivities, req: ActionRequest) -> DeliveryResult:
    return await ActivityEnvironment().run(acts.actions.activities[req.action], req)


def test_every_activity_is_registered_under_its_public_name(acts: CaseActivities) -> None:
    fns = acts.all()
    names = [activity._Definition.must_from_callable(fn).name for fn in fns]
    assert len(names) == len(set(names)), "two activities under one name"
    assert {*ACTIONS, RESOLVE_CASE_CONTEXT, RECORD_CASE} <= set(names)
    for name in ACTIONS:
        defn = activity._Definition.must_from_callable(acts.actions.activities[name])
        assert defn.arg_types == [ActionRequest] and defn.ret_type is DeliveryResult


async def test_each_action_reaches_exactly_its_receivers(acts: CaseActivities, store: Store, count) -> None:
    assert set(SPEC_RECEIVERS) == set(ACTIONS)
    for action, receivers in SPEC_RECEIVERS.items():
        result = await run_action(acts, request(action, receivers))
        expected = [DORDRECHT[r] for r in receivers]
        assert result.action == action
        assert result.receivers == expected, action
        assert result.duplicate is False
        for code, message_id in zip(expected, result.message_ids, strict=True):
            [msg] = [m for m in await list_messages(store.sessions, code) if m.action == action]
            assert msg.id == message_id
            assert msg.idempotency_key == f"case-rhiant-H-42/run-1/{action}/1"
            assert msg.case_id == "case-rhiant-H-42"
            assert "case-rhiant-H-42" in msg.payload["text"], action
            assert msg.payload["at"].startswith("2025-02-03T10:00:00")
    total = sum(len(r) for r in SPEC_RECEIVERS.values())
    assert await count("inbox_message") == total


async def test_payload_holds_the_request_and_a_dutch_text(acts: CaseActivities, store: Store) -> None:
    req = request("mpzo_notified", [R.mpzo], reason="summons_served", detail={"hearing_date": "2025-03-01"})
    await run_action(acts, req)
    [msg] = await list_messages(store.sessions, "mpzo")
    assert msg.payload == {
        "action": "mpzo_notified",
        "case_id": "case-rhiant-H-42",
        "role": "mpzo",
        "reason": "summons_served",
        "detail": {"hearing_date": "2025-03-01"},
        "at": "2025-02-03T10:00:00Z",
        "text": "Melding aan het MPZO voor case-rhiant-H-42 (reden: dagvaarding betekend).",
    }


async def test_a9b_the_social_team_hears_of_spoor_2_in_codes_only(acts: CaseActivities,
                                                                   store: Store) -> None:
    req = request("mpzo_notified", [R.mpzo, R.social_team], reason="concern_confused_behaviour",
                  detail={"kind": "confused_behaviour"})
    await run_action(acts, req)
    [to_mpzo] = await list_messages(store.sessions, "mpzo")
    [to_team] = await list_messages(store.sessions, "sociale-wijkteams-dordrecht")
    assert to_mpzo.payload["reason"] == "concern_confused_behaviour"
    assert "onbegrepen gedrag" in to_mpzo.payload["text"]
    assert to_team.payload == {
        "action": "mpzo_notified", "case_id": "case-rhiant-H-42", "role": "social_team",
        "at": "2025-02-03T10:00:00Z",
        "text": "Casus case-rhiant-H-42 gaat naar spoor 2 (zorg en ondersteuning): het MPZO is "
                "ingeschakeld.",
    }


async def test_free_text_reason_stays_out_of_the_message(acts: CaseActivities, store: Store) -> None:
    """Issue 12: an inbox message (and so a webhook body) carries reason codes, never free text."""
    req = request("escalation_raised", [R.corporation], reason="Mevrouw belt niet terug")
    await run_action(acts, req)
    [msg] = await list_messages(store.sessions, "rhiant")
    assert msg.payload["reason"] is None
    assert "Mevrouw" not in repr(msg.payload)


@pytest.mark.parametrize(
    ("corporation", "municipality", "channel"),
    [
        ("heerjansdam", "hendrik-ido-ambacht", "beveiligde mailbox gemeente Hendrik-Ido-Ambacht"),
        ("rhiant", "hendrik-ido-ambacht", "RIS"),
        ("heerjansdam", "dordrecht", "RIS"),
    ],
)
async def test_early_signal_goes_by_ris_or_the_pairs_channel(
    acts: CaseActivities, store: Store, corporation: str, municipality: str, channel: str
) -> None:
    req = request("early_signal_submitted", [R.municipality], corporation=corporation,
                  municipality=municipality)
    result = await run_action(acts, req)
    assert (result.channel, result.protocol, result.receivers) == (channel, None, [municipality])
    [msg] = await list_messages(store.sessions, municipality)
    assert msg.payload["channel"] == channel
    assert msg.payload["text"].startswith("Vroegsignalering: huurachterstand gemeld voor case-")
    assert channel in msg.payload["text"]


@pytest.mark.parametrize(
    ("municipality", "service", "protocol"),
    [("gorinchem", "avres", "Traject Crisis"), ("dordrecht", "sdd", "Crisisprotocol")],
)
async def test_crisis_protocol_of_the_municipalitys_social_service(
    acts: CaseActivities, store: Store, municipality: str, service: str, protocol: str
) -> None:
    result = await run_action(acts, request("crisis_protocol_invoked", [R.social_service],
                                            municipality=municipality))
    assert (result.protocol, result.receivers, result.channel) == (protocol, [service], None)
    [msg] = await list_messages(store.sessions, service)
    assert msg.payload["protocol"] == protocol
    assert msg.payload["text"].startswith(protocol)


@pytest.mark.parametrize(
    ("municipality", "team", "joint"),
    [("dordrecht", "sociale-wijkteams-dordrecht", True), ("molenlanden", "sociaal-team-molenlanden", False)],
)
async def test_casusregie_lies_with_the_social_team(
    acts: CaseActivities, store: Store, municipality: str, team: str, joint: bool
) -> None:
    req = request("casusregie_assigned", [R.social_team], municipality=municipality)
    result = await run_action(acts, req)
    assert result.receivers == [team]
    [msg] = await list_messages(store.sessions, team)
    assert msg.payload["casusregie"] == "social_team"
    assert msg.payload["casusregie_party"] == team
    assert msg.payload["joint_youth_team"] is joint
    assert msg.payload["youth_care_requested"] is False
    assert ("Jeugdteams" in msg.payload["text"]) is joint


async def test_a_retried_activity_writes_one_message(acts: CaseActivities, store: Store, count) -> None:
    req = request("postponement_consultation_requested", [R.corporation, R.social_service])
    first = await run_action(acts, req)
    second = await run_action(acts, req)
    assert first.duplicate is False and second.duplicate is True
    assert second.message_ids == first.message_ids
    assert second.receivers == first.receivers == ["rhiant", "sdd"]
    assert await count("inbox_message") == 2
    # A later action of the same kind (a new sequence number) is a new message.
    third = await run_action(acts, request(req.action, req.receivers, key="case-rhiant-H-42/run-1/x/2"))
    assert third.duplicate is False and set(third.message_ids).isdisjoint(first.message_ids)
    assert await count("inbox_message") == 4


async def test_deliveries_are_logged_without_payload(acts: CaseActivities) -> None:
    req = request("mpzo_notified", [R.mpzo], reason="Buren klagen over mevrouw Jansen")
    with capture_logs() as logs:
        result = await run_action(acts, req)
        await run_action(acts, req)
    delivered = [e for e in logs if e["event"] == "inbox_message_delivered"]
    fields = [(e["action"], e["case_id"], e["receiver"], e["message_id"], e["duplicate"]) for e in delivered]
    assert fields == [
        ("mpzo_notified", req.case_id, "mpzo", result.message_ids[0], False),
        ("mpzo_notified", req.case_id, "mpzo", result.message_ids[0], True),
    ]
    assert "Jansen" not in repr(logs) and "Melding" not in repr(logs)


async def test_action_request_errors_are_not_retried(acts: CaseActivities, count) -> None:
    env = ActivityEnvironment()
    cases = [
        (acts.actions.activities["case_closed"], request("mpzo_notified", [R.mpzo]),
         "InvalidActionRequest", "received a request for action 'mpzo_notified'"),
        (acts.actions.activities["mpzo_notified"], request("mpzo_notified", []),
         "InvalidActionRequest", "no receivers"),
        (acts.actions.activities["early_signal_submitted"],
         request("early_signal_submitted", [R.municipality], municipality="atlantis"),
         "UnknownParty", "municipality 'atlantis' is not in the registry"),
        (acts.actions.activities["collection_paused"],
         request("collection_paused", [R.corporation], corporation="sdd"),
         "UnknownParty", "'sdd' is a social service, not a corporation"),
    ]
    for fn, req, kind, message in cases:
        with pytest.raises(ApplicationError) as info:
            await env.run(fn, req)
        assert (info.value.type, info.value.non_retryable) == (kind, True)
        assert message in str(info.value)
    assert await count("inbox_message") == 0


async def test_reused_key_for_another_action_is_not_retried(acts: CaseActivities) -> None:
    await run_action(acts, request("collection_paused", [R.corporation], key="k"))
    with pytest.raises(ApplicationError) as info:
        await run_action(acts, request("collection_resumed", [R.corporation], key="k"))
    assert (info.value.type, info.value.non_retryable) == ("IdempotencyConflict", True)


def ctx_request(corporation: str = "trivire", municipality: str = "gorinchem", run_id: str = "run-2"):
    return CaseContextRequest(case_id=f"case-{corporation}-T-7", corporation=corporation,
                              municipality=municipality, run_id=run_id)


async def test_resolve_case_context(acts: CaseActivities) -> None:
    ctx = await ActivityEnvironment().run(acts.context.resolve_case_context, ctx_request())
    assert (ctx.social_service, ctx.social_team, ctx.mpzo) == ("avres", "sociaal-team-gorinchem", "mpzo")
    assert ctx.policy == Policy()
    assert ctx.previous_episode is None
    assert ctx.parties == {
        "trivire": PartyKind.corporation,
        "gorinchem": PartyKind.municipality,
        "avres": PartyKind.social_service,
        "sociaal-team-gorinchem": PartyKind.social_team,
        "mpzo": PartyKind.mpzo,
        "operator": PartyKind.operator,
    }


async def test_context_carries_the_previous_episode(acts: CaseActivities) -> None:
    env = ActivityEnvironment()
    closed = datetime(2024, 9, 1, tzinfo=UTC)
    await env.run(acts.projection.record_case, CaseProjection(
        case_id="case-trivire-T-7", run_id="run-1", corporation="trivire", municipality="gorinchem",
        stage=Stage.closed, track=Track.spoor_2, outcome=Outcome.resolved,
        opened_at=closed - timedelta(days=300), closed_at=closed,
    ))
    ctx = await env.run(acts.context.resolve_case_context, ctx_request(run_id="run-2"))
    assert ctx.previous_episode is not None
    assert (ctx.previous_episode.run_id, ctx.previous_episode.outcome) == ("run-1", "resolved")
    assert ctx.previous_episode.closed_at == closed
    # The episode itself is never its own predecessor.
    ctx = await env.run(acts.context.resolve_case_context, ctx_request(run_id="run-1"))
    assert ctx.previous_episode is None


async def test_record_case_upserts_the_projection(acts: CaseActivities, store: Store) -> None:
    env = ActivityEnvironment()
    p = CaseProjection(case_id="case-poort6-P-1", run_id="r", corporation="poort6",
                       municipality="molenlanden", stage=Stage.arrears, track=Track.spoor_1,
                       outcome=None, opened_at=AT, closed_at=None)
    await env.run(acts.projection.record_case, p)
    await env.run(acts.projection.record_case, p.model_copy(update={"stage": Stage.crisis}))
    row = await get_case(store.sessions, "case-poort6-P-1", "r")
    assert (row.stage, row.municipality, row.opened_at) == ("crisis", "molenlanden", AT)


@pytest.mark.parametrize(
    ("corporation", "municipality", "message"),
    [
        ("trivire", "atlantis", "case case-trivire-T-7: municipality 'atlantis' is not in the registry"),
        ("trivire", "avres", "'avres' is a social service, not a municipality"),
        ("nobody", "gorinchem", "corporation 'nobody' is not in the registry"),
        ("gorinchem", "gorinchem", "'gorinchem' is a municipality, not a corporation"),
    ],
)
async def test_unknown_parties_fail_the_context_for_good(
    acts: CaseActivities, corporation: str, municipality: str, message: str
) -> None:
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(acts.context.resolve_case_context,
                                        ctx_request(corporation, municipality))
    assert info.value.type == "UnknownParty"
    assert info.value.non_retryable is True
    assert message in str(info.value)


async def test_policy_overrides_apply_and_reload(store: Store, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults]\n[municipality.gorinchem]\nhelp_plan_deadline_days = 21\n"
                      "[pair.\"trivire/gorinchem\"]\ncollection_pause_days = 21\n")
    acts = CaseActivities(store, policy)
    env = ActivityEnvironment()
    ctx = await env.run(acts.context.resolve_case_context, ctx_request())
    assert (ctx.policy.help_plan_deadline_days, ctx.policy.collection_pause_days) == (21, 21)
    other = await env.run(acts.context.resolve_case_context, ctx_request("rhiant", "dordrecht"))
    assert (other.policy.help_plan_deadline_days, other.policy.collection_pause_days) == (28, 30)
    # An edit of the file is picked up without restarting the worker.
    policy.write_text("[municipality.gorinchem]\nhelp_plan_deadline_days = 14\n")
    st = policy.stat()
    os.utime(policy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    ctx = await env.run(acts.context.resolve_case_context, ctx_request())
    assert (ctx.policy.help_plan_deadline_days, ctx.policy.collection_pause_days) == (14, 30)


def test_broken_policy_file_stops_the_worker_at_start(store: Store, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults]\nhelp_plan_deadline_days = 0\n")
    with pytest.raises(ValueError, match="help_plan_deadline_days"):
        CaseActivities(store, policy)


@pytest.mark.parametrize(("text", "names"), [
    # RULES §11 A10: a key the party does not own, a value outside the bounds, an unknown party
    ("[corporation.rhiant]\nhelp_plan_deadline_days = 21\n",
     ["[corporation.rhiant] help_plan_deadline_days", "may not override it", "A10"]),
    ("[defaults]\ncollection_pause_days = 45\n",
     ["[defaults] collection_pause_days = 45", "bounds 1–30", "A10"]),
    ("[municipality.gorkum]\naftercare_months = 3\n",
     ["[municipality.gorkum]", "'gorkum' is not a party in the registry", "A10"]),
])
def test_a10_a_policy_outside_the_agreement_stops_the_worker_at_start(
        store: Store, tmp_path: Path, text: str, names: list[str]) -> None:
    from vangnet.policy import PolicyError

    policy = tmp_path / "policy.toml"
    policy.write_text(text)
    with pytest.raises(PolicyError) as info:
        CaseActivities(store, policy)
    message = str(info.value)
    assert message.startswith(f"policy file {policy}: ")
    for name in names:
        assert name in message


# The registry is read anew by every activity (no cache): an edit loaded between two activities of
# the same worker is followed by the second, and what one delivery reports comes from one reading.

REGISTRY_TEXT = (Path(__file__).resolve().parents[2] / "config" / "registry.toml").read_text(encoding="utf-8")


async def _load(store: Store, tmp_path: Path, text: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(text, encoding="utf-8")
    await load_registry(store.sessions, path)


async def test_routing_follows_a_registry_load_between_deliveries(
    acts: CaseActivities, store: Store, tmp_path: Path
) -> None:
    def early_signal(n: int) -> ActionRequest:
        return request("early_signal_submitted", [R.municipality], corporation="poort6",
                       municipality="gorinchem", key=f"case-poort6-H-42/run-1/early/{n}")

    assert (await run_action(acts, early_signal(1))).channel == "RIS"
    crisis = await run_action(acts, request("crisis_protocol_invoked", [R.social_service], key="c1"))
    assert (crisis.receivers, crisis.protocol) == (["sdd"], "Crisisprotocol")

    # Dordrecht moves to Avres; poort6 leaves RIS in Gorinchem.
    edited = REGISTRY_TEXT.replace(
        'social_service = "sdd"\nsocial_team = "sociale-wijkteams-dordrecht"',
        'social_service = "avres"\nsocial_team = "sociale-wijkteams-dordrecht"',
    )
    assert edited != REGISTRY_TEXT
    await _load(store, tmp_path, edited + '\n[[route]]\ncorporation = "poort6"\nmunicipality = "gorinchem"\n'
                'ris_connected = false\nalternative_channel = "Zivver"\n')

    assert (await run_action(acts, early_signal(2))).channel == "Zivver"
    crisis = await run_action(acts, request("crisis_protocol_invoked", [R.social_service], key="c2"))
    assert (crisis.receivers, crisis.protocol) == (["avres"], "Traject Crisis")
    ctx = await ActivityEnvironment().run(acts.context.resolve_case_context,
                                          ctx_request("rhiant", "dordrecht"))
    assert ctx.social_service == "avres"


async def test_webhook_messages_follow_the_registry_at_delivery(
    acts: CaseActivities, store: Store, tmp_path: Path
) -> None:
    req = request("postponement_consultation_requested", [R.corporation, R.social_service])
    first = await run_action(acts, req)
    assert first.webhook_message_ids == []

    with_hook = REGISTRY_TEXT.replace(
        'name = "Sociale Dienst Drechtsteden"',
        'name = "Sociale Dienst Drechtsteden"\nwebhook_url = "https://sdd.example/vangnet"\n'
        'webhook_secret_ref = "env:SDD_WEBHOOK_SECRETS"',
    )
    assert with_hook != REGISTRY_TEXT
    await _load(store, tmp_path, with_hook)
    # A retry finds its messages and reports the one whose party now has a webhook.
    retried = await run_action(acts, req)
    assert retried.duplicate is True and retried.receivers == ["rhiant", "sdd"]
    assert retried.webhook_message_ids == [first.message_ids[1]]
    new = await run_action(acts, request(req.action, req.receivers, key="case-rhiant-H-42/run-1/x/2"))
    assert new.webhook_message_ids == [new.message_ids[1]]

    await _load(store, tmp_path, REGISTRY_TEXT)  # the file without the webhook: url and secret cleared
    assert (await run_action(acts, req)).webhook_message_ids == []


async def test_a_party_is_checked_only_when_the_action_needs_it(
    acts: CaseActivities, store: Store, count
) -> None:
    async with store.sessions() as session, session.begin():
        await session.execute(sa.delete(Party).where(Party.kind == "mpzo"))
        await session.execute(sa.update(Party).where(Party.code == "sdd").values(crisis_protocol=None))

    assert (await run_action(acts, request("tenant_notice_sent", [R.corporation]))).receivers == ["rhiant"]
    moratorium = await run_action(acts, request("moratorium_requested", [R.social_service]))
    assert moratorium.receivers == ["sdd"]
    env = ActivityEnvironment()
    for fn, req, message in [
        (acts.actions.activities["mpzo_notified"], request("mpzo_notified", [R.mpzo]),
         "the registry has no party of kind 'mpzo'"),
        (acts.actions.activities["crisis_protocol_invoked"],
         request("crisis_protocol_invoked", [R.social_service]),
         "social service 'sdd' has no crisis protocol in the registry"),
        (acts.context.resolve_case_context, ctx_request("rhiant", "dordrecht"),
         "the registry has no party of kind 'mpzo'"),
    ]:
        with pytest.raises(ApplicationError) as info:
            await env.run(fn, req)
        assert (info.value.type, info.value.non_retryable) == ("UnknownParty", True)
        assert message in str(info.value)
    assert await count("inbox_message") == 2


async def test_the_webhook_http_client_is_closed_with_the_worker(acts: CaseActivities) -> None:
    client = acts.webhooks.http()
    await acts.aclose()
    assert client.is_closed
    assert not acts.webhooks.http().is_closed  # a later delivery opens a new one
    await acts.aclose()
