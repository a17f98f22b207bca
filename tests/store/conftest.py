"""Fixtures of the case store tests: every store test runs on SQLite and on PostgreSQL.

PostgreSQL: `VANGNET_TEST_POSTGRES_URL` (default `postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`)
names a server and an admin database; the tests create uniquely named databases on it and drop them
at the end. Unreachable server: the postgres tests are skipped locally, but fail when `CI=true`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlmodel import SQLModel

import vangnet.store.models  # noqa: F401  (every table on SQLModel.metadata)
from vangnet.settings import ROOT, Settings
from vangnet.store import Store, migrate, normalize_url
from vangnet.store.registry import load_registry

REGISTRY_FILE = ROOT / "config" / "registry.toml"
POLICY_FILE = ROOT / "config" / "policy.toml"
PG_URL = os.environ.get(
    "VANGNET_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").strip().lower() == "true"
DB_PREFIX = "vangnet_test_"  # + creation time (unix seconds) + "_" + random
STALE_AFTER_S = 6 * 3600

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _dsn(url: URL) -> str:
    """asyncpg's DSN for a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgServer:
    """Creates throw-away databases on the test PostgreSQL server."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(_dsn(self.admin_url), timeout=5)

    async def create_database(self) -> URL:
        name = f"{DB_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:8]}"
        conn = await self._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return self.admin_url.set(database=name)

    async def drop_stale(self) -> None:
        """Drop databases that killed test runs left behind (older than STALE_AFTER_S); a
        database of a run still going is younger than that."""
        conn = await self._admin()
        try:
            names = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", DB_PREFIX + "%"
            )
            for (name,) in names:
                stamp = name.removeprefix(DB_PREFIX).split("_")[0]
                if stamp.isdigit() and time.time() - int(stamp) > STALE_AFTER_S:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def drop_all(self) -> None:
        conn = await self._admin()
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _run_in_thread(coro):
    """Run a coroutine to completion on a private event loop (for session-scoped sync fixtures,
    which pytest-asyncio cannot nest inside the async fixtures that ask for them)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _reachable(admin_url: URL) -> None:
    conn = await asyncpg.connect(_dsn(admin_url), timeout=5)
    await conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    admin_url = normalize_url(PG_URL)
    try:
        _run_in_thread(_reachable(admin_url))
    except (TimeoutError, OSError, asyncpg.PostgresError) as err:
        where = admin_url.render_as_string(hide_password=True)
        message = f"PostgreSQL is not reachable at {where} ({type(err).__name__}: {err})"
        if IN_CI:
            pytest.fail(f"{message}; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(message)
    server = PgServer(admin_url)
    _run_in_thread(server.drop_stale())
    yield server
    _run_in_thread(server.drop_all())


@pytest.fixture(scope="session")
def pg_store_url(pg_server: PgServer) -> URL:
    """One migrated PostgreSQL database for the session; `store` empties it before each test."""

    async def create() -> URL:
        url = await pg_server.create_database()
        await migrate(url)
        return url

    return _run_in_thread(create())


async def emptied_pg_store(url: str, settings: Settings) -> Store:
    """The PostgreSQL test database as a store: every model table emptied, the registry loaded."""
    s = Store.from_url(url, settings)
    async with s.engine.begin() as conn:
        tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)  # every model table
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY"))
    await load_registry(s.sessions, REGISTRY_FILE)
    return s


@pytest.fixture
def settings() -> Settings:
    return Settings().model_copy(update={"registry_file": REGISTRY_FILE, "policy_file": POLICY_FILE})


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> AsyncIterator[Store]:
    """A migrated store with the registry of config/registry.toml, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        s = await Store.open(settings, url=f"sqlite:///{tmp_path / 'data' / 'store.db'}")
    else:
        s = await emptied_pg_store(request.getfixturevalue("pg_store_url"), settings)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(params=BACKENDS)
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables at all), as a plain string."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty' / 'vangnet.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    url = await server.create_database()
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def count(store: Store):
    """`await count("inbox_message", "party_code = :p", p="sdd")`: rows in a table of the store."""

    async def _count(table: str, where: str = "", **params: object) -> int:
        async with store.engine.connect() as conn:
            sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
            return (await conn.execute(sa.text(sql), params)).scalar_one()

    return _count
