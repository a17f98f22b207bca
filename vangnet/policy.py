"""Policy values (RULES §2, §11 A1 and A10): defaults, overridable per municipality and per housing
corporation, within the agreement.

One file holds them (`config/policy.toml`, or `VANGNET_POLICY_FILE`). Precedence, last wins:
defaults < [municipality.<code>] < [corporation.<code>] < [pair."<corporation>/<municipality>"].
The effective values are recorded in each case when it opens, so an auditor sees what it ran under.

A10: each value has an owner. A municipality's section may set its own periods and its partners'
(`MUNICIPALITY_KEYS`), a corporation's its own (`CORPORATION_KEYS`), a pair either; the region's
values (`REGION_KEYS`) only `[defaults]`. Values lie within the agreement's bounds (`BOUNDS`), and a
section names a party of the registry. `PolicyFile.load` checks all of it and reports every
mistake at once, each naming the file, the section, the key and the rule; the worker does not
start with a file that breaks one (and neither does `starter registry load`).

The `Policy` model itself keeps its wide field limits: a case records the values it opened with,
and a case that opened before A10 must still load (continue-as-new) with the values it has.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Days = Annotated[int, Field(ge=1, le=3650)]
Months = Annotated[int, Field(ge=1, le=120)]
WorkingDays = Annotated[int, Field(ge=1, le=60)]


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    early_signal_after_days: Days = 30
    help_plan_deadline_days: Days = 28
    collection_pause_days: Days = 30
    mpzo_after_months: Months = 2
    crisis_response_working_days: WorkingDays = 3
    aftercare_months: Months = 6
    relapse_window_months: Months = 12
    # RULES §11 A1: where the agreement names no period (cases recorded before A1 load with these)
    case_review_days: Days = 90
    mpzo_plan_working_days: WorkingDays = 10
    eviction_outcome_days: Days = 2


# A10: who may override what.
CORPORATION_KEYS = frozenset({"early_signal_after_days", "collection_pause_days",
                              "mpzo_after_months"})
MUNICIPALITY_KEYS = frozenset({"help_plan_deadline_days", "crisis_response_working_days",
                               "aftercare_months", "relapse_window_months", "case_review_days"})
REGION_KEYS = frozenset({"mpzo_plan_working_days", "eviction_outcome_days"})
assert CORPORATION_KEYS | MUNICIPALITY_KEYS | REGION_KEYS == set(Policy.model_fields)

# A10: the agreement's bounds, (lowest, highest, where the bound comes from). Every other value
# is a period > 0 (the model's own limits).
BOUNDS: dict[str, tuple[int, int, str]] = {
    "early_signal_after_days": (28, 45, "A10"),
    "collection_pause_days": (1, 30, "A10, decision 4"),
    "mpzo_after_months": (2, 3, "A10, T2.4"),
    "crisis_response_working_days": (1, 5, "A10"),
}
RULE = "RULES.md §11 A10"


class PolicyError(ValueError):
    """The policy file breaks the agreement or cannot be read; the message lists every problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"policy file {path}: " + "; ".join(problems))


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    municipality: dict[str, dict[str, Any]] = Field(default_factory=dict)
    corporation: dict[str, dict[str, Any]] = Field(default_factory=dict)
    pair: dict[str, dict[str, Any]] = Field(default_factory=dict)
    retention: dict[str, Any] = Field(default_factory=dict)  # of the archive: vangnet/retention.py

    @classmethod
    def load(cls, path: Path, parties: Mapping[str, str] | None = None) -> PolicyFile:
        """Read and check the file. `parties` ({code: kind}, from the registry) also checks that
        every section names a party of the right kind; without it only the values are checked."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise PolicyError(path, [f"cannot be read: {err}"]) from None
        try:
            policy_file = cls.model_validate(data)
        except ValidationError as err:
            raise PolicyError(path, [_pydantic_problem(None, e) for e in err.errors()]) from None
        problems = policy_file.problems(parties)
        if problems:
            raise PolicyError(path, problems)
        return policy_file

    def sections(self) -> list[tuple[str, set[str], dict[str, Any]]]:
        """(section name, keys it may set, its values) for every section of the file."""
        out = [("[defaults]", set(Policy.model_fields), self.defaults)]
        out += [(f"[municipality.{code}]", set(MUNICIPALITY_KEYS), values)
                for code, values in self.municipality.items()]
        out += [(f"[corporation.{code}]", set(CORPORATION_KEYS), values)
                for code, values in self.corporation.items()]
        out += [(f'[pair."{code}"]', set(CORPORATION_KEYS | MUNICIPALITY_KEYS), values)
                for code, values in self.pair.items()]
        return out

    def problems(self, parties: Mapping[str, str] | None = None) -> list[str]:
        """Every way the file breaks A10 (empty: it keeps the agreement)."""
        out: list[str] = []
        if parties is not None:
            out += self._party_problems(parties)
        for section, allowed, values in self.sections():
            for key in values:
                if key not in Policy.model_fields:
                    out.append(f"{section} {key}: not a policy value (known: "
                               f"{', '.join(Policy.model_fields)})")
                elif key not in allowed:
                    out.append(f"{section} {key}: {_owner_text(key)}, so {section} may not "
                               f"override it ({RULE})")
            try:
                Policy.model_validate({k: v for k, v in values.items() if k in Policy.model_fields})
            except ValidationError as err:
                out += [_pydantic_problem(section, e) for e in err.errors()]
                continue
            for key, value in values.items():
                if key in BOUNDS:
                    low, high, source = BOUNDS[key]
                    if not low <= value <= high:
                        out.append(f"{section} {key} = {value}: outside the agreement's bounds "
                                   f"{low}–{high} (RULES.md §11 {source})")
        return out

    def _party_problems(self, parties: Mapping[str, str]) -> list[str]:
        out: list[str] = []

        def check(section: str, code: str, kind: str) -> None:
            found = parties.get(code)
            if found is None:
                out.append(f"{section}: {code!r} is not a party in the registry ({RULE})")
            elif found != kind:
                out.append(f"{section}: {code!r} is a {found.replace('_', ' ')}, not a "
                           f"{kind} ({RULE})")

        for code in self.municipality:
            check(f"[municipality.{code}]", code, "municipality")
        for code in self.corporation:
            check(f"[corporation.{code}]", code, "corporation")
        for code in self.pair:
            corporation, sep, municipality = code.partition("/")
            if not sep:
                out.append(f'[pair."{code}"]: a pair is "<corporation>/<municipality>" ({RULE})')
                continue
            check(f'[pair."{code}"]', corporation, "corporation")
            check(f'[pair."{code}"]', municipality, "municipality")
        return out

    def resolve(self, corporation: str, municipality: str) -> Policy:
        merged: dict[str, Any] = {}
        for layer in (
            self.defaults,
            self.municipality.get(municipality, {}),
            self.corporation.get(corporation, {}),
            self.pair.get(f"{corporation}/{municipality}", {}),
        ):
            merged.update(layer)
        return Policy.model_validate(merged)


def _owner_text(key: str) -> str:
    if key in REGION_KEYS:
        return f"{key} is region-wide (only [defaults] sets it)"
    owner = "a corporation" if key in CORPORATION_KEYS else "a municipality"
    return f"{key} is {owner}'s period"


def _pydantic_problem(section: str | None, error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    where = f"{section} {loc}" if section else loc
    value = error.get("input")
    shown = f" = {value!r}" if not isinstance(value, dict) else ""
    return f"{where}{shown}: {error['msg']}"


def registry_parties(registry_file: Path) -> dict[str, str]:
    """{code: kind} of the registry file's parties (for `PolicyFile.load`)."""
    from vangnet.store.registry import parse_registry  # not at import: the store imports domain

    return {p.code: p.kind for p in parse_registry(Path(registry_file)).party}


def load_checked(policy_file: Path, registry_file: Path) -> PolicyFile:
    """The policy file, checked against the agreement (A10) and the party registry file."""
    return PolicyFile.load(policy_file, registry_parties(registry_file))
