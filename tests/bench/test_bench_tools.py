"""The benchmark tools of issue 16, cheaply: the case store on SQLite and PostgreSQL
(bench/stores.py), CPU groups, the server's action counter (bench/capacity.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from bench import _harness as h
from bench import stores
from bench.capacity import parse_actions
from vangnet.settings import Settings
from vangnet.store import Store


def test_epoch_reads_both_backends_timestamps() -> None:
    naive = datetime(2026, 12, 1, 8, 0, 0)
    aware = naive.replace(tzinfo=UTC)
    assert stores.epoch(naive.isoformat()) == stores.epoch(aware) == aware.timestamp()
    assert stores.epoch(None) is None


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_store_db_on_both_backends(kind: str, tmp_path, monkeypatch) -> None:
    if kind == "postgres":
        url = os.environ.get("VANGNET_TEST_POSTGRES_URL",
                             "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
        monkeypatch.setattr(stores, "PG_ADMIN", url.replace("+asyncpg", ""))
    db = stores.StoreDB.create(kind, tmp_path, "t")
    try:
        store = await Store.open(Settings(DATABASE_URL=db.url))  # migrates, seeds the registry
        try:
            rows = db.table_rows()
            assert rows["party"] > 0 and rows["inbox_message"] == 0
            assert db.used_bytes() > 0
            assert db.scalar("SELECT count(*) FROM case_record") == 0
            if kind == "postgres":
                assert db.backend_pids()  # the store's pooled connection
                meter = h.CpuMeter(postgres=db.backend_pids).start()
                meter.stop()
                assert meter.used["postgres"] >= 0
        finally:
            await store.close()
    finally:
        db.drop()
    if kind == "postgres":
        admin = stores._Pg(stores.PG_ADMIN)
        try:
            assert not admin.fetch("SELECT 1 FROM pg_database WHERE datname = $1", db.name)
        finally:
            admin.close()


def test_cpu_meter_adds_up_a_group_of_processes() -> None:
    meter = h.CpuMeter(group=[os.getpid(), os.getpid()], gone=lambda: [2**22 + 7]).start()
    sum(i * i for i in range(200_000))
    used = meter.stop()
    assert used["group"] >= 0 and used["gone"] == 0  # a vanished pid counts nothing


def test_parse_actions_keeps_the_kind_of_action() -> None:
    page = "\n".join([
        "# TYPE action counter",
        'action{namespace="default",operation="StartWorkflowExecution",service_name="frontend"} 3',
        'action{namespace="default",operation="SignalWorkflowExecution",service_name="frontend"} 2',
        'action_other{namespace="default"} 99',
    ])
    assert parse_actions(page) == {"operation=StartWorkflowExecution": 3.0,
                                   "operation=SignalWorkflowExecution": 2.0}
