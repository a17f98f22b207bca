"""A case that lives through a payload-key rotation (issue 12), for the rotation test and the
encrypted replay fixture in encrypted/.

It opens and reaches its early signal under key `test-1` alone (clients and worker hold only
that key), then the keys rotate: a new client and worker hold `test-1` and `test-2` and encrypt
with `test-2`; they read the old payloads and take the case through help, an arrangement and
aftercare to its close. The keys are the public test keys of tests/codec-test-keys.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import TEST_KEY_FILE
from tests.workflow.driver import Case, CaseDriver, today_nl
from vangnet import codec
from vangnet.store import Store
from workers import build_worker

OLD_KEY, NEW_KEY = "test-1", "test-2"


def rotation_keyrings() -> tuple[codec.Keyring, codec.Keyring]:
    """(only the old key; both keys, the new one encrypting)."""
    both = codec.parse_keys(TEST_KEY_FILE.read_text(encoding="utf-8"), str(TEST_KEY_FILE))
    assert both.ids == [OLD_KEY, NEW_KEY], both.ids
    return codec.Keyring(both.keys[:1]), both


def client_with(client: Client, keyring: codec.Keyring) -> Client:
    """The same connection, another data converter."""
    return Client(**{**client.config(), "data_converter": codec.data_converter(keyring)})


async def run_rotated_case(env: WorkflowEnvironment, store: Store, task_queue: str,
                           tenancy_ref: str) -> WorkflowHandle:
    """Drive the case to its close across the rotation; returns its handle (new keys)."""
    old, both = rotation_keyrings()

    def driver(keyring: codec.Keyring) -> CaseDriver:
        client = client_with(env.client, keyring)
        view = SimpleNamespace(client=client, fast_forward=env.fast_forward,
                               get_current_time=env.get_current_time)
        return CaseDriver(view, store, task_queue)  # type: ignore[arg-type]

    before = driver(old)
    async with build_worker(before.env.client, store, task_queue):
        case = await before.open(tenancy_ref=tenancy_ref, arrears_since=today_nl())
        await case.send("reminder_sent", tenant_objects_to_signal=False)
        await case.advance(timedelta(days=31))  # the early signal (R2), under the old key
        assert (await case.status())["stage"] == "early_signal"

    after = driver(both)
    async with build_worker(after.env.client, store, task_queue):
        case = Case(after, after.env.client.get_workflow_handle(case.id), case.corporation,
                    case.municipality, case.tenancy_ref)
        await case.send("help_accepted", "dordrecht")
        await case.send("debt_help_started", "sdd")
        await case.send("payment_arrangement_agreed", "sdd", monthly_amount_cents=20_000, months=5)
        await case.send("payment_received", amount_cents=85_000, arrears_cents=0)
        await case.advance(timedelta(days=190))  # aftercare runs out: resolved (R10)
        status = await case.status()
        assert status["closed"] and status["outcome"] == "resolved", status
        await case.handle.result()
    return case.handle
