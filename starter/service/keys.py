"""API keys of the intake (RULES §10): create, list, revoke. A key is printed once; only its
hash is kept. Keys expire (default: after DEFAULT_KEY_LIFETIME); an expired key gets 401
`key_expired`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from starter.service.access import ROLES, RegistryCache
from starter.service.errors import invalid, not_found
from vangnet.store import Store, apikeys
from vangnet.store.models import ApiKey

log = structlog.get_logger("vangnet.intake")

DEFAULT_KEY_LIFETIME = timedelta(days=365)
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([dhmw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class CreatedKey:
    key: str
    row: ApiKey


def parse_lifetime(text: str) -> timedelta | None:
    """`365d`, `12w`, `48h`, `30m`, or `never` (None). IntakeError(422) otherwise."""
    if text.strip().lower() == "never":
        return None
    found = _DURATION.match(text)
    if not found or int(found.group(1)) == 0:
        raise invalid("invalid_duration", f"{text!r} is not a lifetime: use e.g. 365d, 12w, 48h, "
                                          "30m or never", "expires_in")
    return int(found.group(1)) * _UNITS[found.group(2)]


async def create_key(store: Store, registry: RegistryCache, code: str, role: str | None = None,
                     lifetime: timedelta | None = DEFAULT_KEY_LIFETIME) -> CreatedKey:
    """A new key for a party (role `party`) or for the role `operator` / `auditor`; it expires
    after `lifetime` (None: never)."""
    if role is None:
        role = code if code in ("operator", "auditor") else "party"
    if role not in ROLES:
        raise invalid("invalid_role", f"unknown role {role!r}; expected one of: {', '.join(ROLES)}", "role")
    expires_at = datetime.now(UTC) + lifetime if lifetime is not None else None
    if role == "party":
        if code in ("operator", "auditor"):
            raise invalid("invalid_role", f"{code!r} is a role, not a party: use --role {code}", "role")
        if (await registry.get()).kind(code) is None:
            raise invalid("unknown_party", f"{code!r} is not a party in the registry", "party")
        key, row = await apikeys.create_key(store.sessions, code, "party", expires_at=expires_at)
    else:
        if code != role:
            raise invalid(
                "invalid_role",
                f"an {role} key belongs to no party: run `keys create {role}` (got party {code!r})",
                "party",
            )
        key, row = await apikeys.create_key(store.sessions, None, role, expires_at=expires_at)
    log.info("api_key_created", key_id=row.id, party=row.party_code, role=row.role,
             expires_at=row.expires_at.isoformat() if row.expires_at else None)
    return CreatedKey(key, row)


async def list_keys(store: Store, party_code: str | None = None) -> list[ApiKey]:
    return await apikeys.list_keys(store.sessions, party_code)


async def revoke_key(store: Store, key_id: int) -> ApiKey:
    row = await apikeys.revoke_key(store.sessions, key_id)
    if row is None:
        raise not_found("key_not_found", f"there is no key with id {key_id}")
    log.info("api_key_revoked", key_id=row.id, party=row.party_code, role=row.role)
    return row


__all__ = ["DEFAULT_KEY_LIFETIME", "CreatedKey", "parse_lifetime", "create_key", "list_keys",
           "revoke_key"]
