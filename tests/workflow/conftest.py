"""Workflow fixtures: a store and a running worker on a unique task queue per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.workflow.driver import CaseDriver
from vangnet.store import Store
from workers import build_worker


@pytest_asyncio.fixture
async def store(sqlite_settings) -> AsyncIterator[Store]:
    store = await Store.open(sqlite_settings)
    yield store
    await store.close()


@pytest_asyncio.fixture
async def worker(temporal_env, store, task_queue):
    async with build_worker(temporal_env.client, store, task_queue) as w:
        yield w


@pytest_asyncio.fixture
async def cases(temporal_env, store, task_queue, worker) -> CaseDriver:
    return CaseDriver(temporal_env, store, task_queue)
