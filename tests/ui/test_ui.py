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

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from tests.conftest import free_port, temporal_binary
from vangnet import devserver
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
from vangnet.settings import Settings
from vangnet.store import Store
from vangnet.store.apikeys import create_key
from vangnet.temporal_client import project_data_converter
from workers import build_worker

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "img"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
LOAD_TIMEOUT_MS = 30_000  # the UI fetches its data after the page loads


@pytest.fixture(autouse=True)
def generous_expect_timeout():
    """`expect(...)` waits as long as page actions do (its own default is 5 s): 2 shared cores."""
    from playwright.async_api import expect

    expect.set_options(timeout=LOAD_TIMEOUT_MS)


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
def ui_server(tmp_path_factory) -> dict[str, Any]:
    """A dev server with the Web UI (the shared test server has none) and, as `dev.py run` has
    it, the codec server (`python -m vangnet.codec_server`) as the UI's codec endpoint, on the
    same host name as the UI so the login cookie is same-site. The case store it checks API keys
    against is `database_url`."""
    chromium_path()  # skip before starting anything
    port, ui_port, codec_port = free_port(), free_port(), free_port()
    folder = tmp_path_factory.mktemp("ui-server")
    database_url = f"sqlite+aiosqlite:///{folder}/vangnet.db"
    codec_url = f"http://localhost:{codec_port}"
    log = open(folder / "temporal.log", "wb")
    codec_log = open(folder / "codec.log", "wb")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [temporal_binary(), "server", "start-dev", *devserver.start_dev_args(
                port=port, ui_port=ui_port, log_level="error", news_flag=True,
                codec_endpoint=codec_url, search_attributes=devserver.search_attribute_flags())],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        ))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "vangnet.codec_server"], cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url, "VANGNET_CODEC_PORT": str(codec_port),
                 "VANGNET_CODEC_UI_ORIGINS": f"http://localhost:{ui_port},http://127.0.0.1:{ui_port}",
                 "VANGNET_LOG_FORMAT": "json"},
            stdout=codec_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        ))
        wait_for_port(port, procs[0])
        wait_for_port(ui_port, procs[0])
        wait_for_port(codec_port, procs[1])
        yield {"port": port, "ui_port": ui_port, "codec_url": codec_url,
               "database_url": database_url, "codec_log": folder / "codec.log"}
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        codec_log.close()


@pytest_asyncio.fixture(scope="module")
async def ui_store(ui_server) -> AsyncIterator[Store]:
    """The case store the codec server checks API keys against (and the UI test's worker uses)."""
    store = await Store.open(Settings(DATABASE_URL=ui_server["database_url"]))
    try:
        yield store
    finally:
        await store.close()


async def operator_key(store: Store, role: str = "operator", party: str | None = None) -> str:
    key, _ = await create_key(store.sessions, party, role)
    return key


async def log_in(page, codec_url: str, key: str) -> None:  # a Playwright page
    """What an operator does once per browser session: the codec server's login page."""
    from playwright.async_api import expect

    await page.goto(f"{codec_url}/login")
    await page.get_by_label("API-sleutel van een operator of auditor").fill(key)
    await page.get_by_role("button", name="Inloggen").click()
    await expect(page.get_by_text("Ingelogd als")).to_be_visible()


async def use_codec_with_credentials(page, base: str, codec_url: str) -> None:
    """The Web UI's *Codec Server* settings, as the README tells operators to set them: this
    browser's endpoint, with "Include cross-origin credentials" (so the login cookie goes along)."""
    from playwright.async_api import expect

    await page.goto(f"{base}/workflows")
    await page.get_by_role("button", name="Codec Server").first.click()
    await page.get_by_test_id("use-local-endpoint-input").click()
    await page.locator("#data-encoder-endpoint-input").fill(codec_url)
    await page.get_by_test_id("data-encoder-include-credentials").click()
    await expect(page.get_by_test_id("data-encoder-cross-origin-credentials")).to_be_visible()
    await page.get_by_role("button", name="Apply").click()


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


@pytest_asyncio.fixture(scope="module")
async def crisis_case(ui_server, ui_store) -> AsyncIterator[str]:
    """Three cases in crisis and one that is not, on the UI server, with the worker still running
    (the current details come from a live worker). Yields the first case's id. Their payloads
    are encrypted (the project's data converter, the test keys)."""
    client = await Client.connect(f"127.0.0.1:{ui_server['port']}",
                                  data_converter=project_data_converter())
    store = ui_store  # the codec server's store: the test's API keys are in it
    task_queue = f"ui-{uuid.uuid4().hex[:8]}"
    scenarios = [
        to_crisis("poort6", "gorinchem", "T-2024-0117"),
        to_crisis("trivire", "dordrecht", "TR-88213"),
        to_crisis("lek-en-waard-wonen", "molenlanden", "LW-4410"),
        Scenario("arrears", "woonbron", "dordrecht", "WB-31007", [
            send("arrears_reported", arrears_cents=90_000, monthly_rent_cents=90_000,
                 arrears_since=InDays(-10))]),
    ]
    async with build_worker(client, store, task_queue):
        skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))
        results = await run_all(skipper, scenarios, task_queue=task_queue,
                                region=Region.from_registry(), concurrency=len(scenarios),
                                settle=True)
        for scenario, result in zip(scenarios, results, strict=False):
            assert isinstance(result, RunResult), result
            await wait_settled(result.handle)
            stage = (await result.handle.query("status"))["stage"]
            assert stage == scenario.name, (scenario.case_id, stage)
        yield scenarios[0].case_id


async def test_a_case_in_crisis_reads_well_in_the_web_ui(ui_server, crisis_case, ui_store, tmp_path):
    from playwright.async_api import async_playwright, expect

    # localhost, as dev.py prints it: the codec server's login cookie is same-site with the UI
    base = f"http://localhost:{ui_server['ui_port']}/namespaces/default"
    query = urllib.parse.quote('CaseStage = "crisis"')
    shots = {"list": tmp_path / "crisis-list.png", "case": tmp_path / "case-in-crisis.png"}
    key = await operator_key(ui_store)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(LOAD_TIMEOUT_MS)
            # `expect` has its own timeout (5 s by default), which a loaded machine outruns.
            expect.set_options(timeout=LOAD_TIMEOUT_MS)
            # The summaries and details are encrypted payloads: an operator reads them logged in
            # to the codec server (README, "Decrypted payloads in the Web UI").
            await log_in(page, ui_server["codec_url"], key)
            await use_codec_with_credentials(page, base, ui_server["codec_url"])
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


async def run_query(page, name: str) -> str:  # a Playwright page
    """The Queries tab: pick a query by name, run it, return the result as the UI shows it."""
    from playwright.async_api import expect

    await page.get_by_role("tab", name="Queries").click()
    await page.get_by_role("button").filter(
        has=page.get_by_role("textbox", name="Query Type")).click()
    await page.get_by_role("option", name=name, exact=True).click()
    await page.get_by_role("button", name="Run Query").click()
    result = page.get_by_role("textbox", name="Query Result")
    await expect(result).not_to_be_empty()
    return await result.inner_text()


async def test_the_web_ui_decrypts_a_case_only_for_a_logged_in_operator_or_auditor(
        ui_server, crisis_case, ui_store, tmp_path):
    """Done-when of issue 12: through the codec server, with a valid login, the Web UI shows the
    case decoded (its input, the `status` and `timeline` queries, the current details); the same
    page without a valid login (none, a party's key, a revoked key) shows the payloads as stored,
    encrypted. The codec server logs who decoded which case, by key id and case id only."""
    from playwright.async_api import async_playwright, expect

    from vangnet.store.apikeys import revoke_key

    base = f"http://localhost:{ui_server['ui_port']}/namespaces/default"
    case_page = f"{base}/workflows/{crisis_case}"
    auditor = await operator_key(ui_store, "auditor")
    party = await operator_key(ui_store, "party", "poort6")
    log_start = len(ui_server["codec_log"].read_text())

    async def shows_encrypted(page) -> None:
        await page.goto(case_page)
        # the UI tried the codec server and says so; the input is the ciphertext as stored
        await expect(page.get_by_role("alert").filter(
            has_text="Codec Server could not connect")).to_be_visible()
        await expect(page.get_by_text('"tenancy_ref"')).to_have_count(0)
        await expect(page.get_by_text("T-2024-0117").first).to_be_visible()  # the workflow id
        await page.get_by_role("tab", name="Event History").click()
        await expect(page.get_by_text("Activity Task Completed").first).to_be_visible()
        await expect(page.get_by_text('{"action":')).to_have_count(0)
        await page.get_by_text("User Metadata", exact=True).click()
        await expect(page.get_by_text("No summary available")).to_be_visible()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(LOAD_TIMEOUT_MS)
            page = await context.new_page()
            await use_codec_with_credentials(page, base, ui_server["codec_url"])

            # 1. Not logged in: the codec server answers 401, the UI shows what is stored.
            await shows_encrypted(page)
            await page.screenshot(path=tmp_path / "not-logged-in.png", full_page=True)

            # 2. A party's key does not log in (operators and auditors only).
            await page.goto(f"{ui_server['codec_url']}/login")
            await page.get_by_label("API-sleutel van een operator of auditor").fill(party)
            await page.get_by_role("button", name="Inloggen").click()
            await expect(page.get_by_text("Alleen sleutels van een operator of auditor")).to_be_visible()
            await shows_encrypted(page)

            # 3. An auditor's key: the same page, decoded.
            await log_in(page, ui_server["codec_url"], auditor)
            await page.goto(case_page)
            await expect(page.get_by_text('"tenancy_ref": "T-2024-0117"')).to_be_visible()
            status = await run_query(page, "status")
            assert '"stage": "crisis"' in status and '"case_id": "case-poort6-T-2024-0117"' in status
            timeline = await run_query(page, "timeline")
            # (the result editor renders the lines in view: the timeline's first entries)
            assert '"category": "event"' in timeline and '"kind": "arrears_reported"' in timeline
            await page.get_by_role("tab", name="Event History").click()
            await expect(page.get_by_text('{"action":"crisis_protocol_invoked"').first).to_be_visible()
            await page.get_by_text("User Metadata", exact=True).click()
            current = page.frame_locator("iframe").nth(2)
            await expect(current.locator(
                "strong", has_text="crisis (ontruiming aangezegd)")).to_be_visible()
            await page.screenshot(path=tmp_path / "logged-in.png", full_page=True)

            # 4. The key revoked: its session ends at the next request.
            await revoke_key(ui_store.sessions, await key_id(ui_store, "auditor"))
            await shows_encrypted(page)
        finally:
            await browser.close()

    log_text = ui_server["codec_log"].read_text()[log_start:]
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    decoded = [entry for entry in lines if entry.get("event") == "codec_decoded"]
    assert decoded, "the codec server logged no decoding"
    assert {(e["key_id"], e["role"], e["via"]) for e in decoded} == {
        (await key_id(ui_store, "auditor"), "auditor", "session")}
    assert any(e["cases"] == [crisis_case] for e in decoded)
    refused = [e for e in lines if e.get("event") in ("codec_refused", "codec_login_refused")]
    assert {e["code"] for e in refused} >= {"login_required", "forbidden", "invalid_key"}
    # who and which case, never what: no payload content (and no key) in the codec server's log
    assert "tenancy_ref" not in log_text and "eviction_announced" not in log_text
    assert auditor not in log_text and party not in log_text


async def key_id(store: Store, role: str) -> int:
    from vangnet.store.apikeys import list_keys

    return max(k.id for k in await list_keys(store.sessions) if k.role == role)
