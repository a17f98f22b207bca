"""Engines, URLs and migrations of the case store."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from vangnet.logging import configure_logging
from vangnet.store import Store, make_engine, migrate, normalize_url
from vangnet.store.db import alembic_config, current_revision

TABLES = ("party", "route", "inbox_message", "case_record", "api_key", "intake_event", "case_timeline")

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/vangnet", "postgresql+asyncpg://u:p@db:5432/vangnet"),
        ("postgres://u:p@db/vangnet", "postgresql+asyncpg://u:p@db/vangnet"),
        ("postgres://u@db/v?sslmode=require", "postgresql+asyncpg://u@db/v?ssl=require"),
        ("postgresql+asyncpg://u@db/v", "postgresql+asyncpg://u@db/v"),
        ("sqlite:///data/vangnet.db", "sqlite+aiosqlite:///data/vangnet.db"),
        ("sqlite:////abs/vangnet.db", "sqlite+aiosqlite:////abs/vangnet.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


async def test_sqlite_engine_creates_folder_and_sets_wal_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "vangnet.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert path.parent.is_dir()
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        await engine.dispose()


async def test_migrate_applies_on_empty_db_from_any_cwd_and_is_idempotent(
    empty_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may depend on the working directory
    engine = make_engine(empty_db)
    try:
        assert await current_revision(engine) is None
        await migrate(empty_db)
        assert await current_revision(engine) == HEAD == "0006_i10"
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert set(TABLES) <= names

        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO route (corporation, municipality, ris_connected) VALUES ('c', 'm', true)"
                )
            )
        await migrate(empty_db)  # again: a no-op that keeps the data
        assert await current_revision(engine) == HEAD
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT COUNT(*) FROM route"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_concurrent_migrations_do_not_collide(empty_db: str) -> None:
    # A worker and the intake may start at the same moment against a fresh database.
    await asyncio.gather(*(migrate(empty_db) for _ in range(3)))
    engine = make_engine(empty_db)
    try:
        assert await current_revision(engine) == HEAD
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(empty_db: str) -> None:
    await migrate(empty_db)
    engine = make_engine(empty_db)

    def diff(conn: sa.Connection) -> list:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_in_memory_sqlite_store_opens_migrated_and_seeded(settings) -> None:
    store = await Store.open(settings, url="sqlite://")
    try:
        await store.ping()
        async with store.engine.connect() as conn:
            n = (await conn.execute(sa.text("SELECT COUNT(*) FROM party"))).scalar()
        assert n == 33  # 9 municipalities, 9 social teams, 2 social services, 1 MPZO, 11 corporations, the adviesgroep
    finally:
        await store.close()


def test_configure_logging_json_renders_structlog_and_stdlib(capsys: pytest.CaptureFixture[str]) -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("info", "json")
        log = structlog.get_logger("vangnet.test")
        log.info("inbox_message_delivered", case_id="case-rhiant-1", message_id=7)
        log.debug("hidden")
        logging.getLogger("temporalio.test").warning("from stdlib")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        structlog.configure(**saved)
    assert [x["event"] for x in lines] == ["inbox_message_delivered", "from stdlib"]
    assert lines[0]["case_id"] == "case-rhiant-1" and lines[0]["message_id"] == 7
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1]["level"] == "warning" and lines[1]["logger"] == "temporalio.test"


def test_configure_logging_rejects_unknown_format_and_level() -> None:
    with pytest.raises(ValueError, match="format"):
        configure_logging("INFO", "xml")
    with pytest.raises(ValueError, match="level"):
        configure_logging("LOUD", "console")
