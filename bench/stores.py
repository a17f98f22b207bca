"""The case store a benchmark's vangnet worker(s) use (issue 16): the embedded SQLite file, or a
scratch PostgreSQL database made for the run and dropped after it (production's shape,
docker-compose.yml).

    --database sqlite      (default) a SQLite file in the run's work directory, as `dev.py run`
    --database postgres    CREATE DATABASE vangnet_bench_<pid>_<n> on VANGNET_BENCH_POSTGRES
                           (default postgresql://postgres@127.0.0.1:5432/postgres), DROP after

The benchmark reads completion, rows and bytes through `StoreDB.query`, the same SQL on both (the
timestamps come back as ISO text from SQLite and as datetimes from PostgreSQL: `epoch()`). Each
PostgreSQL backend serving the database is a process of its own on the same cores; `backend_pids`
lets the CPU meter count it beside the worker.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("VANGNET_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = ("sqlite", "postgres")
_seq = itertools.count()


def epoch(value: Any) -> float | None:
    """A case-store timestamp as seconds since the epoch (naive values are UTC, as stored)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class _Pg:
    """One asyncpg connection driven from synchronous code (its own loop in a thread)."""

    def __init__(self, dsn: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conn = self._run(asyncpg.connect(dsn))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def fetch(self, sql: str, *params: Any) -> list[tuple]:
        return [tuple(r) for r in self._run(self.conn.fetch(sql, *params))]

    def execute(self, sql: str) -> None:
        self._run(self.conn.execute(sql))

    def close(self) -> None:
        try:
            self._run(self.conn.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


class StoreDB:
    def __init__(self, kind: str, url: str, path: Path | None = None, name: str | None = None) -> None:
        self.kind, self.url, self.path, self.name = kind, url, path, name
        self._pg: _Pg | None = None

    @classmethod
    def create(cls, kind: str, workdir: Path, label: str) -> StoreDB:
        if kind == "sqlite":
            path = workdir / f"vangnet-{label}.db"
            return cls(kind, f"sqlite+aiosqlite:///{path}", path=path)
        if kind != "postgres":
            raise ValueError(kind)
        name = f"vangnet_bench_{os.getpid()}_{next(_seq)}"
        admin = _Pg(PG_ADMIN)
        try:
            admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            admin.close()
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return cls(kind, f"{base}/{name}", name=name)

    def _conn(self) -> _Pg:
        if self._pg is None:
            base = PG_ADMIN.rsplit("/", 1)[0]
            self._pg = _Pg(f"{base}/{self.name}")
        return self._pg

    def query(self, sql: str) -> list[tuple]:
        if self.kind == "sqlite":
            assert self.path is not None
            con = sqlite3.connect(str(self.path), timeout=30)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        return self._conn().fetch(sql)

    def scalar(self, sql: str) -> Any:
        return self.query(sql)[0][0]

    def tables(self) -> list[str]:
        if self.kind == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type='table' "
                              "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'")
        else:
            rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname='public' "
                              "AND tablename != 'alembic_version'")
        return sorted(r[0] for r in rows)

    def table_rows(self) -> dict[str, int]:
        return {t: int(self.scalar(f'SELECT count(*) FROM "{t}"')) for t in self.tables()}

    def used_bytes(self) -> int:
        """Bytes the case store's tables take: live SQLite pages (WAL included), or PostgreSQL's
        heap + indexes + TOAST of the public tables (after VACUUM-free inserts: what a fresh
        store of these cases takes)."""
        if self.kind == "sqlite":
            page_size = self.scalar("PRAGMA page_size")
            return (self.scalar("PRAGMA page_count") - self.scalar("PRAGMA freelist_count")) * page_size
        return int(self.scalar("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname = 'public' AND c.relkind = 'r'"))

    def backend_pids(self) -> list[int]:
        """The PostgreSQL backends serving this database now (none for SQLite)."""
        if self.kind != "postgres":
            return []
        return [int(r[0]) for r in self._conn().fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid != pg_backend_pid()", self.name)]

    def drop(self) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        if self.kind == "postgres":
            admin = _Pg(PG_ADMIN)
            try:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                admin.close()
