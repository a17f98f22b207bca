"""Activity `resolve_case_context`: what a case needs to know about its parties when it opens.

From the registry: the municipality's social service and social team, the MPZO; from the policy
file (checked against the agreement and the registry file, RULES §11 A10): the effective policy
for the (corporation, municipality) pair; from the case store: the
previous closed episode of the same case id (RULES §3, relapse). The registry and the previous
episode are read in one session, in two statements.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import RESOLVE_CASE_CONTEXT, UNKNOWN_PARTY
from vangnet.domain import CaseContext, CaseContextRequest, PartyKind
from vangnet.policy import PolicyFile, load_checked
from vangnet.store import Store
from vangnet.store.cases import previous_episode_in
from vangnet.store.registry import UnknownParty, read_case_parties


class PolicyFileCache:
    """The policy file, checked against the registry file (A10), parsed once and re-read when
    either file's modification time or size changes."""

    def __init__(self, path: Path, registry_file: Path) -> None:
        self.path = Path(path)
        self.registry_file = Path(registry_file)
        self._stamp: tuple[int, ...] | None = None
        self._file: PolicyFile | None = None

    def get(self) -> PolicyFile:
        stamp = tuple(n for f in (self.path, self.registry_file)
                      for st in [os.stat(f)] for n in (st.st_mtime_ns, st.st_size))
        if self._file is None or stamp != self._stamp:
            self._file = load_checked(self.path, self.registry_file)
            self._stamp = stamp
        return self._file


class ContextActivities:
    def __init__(self, store: Store, policy_file: Path | None = None) -> None:
        self.store = store
        self.policy = PolicyFileCache(policy_file or store.settings.policy_file,
                                      store.settings.registry_file)
        self.policy.get()  # fail at worker start (A10), not when the first case opens

    @activity.defn(name=RESOLVE_CASE_CONTEXT)
    async def resolve_case_context(self, req: CaseContextRequest) -> CaseContext:
        async with self.store.sessions() as session:
            parties = await read_case_parties(session, req.corporation, req.municipality)
            try:
                parties.require_kind(req.corporation, PartyKind.corporation)
                municipality = parties.municipality(req.municipality)
                parties.require_kind(municipality.social_service, PartyKind.social_service)
                parties.require_kind(municipality.social_team, PartyKind.social_team)
                mpzo = parties.mpzo_code()
            except UnknownParty as err:
                raise ApplicationError(
                    f"case {req.case_id}: {err}", type=UNKNOWN_PARTY, non_retryable=True
                ) from None
            previous = await previous_episode_in(session, req.case_id, exclude_run_id=req.run_id)
        policy = self.policy.get().resolve(req.corporation, req.municipality)
        return CaseContext(
            social_service=municipality.social_service,
            social_team=municipality.social_team,
            mpzo=mpzo,
            policy=policy,
            parties={
                req.corporation: PartyKind.corporation,
                req.municipality: PartyKind.municipality,
                municipality.social_service: PartyKind.social_service,
                municipality.social_team: PartyKind.social_team,
                mpzo: PartyKind.mpzo,
                "operator": PartyKind.operator,
            },
            previous_episode=previous,
        )
