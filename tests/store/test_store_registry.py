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
    corporation_code_clashes,
    get_route,
    load_registry,
    parse_registry,
    read_case_parties,
    read_parties,
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
        parties = await read_parties(s)
    m = parties.municipality(municipality)
    assert (m.social_service, m.social_team) == (service, team)
    assert parties.social_service(m.social_service).crisis_protocol == protocol
    assert municipality in parties.social_team(team).municipalities
    assert parties.serves(service, municipality) and parties.serves(team, municipality)
    assert parties.serves(municipality, municipality) and parties.serves("mpzo", municipality)
    assert not parties.serves("rhiant", municipality)  # a corporation owns tenancies, serves none


async def test_joint_youth_teams_are_marked(store: Store) -> None:
    async with store.sessions() as s:
        parties = await read_parties(s)
    assert parties.social_team("sociale-wijkteams-dordrecht").joint_youth_team is True
    assert parties.social_team("sociaal-team-molenlanden").joint_youth_team is False


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
        parties = await read_parties(s)
    assert parties.mpzo_code() == "mpzo"
    assert parties.kind("poort6") is PartyKind.corporation
    assert parties.kind("avres") is PartyKind.social_service
    assert parties.kind("atlantis") is None
    with pytest.raises(UnknownParty, match="'atlantis' is not in the registry"):
        parties.municipality("atlantis")
    with pytest.raises(UnknownParty, match="'rhiant' is a corporation, not a municipality"):
        parties.municipality("rhiant")
    assert not parties.serves("avres", "dordrecht") and not parties.serves("avres", "atlantis")


def _answer(lookup):
    try:
        return lookup()
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
async def test_a_cases_parties_answer_as_the_whole_registry(
    store: Store, corporation: str, municipality: str
) -> None:
    async with store.sessions() as s:
        case = await read_case_parties(s, corporation, municipality)
        whole = await read_parties(s)

    def answers(parties):
        out = {
            "corporation": _answer(lambda: parties.require_kind(corporation, PartyKind.corporation)),
            "municipality": _answer(lambda: parties.municipality(municipality)),
            "mpzo": _answer(parties.mpzo_code),
        }
        m = out["municipality"]
        if not isinstance(m, str):  # the municipality's social service and team were read too
            out["social_service"] = _answer(lambda: parties.social_service(m.social_service))
            out["social_team"] = _answer(lambda: parties.social_team(m.social_team))
        return out

    assert answers(case) == answers(whole)


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
        # RULES §3: case-corp-x-1 would name both (corp, "x-1") and (corp-x, "1").
        (lambda t: t + '\n[[party]]\ncode = "corp-x"\nkind = "corporation"\nname = "Corp X"\n',
         "corporation codes 'corp' and 'corp-x' clash: case ids case-corp-<tenancy> and "
         "case-corp-x-<tenancy> could be the same"),
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


def test_corporation_codes_that_could_make_one_case_id_clash() -> None:
    # Hyphens are fine as long as no code is another's plus "-…" (RULES §3 case ids).
    assert corporation_code_clashes(["tablis-wonen", "woonzorg-nederland", "lek-en-waard-wonen",
                                     "tablis", "woonzorg"]) == [
        "corporation codes 'tablis' and 'tablis-wonen' clash: case ids case-tablis-<tenancy> and "
        "case-tablis-wonen-<tenancy> could be the same (RULES §3); a corporation code may not be "
        "another's followed by '-'",
        "corporation codes 'woonzorg' and 'woonzorg-nederland' clash: case ids "
        "case-woonzorg-<tenancy> and case-woonzorg-nederland-<tenancy> could be the same (RULES §3); "
        "a corporation code may not be another's followed by '-'",
    ]
    assert corporation_code_clashes(["rhiant", "poort6", "tablis-wonen", "tablisx"]) == []
    seeded = parse_registry(REGISTRY)
    assert corporation_code_clashes(p.code for p in seeded.party if p.kind == "corporation") == []


async def test_a_clashing_corporation_is_refused_against_the_stored_parties(
        store: Store, tmp_path: Path, count) -> None:
    # The file alone is fine (no "lek-en-waard-wonen" in it), but the table already holds it.
    text = MINIMAL.replace('code = "corp"', 'code = "lek-en-waard"')
    with pytest.raises(RegistryError, match="'lek-en-waard' and 'lek-en-waard-wonen' clash"):
        await load_registry(store.sessions, _write(tmp_path, text))
    assert await count("party") == 33  # 32 of RULES §1 + the adviesgroep: nothing loaded
