"""Policy values (RULES §2): defaults, overridable per municipality and per housing corporation.

One file holds them (`config/policy.toml`, or `VANGNET_POLICY_FILE`). Precedence, last wins:
defaults < [municipality.<code>] < [corporation.<code>] < [pair."<corporation>/<municipality>"].
The effective values are recorded in each case when it opens, so an auditor sees what it ran under.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Days = Annotated[int, Field(ge=1, le=3650)]
Months = Annotated[int, Field(ge=1, le=120)]


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    early_signal_after_days: Days = 30
    help_plan_deadline_days: Days = 28
    collection_pause_days: Days = 30
    mpzo_after_months: Months = 2
    crisis_response_working_days: Annotated[int, Field(ge=1, le=60)] = 3
    aftercare_months: Months = 6
    relapse_window_months: Months = 12


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    municipality: dict[str, dict[str, Any]] = Field(default_factory=dict)
    corporation: dict[str, dict[str, Any]] = Field(default_factory=dict)
    pair: dict[str, dict[str, Any]] = Field(default_factory=dict)
    retention: dict[str, Any] = Field(default_factory=dict)  # of the archive: vangnet/retention.py

    @classmethod
    def load(cls, path: Path) -> "PolicyFile":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        policy_file = cls.model_validate(data)
        # Validate every layer on its own, so a typo fails at load time, not when a case opens.
        for layer in [policy_file.defaults, *policy_file.municipality.values(),
                      *policy_file.corporation.values(), *policy_file.pair.values()]:
            Policy.model_validate(layer)
        return policy_file

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
