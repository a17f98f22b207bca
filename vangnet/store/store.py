"""`Store`: the engine, the session factory and the settings of one process (worker, intake),
opened once: migrated, and the registry seeded when it is empty. Its own module, so that the
database plumbing (db.py) and the registry (registry.py) need not import each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from vangnet.settings import Settings, get_settings
from vangnet.store.db import SessionFactory, _is_sqlite_memory, make_engine, make_session_factory, migrate
from vangnet.store.registry import seed_registry_if_empty


@dataclass
class Store:
    """Engine + session factory + settings, built once per process (worker, intake).

    `await Store.open()` migrates the database and seeds the registry when it is empty;
    `await store.close()` disposes the engine.
    """

    engine: AsyncEngine
    sessions: SessionFactory
    settings: Settings = field(default_factory=get_settings)

    @classmethod
    def from_url(cls, url: str | URL, settings: Settings | None = None, **engine_kwargs: Any) -> Store:
        engine = make_engine(url, **engine_kwargs)
        return cls(engine=engine, sessions=make_session_factory(engine),
                   settings=settings or get_settings())

    @classmethod
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        url: str | URL | None = None,
        run_migrations: bool = True,
        seed_registry: bool = True,
        timeout: float | None = None,
    ) -> Store:
        """Connect to `url` (default `settings.database_url`), migrate, and seed the registry from
        `settings.registry_file` if the party table is empty. `timeout`: see `make_engine`."""
        settings = settings or get_settings()
        store = cls.from_url(url or settings.database_url, settings, timeout=timeout)
        try:
            if run_migrations:
                if _is_sqlite_memory(store.engine.url):
                    await migrate(store.engine)
                else:
                    await migrate(url or settings.database_url)
            if seed_registry:
                await seed_registry_if_empty(store.sessions, settings.registry_file)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self, *, write: bool = False) -> None:
        """Raise if the database cannot be reached (for health checks). `write=True` also takes
        SQLite's write lock for a moment (and gives it back): a locked file reads fine but takes
        no writes, and only this finds that out."""
        async with self.engine.connect() as conn:
            if write and self.engine.dialect.name == "sqlite":
                # One call on the driver's thread: should this wait be cancelled, the lock is
                # still given back (a BEGIN finishing after its caller gave up would keep it).
                raw = await conn.get_raw_connection()
                assert raw.driver_connection is not None
                await raw.driver_connection.executescript("BEGIN IMMEDIATE; ROLLBACK;")
            else:
                await conn.execute(sa.text("SELECT 1"))

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["Store"]
