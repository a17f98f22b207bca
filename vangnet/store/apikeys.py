"""API keys of the intake (RULES §10): only a key's SHA-256 hash is stored.

A key is `vn_` + 43 URL-safe characters (256 random bits); with that much entropy a plain SHA-256
is the right hash (no salt or slow hash needed: nothing to brute-force). A key belongs to one party
(`role="party"`, `party_code` set) or to a role without a party (`operator`, `auditor`).
A key may expire (`expires_at`); `find_key` returns an expired key's row all the same, so that the
intake can say "expired" rather than "unknown".
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa

from vangnet.store.db import SessionFactory
from vangnet.store.models import ApiKey

KEY_PREFIX = "vn_"
ROLES = ("party", "operator", "auditor")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    session_factory: SessionFactory, party_code: str | None, role: str, *, now: datetime | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKey]:
    """Store a new key's hash; return the key (shown once, never stored) and its row.
    `expires_at` None: the key never expires."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if (role == "party") != (party_code is not None):
        raise ValueError("a party key needs a party code; operator and auditor keys have none")
    key = new_key()
    row = ApiKey(key_hash=hash_key(key), party_code=party_code, role=role,
                 created_at=now or datetime.now(UTC), expires_at=expires_at)
    async with session_factory() as session, session.begin():
        session.add(row)
    return key, row


async def find_key(session_factory: SessionFactory, key: str) -> ApiKey | None:
    """The row of a presented key that is not revoked (expired or not), or None."""
    async with session_factory() as session:
        return (
            await session.execute(
                sa.select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
            )
        ).scalar()


async def list_keys(session_factory: SessionFactory, party_code: str | None = None) -> list[ApiKey]:
    query = sa.select(ApiKey).order_by(ApiKey.id)
    if party_code is not None:
        query = query.where(ApiKey.party_code == party_code)
    async with session_factory() as session:
        return list((await session.execute(query)).scalars())


async def revoke_key(session_factory: SessionFactory, key_id: int, *, now: datetime | None = None) -> ApiKey | None:
    """Revoke a key by id (idempotent: the first revocation time is kept); None if there is none."""
    async with session_factory() as session, session.begin():
        row = await session.get(ApiKey, key_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = now or datetime.now(UTC)
        return row


def is_expired(row: ApiKey, now: datetime | None = None) -> bool:
    return row.expires_at is not None and row.expires_at <= (now or datetime.now(UTC))


__all__ = ["KEY_PREFIX", "ROLES", "hash_key", "new_key", "create_key", "find_key", "is_expired",
           "list_keys", "revoke_key"]
