"""Who is calling and what they may do: API keys (RULES §10), sending (§4 "who", §7) and reading
(§12 I3).

- Sending: a corporation only for its own tenancies; a municipality, social service or social
  team only in municipalities it serves; the MPZO in the whole region; operators may close
  cases; auditors send nothing. These checks read only the request, so a 403 says nothing about
  whether a case exists.
- Reading (I3): the tenancy's corporation, a party the case has sent a message, and a party
  that sent the case an event that was applied; operators and auditors read all. A case a party
  may not read is answered exactly like one that does not exist (404 `case_not_found`).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starter.service.errors import forbidden, invalid, unauthorized
from vangnet.domain import EVENT_SENDERS, PartyKind
from vangnet.logging import register_secret
from vangnet.store import Store, apikeys
from vangnet.store.intake_events import is_involved
from vangnet.store.registry import Parties, read_parties

ROLES = apikeys.ROLES  # party, operator, auditor
OPERATOR_EVENTS = frozenset(t for t, kinds in EVENT_SENDERS.items() if PartyKind.operator in kinds)
REGISTRY_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a party (with its registry kind) or the role operator / auditor."""

    role: str  # "party" | "operator" | "auditor"
    party_code: str | None = None
    kind: PartyKind | None = None
    key_id: int | None = None

    @property
    def label(self) -> str:
        return self.party_code or self.role

    @property
    def source(self) -> str:
        """The `source` of the events it sends: its party code, or "operator"."""
        return self.party_code or self.role

    @property
    def sees_all(self) -> bool:
        return self.role in ("operator", "auditor")


class RegistryCache:
    """The whole registry as the intake needs it, read in one statement and kept a few seconds
    (a `starter registry load` is seen within REGISTRY_TTL_SECONDS)."""

    def __init__(self, store: Store, ttl: float = REGISTRY_TTL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self._parties: Parties | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> Parties:
        if self._parties is not None and time.monotonic() - self._at < self.ttl:
            return self._parties
        async with self._lock:
            if self._parties is None or time.monotonic() - self._at >= self.ttl:
                async with self.store.sessions() as session:
                    parties = await read_parties(session)
                for party in parties.rows.values():  # never in a log line (RULES §12 I5)
                    register_secret(party.webhook_secret)  # (empty since issue 10: kept for old stores)
                self._parties, self._at = parties, time.monotonic()
        assert self._parties is not None
        return self._parties


def check_send(p: Principal, event_type: str, corporation: str, municipality: str,
               parties: Parties) -> None:
    """RULES §4 "who" and §7 for sending; raise IntakeError(403). Reads only the request."""
    if p.role == "auditor":
        raise forbidden("an auditor key reads cases; it cannot send events")
    if p.role == "operator":
        if event_type not in OPERATOR_EVENTS:
            allowed = ", ".join(sorted(OPERATOR_EVENTS))
            raise forbidden(f"an operator may send only {allowed}, not {event_type}")
        return
    kind = p.kind
    senders = EVENT_SENDERS[event_type]
    if kind not in senders:
        allowed = ", ".join(sorted(k.value for k in senders))
        raise forbidden(
            f"{p.label} ({kind.value if kind else 'party'}) may not send {event_type}; "
            f"it may be sent by: {allowed}"
        )
    if kind is PartyKind.corporation:
        if corporation != p.party_code:
            raise forbidden(
                f"{p.label} may send events only for its own tenancies, not for corporation {corporation!r}"
            )
    elif not parties.serves(p.label, municipality):
        raise forbidden(f"{p.label} does not serve municipality {municipality!r}")


def may_send(p: Principal, event_type: str, corporation: str, municipality: str,
             parties: Parties) -> bool:
    """Whether §7 lets this caller send this event for a case of (corporation, municipality):
    a caller that may not is answered as if the case did not exist (RULES §12 I3)."""
    try:
        check_send(p, event_type, corporation, municipality, parties)
    except Exception:  # IntakeError: not allowed
        return False
    return True


# A reason that is a code of the rules (`signal_not_taken_up`, `help_refused_before`); anything
# else in a reason is a party's free text.
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FREE_TEXT_FIELDS = ("reason", "event_reason")
WITHHELD = "(vrije tekst van een andere partij)"


def readable_timeline(p: Principal, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline as `p` may read it: a party sees another party's free-text reasons (e.g. the
    `reason` of `signal_bounced`, which may describe a person) only as a placeholder; its own, and
    codes, as they are. Operators and auditors read everything (issue 12, data minimisation)."""
    if p.sees_all:
        return entries
    out = []
    for entry in entries:
        detail = entry.get("detail") or {}
        hidden = [k for k in _FREE_TEXT_FIELDS
                  if isinstance(detail.get(k), str) and not _CODE.match(detail[k])]
        if hidden and detail.get("source") != p.party_code:
            entry = {**entry, "detail": {**detail, **dict.fromkeys(hidden, WITHHELD)}}
        out.append(entry)
    return out


async def may_read(store: Store, p: Principal, case_id: str) -> bool:
    """RULES §12 I3 (see the module docstring). Case ids name their corporation unambiguously:
    the registry refuses corporation codes that could make two readings of one id."""
    if p.sees_all:
        return True
    if p.party_code is None:
        return False
    if p.kind is PartyKind.corporation and case_id.startswith(f"case-{p.party_code}-"):
        return True
    return await is_involved(store.sessions, case_id, p.party_code)


async def authenticate(store: Store, registry: RegistryCache, authorization: str | None) -> Principal:
    """The principal of an `Authorization: Bearer <key>` header; IntakeError(401) otherwise."""
    if not authorization:
        raise unauthorized("missing_key", "no API key: send it as `Authorization: Bearer <key>`")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("missing_key", "the Authorization header must be `Bearer <key>`")
    row = await apikeys.find_key(store.sessions, token)
    if row is None:
        raise unauthorized("invalid_key", "unknown or revoked API key")
    if apikeys.is_expired(row):
        assert row.expires_at is not None
        raise unauthorized("key_expired", f"API key {row.id} expired on "
                                          f"{row.expires_at.astimezone(UTC).date().isoformat()}: "
                                          "ask for a new one (`keys create`)")
    if row.role == "party":
        kind = (await registry.get()).kind(row.party_code or "")
        if kind is None:
            raise unauthorized("invalid_key", "the key's party is no longer in the registry")
        return Principal("party", row.party_code, kind, row.id)
    return Principal(row.role, None, PartyKind.operator if row.role == "operator" else None, row.id)


async def principal_for(registry: RegistryCache, code: str) -> Principal:
    """The principal for a party code (or `operator` / `auditor`), for the command line, which
    runs with the store's own credentials. IntakeError(422) for an unknown code."""
    if code in ("operator", "auditor"):
        return Principal(code, None, PartyKind.operator if code == "operator" else None)
    kind = (await registry.get()).kind(code)
    if kind is None:
        raise invalid("unknown_party", f"{code!r} is not a party in the registry (nor operator or auditor)")
    return Principal("party", code, kind)


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["ROLES", "OPERATOR_EVENTS", "Principal", "RegistryCache", "check_send", "may_send",
           "may_read", "authenticate", "principal_for", "utcnow"]
