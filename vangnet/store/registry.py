"""The party registry (RULES §1): loading `config/registry.toml` and the lookups activities use.

Routing is data: the file seeds the `party` and `route` tables, and a reload upserts them (it never
deletes: a party or route dropped from the file stays until removed from the table). The file is
validated as a whole before anything is written, and every problem is reported at once.

One reader serves everyone: `Parties` holds registry rows and answers every lookup from them.
`read_case_parties` reads the parties one case can involve in one statement (the activities,
anew for each activity, so they always follow the last load); `read_parties` reads them all (the
intake, which keeps them for a few seconds). Lookups take an open `AsyncSession`, so an activity
can make them in its own transaction.

Case ids are `case-{corporation}-{tenancy_ref}` (RULES §3) and both parts may hold hyphens, so
two corporations whose codes are `x` and `x-y` could produce the same case id (`x` with tenancy
`y-1`, `x-y` with tenancy `1`). The registry refuses such a pair of codes, in the file and against
the parties already stored: then every case id names exactly one corporation and tenancy.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vangnet.domain import PartyKind
from vangnet.store.db import SessionFactory, dialect_insert
from vangnet.store.models import Party, Route

RIS = "RIS"
# Kinds a registry party can have (operators are roles of API keys, not parties).
RegistryKind = Literal["corporation", "municipality", "social_service", "social_team", "mpzo",
                       "adviesgroep"]
Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class RegistryError(ValueError):
    """The registry file is unreadable or inconsistent; the message lists every problem."""


class PartyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    kind: RegistryKind
    name: Annotated[str, Field(min_length=1, max_length=200)]
    social_service: Code | None = None
    social_team: Code | None = None
    crisis_protocol: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    municipalities: list[Code] = Field(default_factory=list)
    joint_youth_team: bool = False
    # Issue 10 (vangnet/webhooks.py): https, or http to loopback for development; the secrets
    # live in the environment or a file that `webhook_secret_ref` names, never in this file.
    webhook_url: Annotated[str, Field(max_length=500, pattern=r"^https?://")] | None = None
    webhook_secret_ref: Annotated[str, Field(min_length=5, max_length=300)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and "webhook_secret" in data:
            raise ValueError("webhook_secret does not belong in the registry: put the secret in "
                             "the environment (VANGNET_WEBHOOK_SECRET_<CODE>) or a file, and name "
                             "it with webhook_secret_ref = 'env:NAME' or 'file:PATH'")
        return data

    @field_validator("webhook_url")
    @classmethod
    def _url_rules(cls, value: str | None) -> str | None:
        if value is not None:
            from vangnet.webhooks import UrlPolicy, WebhookConfigError

            try:
                UrlPolicy(allow_http_loopback=True).check_syntax(value)
            except WebhookConfigError as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("webhook_secret_ref")
    @classmethod
    def _ref_rules(cls, value: str | None) -> str | None:
        from vangnet.webhooks import check_secret_ref

        return None if value is None else check_secret_ref(value)


class RouteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corporation: Code
    municipality: Code
    ris_connected: bool = True
    alternative_channel: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party: list[PartyEntry] = Field(default_factory=list)
    route: list[RouteEntry] = Field(default_factory=list)

    def problems(self) -> list[str]:
        """Cross-reference checks pydantic cannot do field by field."""
        out: list[str] = []
        counts = Counter(p.code for p in self.party)
        out += [f"party {code!r} is defined {n} times" for code, n in counts.items() if n > 1]
        kinds = {p.code: p.kind for p in self.party}

        def ref(owner: str, field: str, code: str | None, want: str) -> None:
            if code is None:
                out.append(f"{owner}: {field} is required")
            elif code not in kinds:
                out.append(f"{owner}: {field} {code!r} is not a party in the registry")
            elif kinds[code] != want:
                out.append(f"{owner}: {field} {code!r} is a {kinds[code]}, not a {want}")

        only_for = {
            "social_service": "municipality",
            "social_team": "municipality",
            "crisis_protocol": "social_service",
        }
        for p in self.party:
            owner = f"party {p.code!r} ({p.kind})"
            for field, kind in only_for.items():
                if getattr(p, field) is not None and p.kind != kind:
                    out.append(f"{owner}: {field} is only for a {kind.replace('_', ' ')}")
            if p.municipalities and p.kind != "social_team":
                out.append(f"{owner}: municipalities is only for a social team")
            if p.joint_youth_team and p.kind != "social_team":
                out.append(f"{owner}: joint_youth_team is only for a social team")
            if p.kind == "municipality":
                ref(owner, "social_service", p.social_service, "social_service")
                ref(owner, "social_team", p.social_team, "social_team")
                team = next((t for t in self.party if t.code == p.social_team), None)
                if team is not None and team.kind == "social_team" and p.code not in team.municipalities:
                    out.append(
                        f"{owner}: its social team {team.code!r} does not list it in municipalities"
                    )
            elif p.kind == "social_service" and p.crisis_protocol is None:
                out.append(f"{owner}: crisis_protocol is required")
            elif p.kind == "social_team":
                if not p.municipalities:
                    out.append(f"{owner}: municipalities must list the municipalities it serves")
                for m in p.municipalities:
                    ref(owner, "municipalities", m, "municipality")
        out += corporation_code_clashes(p.code for p in self.party if p.kind == "corporation")
        mpzo = [p.code for p in self.party if p.kind == "mpzo"]
        if len(mpzo) != 1:
            out.append(f"exactly one party of kind 'mpzo' is needed, found {len(mpzo)}: {mpzo}")
        seen: set[tuple[str, str]] = set()
        for r in self.route:
            owner = f"route {r.corporation}/{r.municipality}"
            if (r.corporation, r.municipality) in seen:
                out.append(f"{owner} is defined more than once")
            seen.add((r.corporation, r.municipality))
            ref(owner, "corporation", r.corporation, "corporation")
            ref(owner, "municipality", r.municipality, "municipality")
            if not r.ris_connected and r.alternative_channel is None:
                out.append(f"{owner}: not connected to RIS, so alternative_channel is required")
        return out


def corporation_code_clashes(codes: Iterable[str]) -> list[str]:
    """Pairs of corporation codes whose case ids could collide: one is the other plus `-…`."""
    ordered = sorted(set(codes))
    out = []
    for i, short in enumerate(ordered):
        for long in ordered[i + 1:]:
            if long.startswith(short + "-"):
                out.append(
                    f"corporation codes {short!r} and {long!r} clash: case ids "
                    f"case-{short}-<tenancy> and case-{long}-<tenancy> could be the same "
                    f"(RULES §3); a corporation code may not be another's followed by '-'")
    return out


def parse_registry(path: Path) -> RegistryFile:
    """Read and validate a registry file; raise RegistryError naming the file and every problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"registry file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise RegistryError(f"registry file {path} is not valid TOML: {err}") from None
    try:
        registry = RegistryFile.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = list(e["loc"])
            where = ".".join(str(x) for x in loc)
            if len(loc) >= 2 and loc[0] in ("party", "route") and isinstance(loc[1], int):
                items = data.get(loc[0], [])
                item = items[loc[1]] if loc[1] < len(items) else {}
                label = item.get("code") or "/".join(
                    str(item.get(k, "?")) for k in ("corporation", "municipality")
                )
                where = f"{loc[0]}[{loc[1]}] ({label})" + "".join(f".{x}" for x in loc[2:])
            msg = e["msg"]
            if e["type"] == "literal_error" and loc[-1] == "kind":
                msg = f"unknown kind {e['input']!r}; expected one of {', '.join(RegistryKind.__args__)}"
            elif e["type"] == "extra_forbidden":
                msg = "unknown field"
            lines.append(f"{where}: {msg}")
        raise RegistryError(_report(path, lines)) from None
    problems = registry.problems()
    if problems:
        raise RegistryError(_report(path, problems))
    return registry


def _report(path: Path, problems: list[str]) -> str:
    return f"registry file {path} has {len(problems)} problem(s):\n" + "\n".join(
        f"  - {p}" for p in problems
    )


@dataclass(frozen=True)
class LoadSummary:
    parties: int
    routes: int


async def load_registry(session_factory: SessionFactory, path: Path) -> LoadSummary:
    """Validate `path` and upsert its parties and routes, in one transaction."""
    registry = parse_registry(path)
    async with session_factory() as session, session.begin():
        stored = await session.scalars(
            sa.select(Party.code).where(Party.kind == PartyKind.corporation.value))
        clashes = corporation_code_clashes(
            [*stored, *(p.code for p in registry.party if p.kind == "corporation")])
        if clashes:
            raise RegistryError(_report(path, [f"{c} (with the parties already loaded)"
                                               for c in clashes]))
        for p in registry.party:
            values = p.model_dump() | {"webhook_secret": None}  # never stored (issue 10)
            ins = dialect_insert(session, Party).values(**values)
            await session.execute(
                ins.on_conflict_do_update(
                    index_elements=["code"],
                    set_={k: ins.excluded[k] for k in values if k != "code"},
                )
            )
        for r in registry.route:
            values = r.model_dump()
            ins = dialect_insert(session, Route).values(**values)
            await session.execute(
                ins.on_conflict_do_update(
                    index_elements=["corporation", "municipality"],
                    set_={
                        "ris_connected": ins.excluded.ris_connected,
                        "alternative_channel": ins.excluded.alternative_channel,
                    },
                )
            )
    return LoadSummary(parties=len(registry.party), routes=len(registry.route))


async def seed_registry_if_empty(session_factory: SessionFactory, path: Path) -> bool:
    """Load the registry file only when the party table is empty; True when it was loaded."""
    async with session_factory() as session:
        has_party = (await session.execute(sa.select(Party.code).limit(1))).first() is not None
    if has_party:
        return False
    await load_registry(session_factory, path)
    return True


# ---------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------


class UnknownParty(LookupError):
    """A code that is not in the registry, or not of the kind asked for."""


@dataclass(frozen=True)
class MunicipalityInfo:
    code: str
    name: str
    social_service: str
    social_team: str


@dataclass(frozen=True)
class SocialServiceInfo:
    code: str
    name: str
    crisis_protocol: str


@dataclass(frozen=True)
class SocialTeamInfo:
    code: str
    name: str
    municipalities: tuple[str, ...]
    joint_youth_team: bool


@dataclass(frozen=True)
class RouteInfo:
    corporation: str
    municipality: str
    ris_connected: bool
    alternative_channel: str | None

    @property
    def channel(self) -> str:
        """How the early signal goes: "RIS", or the pair's alternative channel."""
        if self.ris_connected or not self.alternative_channel:
            return RIS
        return self.alternative_channel


def _check_kind(party: Party | None, code: str, kind: PartyKind) -> Party:
    if party is None:
        raise UnknownParty(f"{kind.replace('_', ' ')} {code!r} is not in the registry")
    if party.kind != kind:
        raise UnknownParty(f"{code!r} is a {party.kind.replace('_', ' ')}, not a {kind.replace('_', ' ')}")
    return party


def _municipality_info(p: Party) -> MunicipalityInfo:
    if not p.social_service or not p.social_team:
        raise UnknownParty(f"municipality {p.code!r} has no social service or social team in the registry")
    return MunicipalityInfo(code=p.code, name=p.name, social_service=p.social_service,
                            social_team=p.social_team)


def _social_service_info(p: Party) -> SocialServiceInfo:
    if not p.crisis_protocol:
        raise UnknownParty(f"social service {p.code!r} has no crisis protocol in the registry")
    return SocialServiceInfo(code=p.code, name=p.name, crisis_protocol=p.crisis_protocol)


def _social_team_info(p: Party) -> SocialTeamInfo:
    return SocialTeamInfo(code=p.code, name=p.name, municipalities=tuple(p.municipalities or ()),
                          joint_youth_team=bool(p.joint_youth_team))


def has_webhook(party: Party) -> bool:
    """Whether the party also gets its inbox messages by webhook: it has a URL (its secrets are
    looked up when a message is pushed: vangnet/webhooks.py)."""
    return party.webhook_url is not None


async def get_route(session: AsyncSession, corporation: str, municipality: str) -> RouteInfo:
    """The pair's route; a pair without a row is connected to RIS."""
    row = await session.get(Route, (corporation, municipality))
    if row is None:
        return RouteInfo(corporation, municipality, ris_connected=True, alternative_channel=None)
    return RouteInfo(corporation, municipality, ris_connected=row.ris_connected,
                     alternative_channel=row.alternative_channel)


@dataclass(frozen=True)
class Parties:
    """Registry rows (all of them, or one case's), and every lookup answered from them.

    A party that is not needed is only checked when it is asked for (an action to the
    corporation does not fail for want of an MPZO).
    """

    rows: Mapping[str, Party]  # by code, in the order of the codes in the database

    def kind(self, code: str) -> PartyKind | None:
        """The kind of the party with this code; None when it is not in these rows."""
        party = self.rows.get(code)
        if party is None:
            return None
        try:
            return PartyKind(party.kind)
        except ValueError:
            return None

    def serves(self, party_code: str, municipality: str) -> bool:
        """RULES §7: does this municipality, social service or social team serve `municipality`?
        The MPZO serves the whole region; a corporation serves no municipality (it owns
        tenancies)."""
        if self.kind(municipality) is not PartyKind.municipality:
            return False
        kind = self.kind(party_code)
        if kind is PartyKind.municipality:
            return party_code == municipality
        if kind is PartyKind.social_service:
            return self.rows[municipality].social_service == party_code
        if kind is PartyKind.social_team:
            return municipality in (self.rows[party_code].municipalities or ())
        return kind is PartyKind.mpzo

    def require_kind(self, code: str, kind: PartyKind) -> None:
        _check_kind(self.rows.get(code), code, kind)

    def municipality(self, code: str) -> MunicipalityInfo:
        return _municipality_info(_check_kind(self.rows.get(code), code, PartyKind.municipality))

    def social_service(self, code: str) -> SocialServiceInfo:
        return _social_service_info(_check_kind(self.rows.get(code), code, PartyKind.social_service))

    def social_team(self, code: str) -> SocialTeamInfo:
        return _social_team_info(_check_kind(self.rows.get(code), code, PartyKind.social_team))

    def mpzo_code(self) -> str:
        """As `mpzo_code()`: the first MPZO by code."""
        for party in self.rows.values():
            if party.kind == PartyKind.mpzo:
                return party.code
        raise UnknownParty("the registry has no party of kind 'mpzo'")

    def with_webhook(self, codes: Iterable[str]) -> set[str]:
        """The parties among `codes` (all read here) that have a webhook."""
        return {code for code in codes if has_webhook(self.rows[code])}


def _case_parties_statement() -> sa.Select:
    served = aliased(Party)  # the municipality's own row, naming its social service and team
    municipality: Any = sa.bindparam("municipality")
    return (
        sa.select(Party)
        .where(
            sa.or_(
                Party.code == sa.bindparam("corporation"),
                Party.code == municipality,
                Party.code.in_(sa.select(served.social_service).where(served.code == municipality)),
                Party.code.in_(sa.select(served.social_team).where(served.code == municipality)),
                Party.kind == PartyKind.mpzo.value,
            )
        )
        .order_by(Party.code)
    )


# Built once: every action runs it, and building it (the alias above) cost more CPU than
# running it (py-spy of the worker during ingest, docs/benchmarks.md).
_CASE_PARTIES = _case_parties_statement()


async def read_case_parties(session: AsyncSession, corporation: str, municipality: str) -> Parties:
    """Read, in one statement, every party a case of `corporation` in `municipality` can involve:
    the two of them, the municipality's social service and social team, and the MPZO."""
    parties = (
        await session.scalars(_CASE_PARTIES, {"corporation": corporation, "municipality": municipality})
    ).all()
    return Parties(rows={p.code: p for p in parties})


async def read_parties(session: AsyncSession) -> Parties:
    """The whole registry, in one statement."""
    parties = (await session.scalars(sa.select(Party).order_by(Party.code))).all()
    return Parties(rows={p.code: p for p in parties})


__all__ = [
    "RIS",
    "RegistryError",
    "RegistryFile",
    "PartyEntry",
    "RouteEntry",
    "LoadSummary",
    "parse_registry",
    "corporation_code_clashes",
    "load_registry",
    "seed_registry_if_empty",
    "UnknownParty",
    "MunicipalityInfo",
    "SocialServiceInfo",
    "SocialTeamInfo",
    "RouteInfo",
    "get_route",
    "has_webhook",
    "Parties",
    "read_case_parties",
    "read_parties",
]
