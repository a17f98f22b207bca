"""A worker process killed in the middle of a case loses nothing and sends nothing twice.

The first worker (`python -m workers`, a real process) dies right after the crisis protocol's
message is committed and before the activity reports back (a failpoint in activities/actions.py).
A second worker takes over: the activity is retried, finds its message already there, and the
case goes on to the end with every message in every inbox exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from activities.actions import CRASH_AFTER_ENV, CRASH_EXIT_CODE
from tests.workflow.driver import CaseDriver
from vangnet.settings import Settings
from vangnet.store import Store

ROOT = Path(__file__).resolve().parents[2]


def start_worker(temporal_env, database_url: str, task_queue: str, **extra_env: str):
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal_env.client.namespace,
        "DATABASE_URL": database_url,
        "VANGNET_TASK_QUEUE": task_queue,
        "VANGNET_LOG_FORMAT": "json",
        **extra_env,
    }
    return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest_asyncio.fixture
async def crash_store(tmp_path):
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/crash.db")
    store = await Store.open(settings)
    yield store
    await store.close()


async def wait_exit(process: subprocess.Popen, timeout: float) -> int:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(None, process.wait), timeout)


async def test_killed_worker_loses_nothing_and_sends_nothing_twice(temporal_env, crash_store,
                                                                  task_queue):
    url = str(crash_store.engine.url.render_as_string(hide_password=False))
    first = start_worker(temporal_env, url, task_queue,
                         **{CRASH_AFTER_ENV: "crisis_protocol_invoked"})
    second = None
    try:
        cases = CaseDriver(temporal_env, crash_store, task_queue)
        case = await cases.open(arrears_cents=170_000, monthly_rent_cents=85_000,
                                arrears_since=date.today() - timedelta(days=10))
        # Two months by size: MPZO already notified; the eviction brings the crisis protocol.
        await case.handle.signal("eviction_announced", {
            "event_id": "evict-1", "source": "woonbron",
            "eviction_date": (date.today() + timedelta(days=30)).isoformat()})

        assert await wait_exit(first, 60) == CRASH_EXIT_CODE, first.stderr.read().decode()[-2000:]
        sent = [m.action for m in await cases.inbox("sdd", case.id)]
        assert sent == ["crisis_protocol_invoked"], "the message was committed before the crash"

        second = start_worker(temporal_env, url, task_queue)
        # The crashed activity is retried once its 10 s start-to-close timeout has passed.
        for _ in range(600):
            timeline = await case.timeline()
            crisis = [t for t in timeline if t["kind"] == "crisis_protocol_invoked"]
            if crisis and "delivered_to" in crisis[0]["detail"]:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the crisis protocol never completed after the restart")
        await case.settled()

        await case.send("payment_received", amount_cents=170_000, arrears_cents=0)
        await case.advance(timedelta(days=200))
        result = await case.handle.result()
        assert result["outcome"] == "resolved"

        actions = [(t["kind"], t["detail"].get("reason"))
                   for t in await case.timeline() if t["category"] == "action"]
        assert actions == [
            ("tenant_notice_sent", None),
            ("mpzo_notified", "arrears_months"),
            ("crisis_protocol_invoked", None),
            ("aftercare_started", None),
            ("aftercare_completed", None),
            ("case_closed", "resolved"),
        ]
        per_party: dict[str, collections.Counter] = {}
        for party in ("woonbron", "mpzo", "sdd", "sociale-wijkteams-dordrecht"):
            per_party[party] = collections.Counter(
                m.action for m in await cases.inbox(party, case.id))
        assert per_party == {
            "woonbron": {"tenant_notice_sent": 1, "case_closed": 1},
            "mpzo": {"mpzo_notified": 1, "case_closed": 1},
            "sdd": {"crisis_protocol_invoked": 1, "case_closed": 1},
            # A9(b): told of spoor 2 with the MPZO's first report
            "sociale-wijkteams-dordrecht": {"mpzo_notified": 1, "aftercare_started": 1,
                                            "aftercare_completed": 1, "case_closed": 1},
        }
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                await wait_exit(process, 30)
