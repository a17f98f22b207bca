"""Alembic environment of the case store.

`vangnet.store.db.migrate()` passes an open connection in `config.attributes["connection"]` and owns
the transaction. Run as the `alembic` command, this file connects to `DATABASE_URL` itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import vangnet.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )


def run_with_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    from vangnet.settings import get_settings
    from vangnet.store.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_with_connection)
            await conn.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    from vangnet.settings import get_settings
    from vangnet.store.db import normalize_url

    url = normalize_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    run_with_connection(connection)
else:
    asyncio.run(run_online())
