"""The case in the Temporal Web UI, in a real (headless) browser.

A dev server with its UI on free ports, the real worker, a case driven to crisis; Chromium opens
the workflow list filtered on CaseStage = "crisis", finds the case, opens it and reads the static
summary, the static details and the current details (Markdown kept up to date by the case).

Needs Debian's chromium (/usr/bin/chromium, or VANGNET_CHROMIUM) and the `playwright` package
(never `playwright install`). Skipped when either is missing, except in CI (CI=true), where that is a failure.
Screenshots go to the test's tmp folder; VANGNET_UPDATE_SCREENSHOTS=1 also writes the README's
images in docs/img/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing._timeskipping import TimeSkipper, TimeSkippingConfig

from tests.conftest import temporal_binary
from vangnet.scenarios import (
    InDays,
    Region,
    RunResult,
    Scenario,
    run_all,
    send,
    wait,
    wait_settled,
)
from vangnet.search_attributes import dev_server_flags
from vangnet.store import Store
from workers import build_worker

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "img"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
LOAD_TIMEOUT_MS = 30_000  # the UI fetches its data after the page loads


def chromium_path() -> str:
    """The system Chromium and Playwright, or a skip (a failure in CI)."""
    path = os.environ.get("VANGNET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    missing = []
    if not Path(path).exists():
        missing.append("chromium (apt-get install -y chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the server accepts connections on `port` (or has died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        try:  # a short wait that also notices the server exiting
            code = proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"temporal server exited with {code}")
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s")


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory) -> dict[str, int]:
    """A dev server with the Web UI (the shared test server has none)."""
    chromium_path()  # skip before starting anything
    port, ui_port = free_port(), free_port()
    log = open(tmp_path_factory.mktemp("ui-server") / "temporal.log", "wb")
    proc = subprocess.Popen(
        [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(ui_port), "--log-level", "error", "--ui-disable-news-fetch",
         "--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true",
         *dev_server_flags()],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        wait_for_port(ui_port, proc)
        yield {"port": port, "ui_port": ui_port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def to_crisis(corporation: str, municipality: str, ref: str) -> Scenario:
    return Scenario("crisis", corporation, municipality, ref, [
        send("arrears_reported", arrears_cents=180_000, monthly_rent_cents=90_000,
             arrears_since=InDays(-20)),
        wait(days=1), send("reminder_sent", tenant_objects_to_signal=False),
        wait(days=10),
        wait(days=20), send("summons_served", hearing_date=InDays(28)),
        wait(days=30), send("judgment_given", eviction_granted=True),
        wait(days=10), send("eviction_announced", eviction_date=InDays(25)),
    ])


@pytest_asyncio.fixture
async def crisis_case(ui_server, sqlite_settings) -> AsyncIterator[str]:
    """Three cases in crisis and one that is not, on the UI server, with the worker still running
    (the current details come from a live worker). Yields the first case's id."""
    client = await Client.connect(f"127.0.0.1:{ui_server['port']}",
                                  data_converter=pydantic_data_converter)
    store = await Store.open(sqlite_settings)
    task_queue = f"ui-{uuid.uuid4().hex[:8]}"
    scenarios = [
        to_crisis("poort6", "gorinchem", "T-2024-0117"),
        to_crisis("trivire", "dordrecht", "TR-88213"),
        to_crisis("lek-en-waard-wonen", "molenlanden", "LW-4410"),
        Scenario("arrears", "woonbron", "dordrecht", "WB-31007", [
            send("arrears_reported", arrears_cents=90_000, monthly_rent_cents=90_000,
                 arrears_since=InDays(-10))]),
    ]
    try:
        async with build_worker(client, store, task_queue):
            skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))
            results = await run_all(skipper, scenarios, task_queue=task_queue,
                                    region=Region.from_registry(), concurrency=len(scenarios),
                                    settle=True)
            for scenario, result in zip(scenarios, results):
                assert isinstance(result, RunResult), result
                await wait_settled(result.handle)
                stage = (await result.handle.query("status"))["stage"]
                assert stage == scenario.name, (scenario.case_id, stage)
            yield scenarios[0].case_id
    finally:
        await store.close()


async def test_a_case_in_crisis_reads_well_in_the_web_ui(ui_server, crisis_case, tmp_path):
    from playwright.async_api import async_playwright, expect

    base = f"http://127.0.0.1:{ui_server['ui_port']}/namespaces/default"
    query = urllib.parse.quote('CaseStage = "crisis"')
    shots = {"list": tmp_path / "crisis-list.png", "case": tmp_path / "case-in-crisis.png"}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(LOAD_TIMEOUT_MS)
            expect.set_options(timeout=LOAD_TIMEOUT_MS)  # (assertions have their own 5 s default)
            await page.goto(f"{base}/workflows?query={query}")
            link = page.locator(f"a[href*='/workflows/{crisis_case}/']").first
            await expect(link).to_be_visible()
            # the filter holds: the other crisis cases are listed, the case in arrears is not
            await expect(page.get_by_text("case-trivire-TR-88213").first).to_be_visible()
            await expect(page.get_by_text("case-lek-en-waard-wonen-LW-4410").first).to_be_visible()
            await expect(page.get_by_text("case-woonbron-WB-31007")).to_have_count(0)
            await page.screenshot(path=shots["list"])
            await link.click()
            await expect(page.get_by_text(crisis_case, exact=True).first).to_be_visible()
            await page.get_by_text("User Metadata", exact=True).click()
            # Summary, details and current details: Markdown, each rendered in its own iframe.
            summary, details, current = (page.frame_locator("iframe").nth(i) for i in range(3))
            await expect(summary.get_by_text(
                "poort6 · gorinchem · contract T-2024-0117")).to_be_visible()
            await expect(details.locator(
                "strong", has_text="Werkafspraken preventie huisuitzetting")).to_be_visible()
            # the case's own Markdown, kept up to date: bold stage, the next deadline in Dutch
            await expect(current.locator(
                "strong", has_text="crisis (ontruiming aangezegd)")).to_be_visible()
            await expect(current.get_by_text("Termijn crisisoverleg: 3 werkdagen",
                                             exact=False)).to_be_visible()
            await page.screenshot(path=shots["case"], full_page=True)
        finally:
            await browser.close()
    for shot in shots.values():
        assert shot.stat().st_size > 10_000
    if os.environ.get("VANGNET_UPDATE_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        for shot in shots.values():
            shutil.copyfile(shot, IMAGES / shot.name)
