"""The privacy tests run the intake (tests/api/conftest.py) on the real worker and dev server, with
the case store on SQLite and on PostgreSQL (the raw rows of both are searched)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.conftest import api, service  # noqa: F401 - fixtures
from tests.store.conftest import emptied_pg_store, pg_server, pg_store_url  # noqa: F401 - fixtures
from vangnet.settings import Settings
from vangnet.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, sqlite_settings: Settings) -> AsyncIterator[Store]:
    """A migrated case store with the registry, on SQLite (tmp_path) or PostgreSQL (emptied)."""
    if request.param == "sqlite":
        s = await Store.open(sqlite_settings)
    else:
        s = await emptied_pg_store(request.getfixturevalue("pg_store_url"), sqlite_settings)
    try:
        yield s
    finally:
        await s.close()
