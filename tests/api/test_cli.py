"""`python -m starter …` as people run it: real processes against the test's dev server, case store
and worker (the same service layer as the HTTP API)."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from tests.api.conftest import new_ref
from vangnet.settings import ROOT


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(temporal_env, store, task_queue, worker):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=store.engine.url.render_as_string(hide_password=False),
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=temporal_env.client.namespace,
        VANGNET_TASK_QUEUE=task_queue,
        COLUMNS="200",
    )
    env.pop("VANGNET_API_KEY", None)
    env.pop("VANGNET_LOG_LEVEL", None)

    async def run(*args: str) -> Run:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "starter", *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        return Run(proc.returncode, out.decode(), err.decode())

    return run


def one_line_error(r: Run) -> str:
    assert r.code != 0
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error: ")
    return lines[0]


async def test_keys_create_list_revoke(cli, api):
    created = r = await cli("keys", "create", "woonbron")
    assert r.code == 0, r.err
    key = r.out.strip().splitlines()[-1]
    assert key.startswith("vn_") and " " not in key
    assert "shown only this once" in r.out
    ok = await api.http.get("/v1/inbox", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200

    operator, listing, unknown = await asyncio.gather(
        cli("keys", "create", "operator"), cli("keys", "list"), cli("keys", "create", "vestia"))
    assert operator.code == 0 and operator.out.strip().splitlines()[-1].startswith("vn_")
    assert listing.code == 0 and "woonbron" in listing.out and key not in listing.out
    assert one_line_error(unknown) == "error: 'vestia' is not a party in the registry [party] (422 unknown_party)"

    key_id = created.out.split("Created API key ")[1].split()[0]
    r = await cli("keys", "revoke", key_id)
    assert r.code == 0 and "revoked API key" in r.out
    refused = await api.http.get("/v1/inbox", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401


async def test_send_status_timeline_inbox_and_refusals(cli, api):
    ref = new_ref()
    case_id = f"case-woonbron-{ref}"
    since = (date.today() - timedelta(days=5)).isoformat()
    r = await cli("send", "arrears_reported", "--party", "woonbron", "--tenancy", ref,
                  "--municipality", "dordrecht", "--event-id", "cli-1",
                  "arrears_cents=85000", "monthly_rent_cents=85000", f"arrears_since={since}")
    assert r.code == 0, r.err
    assert r.out.strip() == f"accepted: arrears_reported (event cli-1) for case {case_id}"
    await api.settled(case_id, "cli-1")

    inbox, status, timeline, foreign, malformed = await asyncio.gather(
        cli("inbox", "list", "--party", "woonbron"),
        cli("status", case_id, "--party", "woonbron"),
        cli("timeline", case_id, "--json"),
        cli("send", "payment_received", "--party", "poort6", "--corporation", "woonbron", "--tenancy", ref,
            "--municipality", "dordrecht", "amount_cents=100", "arrears_cents=84900"),
        cli("send", "arrears_reported", "--party", "woonbron", "--tenancy", ref,
            "--municipality", "dordrecht", "arrears_cents=-1"),
    )
    assert inbox.code == 0 and "tenant_notice_sent" in inbox.out and case_id in inbox.out
    assert status.code == 0 and "arrears" in status.out and "spoor_1" in status.out
    assert timeline.code == 0 and '"kind": "tenant_notice_sent"' in timeline.out
    assert one_line_error(foreign) == (
        "error: poort6 may send events only for its own tenancies, not for corporation 'woonbron' (403 forbidden)")
    error = one_line_error(malformed)
    assert "[arrears_cents]" in error and "(422 invalid_event)" in error


async def test_import_csv_with_progress_summary_and_rejected_rows(cli, tmp_path, api):
    ref_a, ref_b = new_ref(), new_ref()
    since = (date.today() - timedelta(days=5)).isoformat()
    header = ["type", "tenancy_ref", "corporation", "municipality", "event_id", "arrears_cents",
              "monthly_rent_cents", "arrears_since", "tenant_objects_to_signal", "amount_cents"]
    rows = [
        ["arrears_reported", ref_a, "woonbron", "dordrecht", "m1", "85000", "85000", since, "", ""],
        ["reminder_sent", ref_a, "woonbron", "dordrecht", "m2", "", "", "", "false", ""],
        ["arrears_reported", ref_b, "woonbron", "dordrecht", "m3", "-3", "85000", since, "", ""],
        ["payment_received", new_ref(), "woonbron", "dordrecht", "m4", "0", "", "", "", "100"],
        ["arrears_reported", ref_b, "poort6", "dordrecht", "m5", "85000", "85000", since, "", ""],
    ]
    path = tmp_path / "ledger.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    r = await cli("import", str(path), "--party", "woonbron")
    assert r.code == 1
    assert "ledger.csv: 5 events, 2 accepted (0 duplicates), 3 rejected" in r.out
    assert one_line_error(r) == f"error: 3 of 5 events rejected; reasons in {tmp_path / 'ledger.rejected.csv'}"
    with (tmp_path / "ledger.rejected.csv").open() as fh:
        rejected = list(csv.DictReader(fh))
    assert [(x["line"], x["status"], x["error_code"], x["error_field"]) for x in rejected] == [
        ("4", "422", "invalid_event", "arrears_cents"),
        ("5", "404", "no_open_case", ""),
        ("6", "403", "forbidden", ""),
    ]
    assert rejected[0]["tenancy_ref"] == ref_b  # the original row, to fix and import again
    await api.settled(f"case-woonbron-{ref_a}", "m2")
    kinds = [t["kind"] for t in await api.timeline(f"case-woonbron-{ref_a}") if t["category"] == "event"]
    assert kinds == ["arrears_reported", "reminder_sent"]

    r = await cli("import", str(path), "--party", "woonbron")  # a rerun applies nothing again
    assert "2 accepted (2 duplicates)" in r.out


async def test_keys_expire(cli, api):
    r = await cli("keys", "create", "woonbron", "--expires-in", "30d")
    assert r.code == 0, r.err
    expected = (date.today() + timedelta(days=30)).isoformat()
    assert f"it expires on {expected}" in r.out or \
        f"it expires on {(date.today() + timedelta(days=31)).isoformat()}" in r.out  # (midnight UTC)
    never = await cli("keys", "create", "woonbron", "--expires-in", "never")
    assert "it does not expire" in never.out
    bad = await cli("keys", "create", "woonbron", "--expires-in", "soon")
    assert one_line_error(bad) == ("error: 'soon' is not a lifetime: use e.g. 365d, 12w, 48h, 30m or "
                                   "never [expires_in] (422 invalid_duration)")
    listing = await cli("keys", "list", "--party", "woonbron")
    assert "never" in listing.out and expected[:4] in listing.out


async def test_import_refuses_a_file_that_is_not_utf8_in_one_line(cli, tmp_path, api):
    path = tmp_path / "ledger.csv"
    path.write_bytes(b"type,tenancy_ref,corporation,municipality,event_id\n"
                     b"arrears_reported,R\xe9f-1,woonbron,dordrecht,m1\n")
    r = await cli("import", str(path), "--party", "woonbron")
    assert one_line_error(r) == ("error: ledger.csv is not UTF-8 text: byte 69 (line 2) cannot be "
                                 "read; save the file as UTF-8 and import it again")
    nd = tmp_path / "ledger.ndjson"
    nd.write_bytes(b'{"type": "arrears_reported"}\n\xff\xfe\n')
    r = await cli("import", str(nd), "--party", "woonbron")
    assert one_line_error(r).startswith("error: ledger.ndjson is not UTF-8 text: byte 29 (line 2)")


async def test_import_of_a_deeply_nested_ndjson_line_refuses_that_line_only(cli, tmp_path, api):
    ref = new_ref()
    since = (date.today() - timedelta(days=5)).isoformat()
    good = {"type": "arrears_reported", "tenancy_ref": ref, "corporation": "woonbron",
            "municipality": "dordrecht", "event_id": "nd-1", "arrears_cents": 85000,
            "monthly_rent_cents": 85000, "arrears_since": since}
    import json

    path = tmp_path / "ledger.ndjson"
    path.write_text(json.dumps(good) + "\n" + '{"x": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    r = await cli("import", str(path), "--party", "woonbron")
    assert "ledger.ndjson: 2 events, 1 accepted (0 duplicates), 1 rejected" in r.out
    assert one_line_error(r) == (f"error: 1 of 2 events rejected; reasons in "
                                 f"{tmp_path / 'ledger.rejected.ndjson'}")
    [rejected] = [json.loads(x) for x in (tmp_path / "ledger.rejected.ndjson").read_text().splitlines()]
    assert rejected["line"] == 2 and rejected["error"]["code"] == "json_too_deep"


async def test_rejected_csv_cells_never_run_as_spreadsheet_formulas(cli, tmp_path, api):
    header = ["type", "tenancy_ref", "corporation", "municipality", "event_id", "reason"]
    rows = [
        ["tenancy_ended", "=HYPERLINK(\"http://x\")", "woonbron", "dordrecht", "+1+1", "@SUM(A1)"],
        ["tenancy_ended", new_ref(), "woonbron", "dordrecht", "-2", "moved_out"],
    ]
    path = tmp_path / "ledger.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    r = await cli("import", str(path), "--party", "woonbron")
    assert r.code == 1
    with (tmp_path / "ledger.rejected.csv").open(newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert "'=HYPERLINK(\"http://x\")" in cells and "'+1+1" in cells and "'@SUM(A1)" in cells
    assert "'-2" in cells


EXAMPLES = ROOT / "examples"


async def test_the_example_ledgers_import_as_spreadsheets_export_them(cli, tmp_path, api):
    """Issue 10: the sample files of examples/ (used by the README): a comma CSV in cents, a
    Dutch export (semicolons, a byte-order mark, euros with a decimal comma) and NDJSON. Each has
    one bad row on purpose; it is refused alone, with a reason that names its cell."""
    import shutil

    for name in ("ledger-2026-11.csv", "ledger-2026-11-nl.csv", "ledger-2026-11.ndjson"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    r = await cli("import", str(tmp_path / "ledger-2026-11-nl.csv"), "--party", "woonbron")
    assert "ledger-2026-11-nl.csv: 4 events, 3 accepted (0 duplicates), 1 rejected" in r.out, r.out + r.err
    with (tmp_path / "ledger-2026-11-nl.rejected.csv").open(encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert (row["line"], row["status"], row["error_code"], row["error_field"]) == \
        ("5", "422", "invalid_cell", "arrears_euro")
    assert "negen" in row["error_message"] and row["tenancy_ref"] == "HC-2026-0113"
    await api.settled("case-woonbron-HC-2026-0112", "ledger-2026-11-nl-0003")
    status = await api.get("/v1/cases/case-woonbron-HC-2026-0112", "woonbron")
    assert status.json()["arrears_cents"] == 185_000  # 1.850,00 euro

    r = await cli("import", str(tmp_path / "ledger-2026-11.csv"), "--party", "woonbron")
    assert "4 events, 3 accepted (0 duplicates), 1 rejected" in r.out, r.out + r.err
    r = await cli("import", str(tmp_path / "ledger-2026-11.ndjson"), "--party", "woonbron")
    assert "2 events, 1 accepted (0 duplicates), 1 rejected" in r.out, r.out + r.err


async def test_a_cents_column_holding_euros_is_refused_with_a_hint(cli, tmp_path, api):
    path = tmp_path / "tabs.csv"
    path.write_text("type\ttenancy_ref\tcorporation\tmunicipality\tevent_id\tarrears_cents\t"
                    "monthly_rent_cents\tarrears_since\n"
                    f"arrears_reported\t{new_ref()}\twoonbron\tdordrecht\tt1\t925,00\t92500\t2026-11-01\n"
                    f"arrears_reported\t{new_ref()}\twoonbron\tdordrecht\tt2\t=HYPERLINK(1)\t92500\t2026-11-01\n",
                    encoding="utf-8")
    r = await cli("import", str(path), "--party", "woonbron")
    assert "2 events, 0 accepted (0 duplicates), 2 rejected" in r.out, r.out + r.err
    text = (tmp_path / "tabs.rejected.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert rows[0]["error_code"] == "invalid_cell" and "arrears_euro" in rows[0]["error_message"]
    assert rows[1]["arrears_cents"] == "'=HYPERLINK(1)"  # a formula is written as text
