"""The case store: party registry, routes, inboxes, case projection and API keys.

SQLAlchemy (async) over SQLite (embedded default) or PostgreSQL (`DATABASE_URL`); the schema comes
from the Alembic migrations in `migrations/`. A process builds one `Store` (`await Store.open()`)
and hands it to whatever needs the database.
"""

from vangnet.store.db import (
    SessionFactory,
    make_engine,
    make_session_factory,
    migrate,
    normalize_url,
)
from vangnet.store.store import Store

__all__ = ["SessionFactory", "Store", "make_engine", "make_session_factory", "migrate", "normalize_url"]
