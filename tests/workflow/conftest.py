"""Workflow fixtures: the case driver (`store` and `worker` come from tests/conftest.py)."""

from __future__ import annotations

import pytest_asyncio

from tests.workflow.driver import CaseDriver


@pytest_asyncio.fixture
async def cases(temporal_env, store, task_queue, worker) -> CaseDriver:
    return CaseDriver(temporal_env, store, task_queue)
