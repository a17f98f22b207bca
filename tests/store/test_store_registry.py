"""The party registry: loading config/registry.toml, validation, and the routing lookups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from vangnet.domain import PartyKind
from vangnet.store import Store
from vangnet.store.models import Party
from vangnet.store.registry import (
    RIS,
    RegistryError,
    UnknownParty,
    get_municipality,
    get_route,
    get_social_service,
    get_social_team,
    load_registry,
    mpzo_code,
    parse_registry,
    party_kind,
    read_case_parties,
    require_kind,
    seed_registry_if_empty,
)

REGISTRY = Path(__file__).resolve().parents[2] / "config" / "registry.toml"
SEED = REGISTRY.read_text(encoding="utf-8")


async def test_seed_has_every_party_of_rules_section_1(store: Store) -> None:
    async with store.sessions() as s:
        kinds = dict((await s.execute(sa.select(Party.kind, sa.func.count()).group_by(Party.kind))).all())
    assert kinds == {
        "municipality": 9,
        "social_team": 9,
        "social_service": 2,
        "mpzo": 1,
        "corporation": 11,
        "adviesgroep": 1,  # the steering group that receives the reports (issue 11)
    }


@pytest.mark.parametrize(
    ("municipality", "service", "protocol", "team"),
    [
        ("gorinchem", "avres", "Traject Crisis", "sociaal-team-gorinchem"),
        ("molenlanden", "avres", "Traject Crisis", "sociaal-team-molenlanden"),
        ("dordrecht", "sdd", "Crisisprotocol", "sociale-wijkteams-dordrecht"),
        ("zwijndrecht", "sdd", "Crisisprotocol", "vivera-zwijndrecht"),
    ],
)
async def test_municipality_routes_to_its_social_service_and_team(
    store: Store, municipality: str, service: str, protocol: str, team: str
) -> None:
    async with store.sessions() as s:
        m = await get_municipality(s, municipality)
        assert (m.social_service, m.social_team) == (service, team)
        assert (await get_social_service(s, m.social_service)).crisis_protocol == protocol
        assert municipality in (await get_social_team(s, team)).municipalities


async def test_joint_youth_teams_are_marked(store: Store) -> None:
    async with store.sessions() as s:
        assert (await get_social_team(s, "sociale-wijkteams-dordrecht")).joint_youth_team is True
        assert (await get_social_team(s, "sociaal-team-molenlanden")).joint_youth_team is False


async def test_ris_routing_by_pair(store: Store) -> None:
    async with store.sessions() as s:
        off = await get_route(s, "heerjansdam", "hendrik-ido-ambacht")
        assert off.ris_connected is False
        assert off.channel == "beveiligde mailbox gemeente Hendrik-Ido-Ambacht"
        # No row: connected to RIS, for the same corporation elsewhere and others in that town.
        assert (await get_route(s, "heerjansdam", "dordrecht")).channel == RIS
        assert (await get_route(s, "rhiant", "hendrik-ido-ambacht")).channel == RIS


async def test_kind_and_mpzo_lookups(store: Store) -> None:
    async with store.sessions() as s:
        assert await mpzo_code(s) == "mpzo"
        assert await party_kind(s, "poort6") is PartyKind.corporation
        assert await party_kind(s, "avres") is PartyKind.social_service
        assert await party_kind(s, "atlantis") is None
        with pytest.raises(UnknownParty, match="'atlantis' is not in the registry"):
            await get_municipality(s, "atlantis")
        with pytest.raises(UnknownParty, match="'rhiant' is a corporation, not a municipality"):
            await get_municipality(s, "rhiant")


def _answer(lookup):
    try:
        return lookup()
    except UnknownParty as err:
        return f"UnknownParty: {err}"


async def _answer_async(lookup):
    try:
        return await lookup()
    except UnknownParty as err:
        return f"UnknownParty: {err}"


@pytest.mark.parametrize(
    ("corporation", "municipality"),
    [
        ("rhiant", "dordrecht"),
        ("poort6", "gorinchem"),
        ("heerjansdam", "hendrik-ido-ambacht"),
        ("nobody", "molenlanden"),
        ("trivire", "atlantis"),
        ("avres", "rhiant"),
    ],
)
async def test_case_parties_read_in_one_go_answer_as_the_single_lookups(
    store: Store, corporation: str, municipality: str
) -> None:
    async with store.sessions() as s:
        parties = await read_case_parties(s, corporation, municipality)
        together = {
            "corporation": _answer(lambda: parties.require_kind(corporation, PartyKind.corporation)),
            "municipality": _answer(lambda: parties.municipality(municipality)),
            "mpzo": _answer(parties.mpzo_code),
        }
        single = {
            "corporation": await _answer_async(lambda: require_kind(s, corporation, PartyKind.corporation)),
            "municipality": await _answer_async(lambda: get_municipality(s, municipality)),
            "mpzo": await _answer_async(lambda: mpzo_code(s)),
        }
        m = single["municipality"]
        if not isinstance(m, str):  # the municipality's social service and team were read too
            together["social_service"] = _answer(lambda: parties.social_service(m.social_service))
            together["social_team"] = _answer(lambda: parties.social_team(m.social_team))
            single["social_service"] = await _answer_async(lambda: get_social_service(s, m.social_service))
            single["social_team"] = await _answer_async(lambda: get_social_team(s, m.social_team))
    assert together == single


async def test_case_parties_follow_the_tables(store: Store) -> None:
    async with store.sessions() as s, s.begin():
        await s.execute(sa.update(Party).where(Party.code == "gorinchem").values(social_service="sdd"))
        await s.execute(sa.update(Party).where(Party.code == "sdd").values(
            webhook_url="https://sdd.example/hook", webhook_secret="x"))
        await s.execute(sa.update(Party).where(Party.code == "avres").values(
            webhook_url="https://avres.example/hook", webhook_secret="x"))
    async with store.sessions() as s:
        parties = await read_case_parties(s, "poort6", "gorinchem")
    assert set(parties.rows) == {"poort6", "gorinchem", "sdd", "sociaal-team-gorinchem", "mpzo"}
    assert parties.municipality("gorinchem").social_service == "sdd"
    assert parties.with_webhook(["poort6", "sdd"]) == {"sdd"}


async def test_reload_upserts_without_duplicates(store: Store, tmp_path: Path, count) -> None:
    edited = SEED.replace('name = "Poort6"', 'name = "Poort6 Wonen"') + (
        '\n[[route]]\ncorporation = "poort6"\nmunicipality = "gorinchem"\n'
        'ris_connected = false\nalternative_channel = "Zivver"\n'
    )
    path = tmp_path / "registry.toml"
    path.write_text(edited, encoding="utf-8")
    summary = await load_registry(store.sessions, path)
    assert (summary.parties, summary.routes) == (33, 2)  # 32 of RULES §1 + the adviesgroep
    await load_registry(store.sessions, path)
    assert await count("party") == 33
    assert await count("route") == 2
    async with store.sessions() as s:
        assert (await s.get(Party, "poort6")).name == "Poort6 Wonen"
        assert (await get_route(s, "poort6", "gorinchem")).channel == "Zivver"
    # Reconnecting the pair in the file updates the row in place.
    path.write_text(edited.replace("ris_connected = false\nalternative_channel = \"Zivver\"",
                                   "ris_connected = true"), encoding="utf-8")
    await load_registry(store.sessions, path)
    async with store.sessions() as s:
        assert (await get_route(s, "poort6", "gorinchem")).channel == RIS


async def test_seed_only_when_empty(store: Store) -> None:
    async with store.sessions() as s, s.begin():
        (await s.get(Party, "rhiant")).name = "edited by hand"
    assert await seed_registry_if_empty(store.sessions, REGISTRY) is False
    async with store.sessions() as s:
        assert (await s.get(Party, "rhiant")).name == "edited by hand"


async def test_bad_file_writes_nothing(store: Store, tmp_path: Path, count) -> None:
    path = tmp_path / "bad.toml"
    bad_party = '\n[[party]]\ncode = "x"\nkind = "bank"\nname = "X"\n'
    path.write_text(SEED.replace('name = "Poort6"', 'name = "X"') + bad_party)
    with pytest.raises(RegistryError):
        await load_registry(store.sessions, path)
    async with store.sessions() as s:
        assert (await s.get(Party, "poort6")).name == "Poort6"
    assert await count("party") == 33


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[[party]]
code = "mpzo"
kind = "mpzo"
name = "MPZO"

[[party]]
code = "ss"
kind = "social_service"
name = "SS"
crisis_protocol = "Crisisprotocol"

[[party]]
code = "team"
kind = "social_team"
name = "Team"
municipalities = ["town"]

[[party]]
code = "town"
kind = "municipality"
name = "Town"
social_service = "ss"
social_team = "team"

[[party]]
code = "corp"
kind = "corporation"
name = "Corp"
"""


def test_minimal_file_is_valid(tmp_path: Path) -> None:
    registry = parse_registry(_write(tmp_path, MINIMAL))
    assert [p.code for p in registry.party] == ["mpzo", "ss", "team", "town", "corp"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('kind = "corporation"', 'kind = "bank"'),
         "party[4] (corp).kind: unknown kind 'bank'"),
        (lambda t: t.replace('social_service = "ss"', 'social_service = "nope"'),
         "party 'town' (municipality): social_service 'nope' is not a party in the registry"),
        (lambda t: t.replace('social_service = "ss"', 'social_service = "corp"'),
         "social_service 'corp' is a corporation, not a social_service"),
        (lambda t: t.replace('social_team = "team"\n', ""),
         "party 'town' (municipality): social_team is required"),
        (lambda t: t.replace('municipalities = ["town"]', 'municipalities = ["elsewhere"]'),
         "municipalities 'elsewhere' is not a party in the registry"),
        (lambda t: t.replace('crisis_protocol = "Crisisprotocol"\n', ""),
         "party 'ss' (social_service): crisis_protocol is required"),
        (lambda t: t.replace('name = "Corp"', 'name = "Corp"\ncrisis_protocol = "x"'),
         "party 'corp' (corporation): crisis_protocol is only for a social service"),
        (lambda t: t + '\n[[party]]\ncode = "corp"\nkind = "corporation"\nname = "Again"\n',
         "party 'corp' is defined 2 times"),
        (lambda t: t.replace('kind = "mpzo"', 'kind = "corporation"'),
         "exactly one party of kind 'mpzo' is needed, found 0"),
        (lambda t: t + '\n[[route]]\ncorporation = "corp"\nmunicipality = "town"\nris_connected = false\n',
         "route corp/town: not connected to RIS, so alternative_channel is required"),
        (lambda t: t + '\n[[route]]\ncorporation = "ghost"\nmunicipality = "town"\n',
         "route ghost/town: corporation 'ghost' is not a party in the registry"),
        (lambda t: t + '\n[[route]]\ncorporation = "corp"\nmunicipality = "corp"\n',
         "route corp/corp: municipality 'corp' is a corporation, not a municipality"),
        (lambda t: t.replace('name = "Corp"', 'name = "Corp"\ncolour = "red"'),
         "party[4] (corp).colour: unknown field"),
        (lambda t: t.replace('code = "corp"', 'code = "Corp Inc"'), "party[4] (Corp Inc).code"),
        (lambda t: t.replace('[[party]]\ncode = "mpzo"', '[[party]\ncode = "mpzo"'), "is not valid TOML"),
    ],
)
def test_bad_registry_file_gives_a_clear_error(tmp_path: Path, edit, message: str) -> None:
    text = edit(MINIMAL)
    assert text != MINIMAL
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_registry(path)
    assert isinstance(info.value, RegistryError)
    assert str(path) in str(info.value)


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        parse_registry(tmp_path / "nope.toml")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = MINIMAL.replace('social_service = "ss"', 'social_service = "nope"').replace(
        'crisis_protocol = "Crisisprotocol"\n', ""
    )
    with pytest.raises(RegistryError, match=r"2 problem\(s\)"):
        parse_registry(_write(tmp_path, text))
