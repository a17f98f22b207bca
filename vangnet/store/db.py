"""Engines, sessions and migrations of the case store.

`DATABASE_URL` is a SQLAlchemy URL; the plain forms people paste work too:

- `postgresql://…` and `postgres://…` become `postgresql+asyncpg://…` (`sslmode=` becomes asyncpg's `ssl=`);
- `sqlite:///path` becomes `sqlite+aiosqlite:///path`; the file's folder is created; every connection
  runs in WAL mode with a busy timeout, so a worker and the intake can share the file.

The schema comes only from the Alembic migrations (`migrate()`), never from `create_all`.
"""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

STORE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = STORE_DIR / "alembic.ini"
MIGRATIONS_DIR = STORE_DIR / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Any fixed 64-bit number: serialises concurrent `migrate()` calls on one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x76616E676E6574  # "vangnet"

SessionFactory = async_sessionmaker[AsyncSession]


def normalize_url(url: str | URL) -> URL:
    """The async SQLAlchemy URL for a `DATABASE_URL` (see the module docstring)."""
    u = make_url(url) if isinstance(url, str) else url
    driver = u.drivername
    if driver in ("postgres", "postgresql"):
        u = u.set(drivername="postgresql+asyncpg")
        if "sslmode" in u.query:
            query = dict(u.query)
            query["ssl"] = query.pop("sslmode")
            u = u.set(query=query)
    elif driver == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u


def _is_sqlite_memory(u: URL) -> bool:
    return u.get_backend_name() == "sqlite" and (
        not u.database or u.database == ":memory:" or u.query.get("mode") == "memory"
    )


def make_engine(url: str | URL, *, echo: bool = False, timeout: float | None = None,
                **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` (normalised by `normalize_url`).

    `timeout` (seconds) bounds how long a statement waits for the database: SQLite's busy
    timeout (a locked file), PostgreSQL's connect and pool timeouts (an unreachable server).
    Default: SQLite waits SQLITE_BUSY_TIMEOUT_MS, PostgreSQL the drivers' own defaults. The
    intake sets a short one, so a client hears 503 at once rather than after a long wait."""
    u = normalize_url(url)
    # Statement parameters (key hashes, message payloads) never appear in an error's text, which
    # is logged (RULES §12 I5).
    kwargs.setdefault("hide_parameters", True)
    if u.get_backend_name() == "sqlite":
        if _is_sqlite_memory(u):
            # One shared connection, or every connection would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)
            kwargs.setdefault("connect_args", {"check_same_thread": False})
        else:
            Path(u.database or "").expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(u, echo=echo, **kwargs)
        busy_ms = int(timeout * 1000) if timeout is not None else SQLITE_BUSY_TIMEOUT_MS
        event.listen(engine.sync_engine, "connect", partial(_sqlite_on_connect, busy_ms))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if timeout is not None:
        kwargs.setdefault("pool_timeout", timeout)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", timeout)
    return create_async_engine(u, echo=echo, **kwargs)


def _sqlite_on_connect(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        _sqlite_use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (once per file; later connections find it so).

    Switching the journal mode needs an exclusive lock, and SQLite answers "database is locked"
    to it at once, without its busy handler, when another connection is switching at the same
    moment (a worker and the intake starting together on a fresh file). So: read the mode
    first, and retry the switch with a short backoff for up to the busy timeout.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)  # runs on the driver's own thread, never on the event loop
        delay = min(delay * 2, 0.2)


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions whose objects stay readable after commit (they are handed to callers)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session_or_conn: AsyncSession | Connection, table: Any) -> Any:
    """`INSERT` of the session's dialect, which has `on_conflict_do_nothing/do_update`."""
    bind: Any = session_or_conn.bind  # type: ignore[union-attr]  # an AsyncSession's or an AsyncConnection's
    name = bind.dialect.name
    if name == "postgresql":
        return pg_dialect.insert(table)
    if name == "sqlite":
        return sqlite_dialect.insert(table)
    raise NotImplementedError(f"the case store supports SQLite and PostgreSQL, not {name}")


# ---------------------------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------------------------


def alembic_config() -> Any:
    """Alembic configuration that works from any working directory."""
    from alembic.config import Config

    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _sqlite_begin_immediate(engine: AsyncEngine) -> None:
    """Take SQLite's write lock at BEGIN, so two processes migrating at once run one after the
    other (the second waits up to the busy timeout, then finds nothing to do)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


async def migrate(target: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` (default: the newest), in one transaction.

    `target` is a database URL (an engine is made and disposed) or an existing engine (needed for
    an in-memory SQLite database). Safe to call from several processes at once: PostgreSQL takes
    an advisory lock, SQLite its write lock. Applying it again is a no-op.
    """
    own_engine = not isinstance(target, AsyncEngine)
    engine = target if isinstance(target, AsyncEngine) else make_engine(target)
    if own_engine and engine.dialect.name == "sqlite":
        _sqlite_begin_immediate(engine)
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            await conn.run_sync(_upgrade, revision)
    finally:
        if own_engine:
            await engine.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    def _read(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


# ---------------------------------------------------------------------------------------------
# The store a process builds once
# ---------------------------------------------------------------------------------------------


__all__: list[str] = [
    "SessionFactory",
    "normalize_url",
    "make_engine",
    "make_session_factory",
    "dialect_insert",
    "migrate",
    "current_revision",
    "alembic_config",
]
