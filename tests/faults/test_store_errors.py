"""Regression (issue 15, found by the fault soak): with PostgreSQL refusing connections, a
connection that broke under a rollback reached the intake as a plain SQLAlchemy `DBAPIError`
around the driver's own error; `is_database_error` did not know it, so the intake answered 500
where it owes 503 `database_unavailable` (starter/service/errors.py)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import sqlalchemy.exc as sa_exc

from starter.api import _LastResort
from starter.service.errors import is_database_error


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("ROLLBACK", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize("orig", [
    ConnectionResetError(104, "Connection reset by peer"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    TimeoutError(),
], ids=["reset", "asyncpg-connection-gone", "timeout"])
def test_a_broken_connection_under_a_plain_dbapi_error_is_the_database(orig):
    assert is_database_error(wrapped(orig))


def test_an_invalidated_connection_is_the_database():
    assert is_database_error(wrapped(RuntimeError("whatever the driver said"), invalidated=True))


def test_a_bug_in_a_statement_is_not():
    assert not is_database_error(wrapped(ValueError("bad parameter")))
    assert not is_database_error(sa_exc.DBAPIError("SELECT", None, None))  # type: ignore[arg-type]


async def test_the_intake_answers_503_not_500():
    async def app(scope, receive, send):  # noqa: ANN001 - a bare ASGI app that hits the error
        raise wrapped(ConnectionResetError(104, "Connection reset by peer"))

    transport = httpx.ASGITransport(app=_LastResort(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        r = await http.post("/v1/events", json={})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
