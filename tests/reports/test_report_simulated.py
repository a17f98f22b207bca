"""The monitoring report of a simulated region (`starter simulate`), checked against the cases'
own timelines: every number of the funnel and of the compliance table is recomputed here, from
the `timeline` and `state` queries of the live cases, without the report engine's code; the XLSX
opens with openpyxl, the public CSV suppresses small counts, the HTML carries its charts inline."""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from typer.testing import CliRunner

import starter.archive
import starter.report
import starter.simulate  # noqa: F401
from starter.cli import app
from vangnet import calendar
from vangnet.audit import compliance
from vangnet.audit.references import parse_time
from vangnet.reports.engine import obligation_label, party_label
from vangnet.reports.period import quarter
from vangnet.scenarios import Region
from vangnet.settings import get_settings
from vangnet.simulation import plan_region

SEED, TENANCIES, MONTHS = 23, 24, 9


def _next_quarter():
    today = calendar.local_date(datetime.now(UTC))
    q = (today.month - 1) // 3 + 1
    return quarter(today.year + (q == 4), 1 if q == 4 else q + 1)


def _first(timeline, kinds, category, after=None):
    for e in timeline:
        at = parse_time(e["at"])
        if e["category"] == category and e["kind"] in kinds and (after is None or at >= after):
            return at
    return None


def _funnel(timeline: list[dict], start: datetime, end: datetime) -> dict[str, int] | None:
    """The chain as the README defines it, written out again: which steps an episode whose signal
    fell in [start, end) reached before `end`."""
    timeline = [e for e in timeline if parse_time(e["at"]) < end]
    signal_action = _first(timeline, {"early_signal_submitted"}, "action")
    self_referral = _first(timeline, {"self_referral"}, "event")
    signal = min([m for m in (signal_action, self_referral) if m is not None], default=None)
    if signal is None or not start <= signal < end:
        return None
    by_self = signal == self_referral
    contact = signal if by_self else _first(
        timeline, {"help_accepted", "help_refused", "debt_help_started",
                   "payment_arrangement_agreed"}, "event", signal)
    help_ = _first(timeline, {"help_accepted", "debt_help_started", "payment_arrangement_agreed"},
                   "event", signal)
    arrangement = _first(timeline, {"payment_arrangement_agreed"}, "event", signal)
    resolved = _first(timeline, {"aftercare_started"}, "action", signal)
    return {"signaal": 1, "contact": int(contact is not None), "hulp": int(help_ is not None),
            "regeling": int(arrangement is not None), "opgelost": int(resolved is not None)}


def _sheet(wb, name: str) -> list[list]:
    """The table's rows: from row 4 to the first empty row (the note follows it)."""
    rows = []
    for r in wb[name].iter_rows(min_row=4, values_only=True):
        if all(v is None for v in r):
            break
        rows.append(list(r))
    return rows


async def test_the_report_of_a_simulated_region_matches_its_timelines(
        temporal_env, store, worker, task_queue, sqlite_settings, monkeypatch, tmp_path):
    client = temporal_env.client
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("DATABASE_URL", sqlite_settings.database_url)
    monkeypatch.setenv("VANGNET_TASK_QUEUE", task_queue)
    monkeypatch.setenv("VANGNET_LOG_LEVEL", "INFO")
    get_settings.cache_clear()
    run = lambda *args: asyncio.to_thread(CliRunner().invoke, app, list(args))  # noqa: E731
    tag = f"rep{uuid.uuid4().hex[:6]}"
    try:
        out = await run("simulate", "--tenancies", str(TENANCIES), "--months", str(MONTHS),
                        "--seed", str(SEED), "--tag", tag)
        assert out.exit_code == 0 and "failed" not in out.stdout, out.output
        # every run of this test's cases into the archive, open ones as snapshots
        out = await run("archive", "--running", "--query", f"TaskQueue = '{task_queue}'")
        assert out.exit_code == 0 and " 0 failed" in out.stdout, out.output
        period = _next_quarter()
        internal, public = tmp_path / "intern", tmp_path / "public"
        out = await run("report", "--period", period.label, "--internal", "--no-refresh",
                        "-o", str(internal))
        assert out.exit_code == 0, out.output
        out = await run("report", "--period", period.label, "--no-refresh", "-o", str(public))
        assert out.exit_code == 0, out.output
        local = tmp_path / "dordrecht"
        out = await run("report", "--period", period.label, "--municipality", "dordrecht",
                        "--internal", "--no-refresh", "-o", str(local))
        assert out.exit_code == 0, out.output
        out = await run("report", "--period", period.label, "--municipality", "woonbron",
                        "--no-refresh", "-o", str(tmp_path / "x"))
        assert out.exit_code == 1 and "is not a municipality" in out.stderr, out.output
        annual = tmp_path / "naleving"
        out = await run("report", "--kind", "naleving", "--period", period.label, "--internal",
                        "--no-refresh", "-o", str(annual))
        assert out.exit_code == 0, out.output
    finally:
        get_settings.cache_clear()

    # Recompute from the live cases.
    plan = plan_region(Region.from_registry(), tenancies=TENANCIES, months=MONTHS, seed=SEED, tag=tag)
    start, end = period.start_at, period.end_at
    funnel = Counter()
    funnel_dordrecht = Counter()
    verdicts: dict[tuple[str, str], Counter] = {}
    missed: list[tuple[str, str, str]] = []
    for scenario in plan.scenarios:
        handle = client.get_workflow_handle(scenario.case_id)
        state = await handle.query("state")
        timeline = await handle.query("timeline")
        assert timeline == state["timeline"]
        steps = _funnel(timeline, start, end)
        if steps:
            funnel.update(steps)
            if scenario.municipality == "dordrecht":
                funnel_dordrecht.update(steps)
        if not state["opened_at"] or parse_time(state["opened_at"]) >= end:
            continue
        closed_at = parse_time(state["closed_at"]) if state["closed_at"] else None
        cut = {**state, "closed": closed_at is not None and closed_at < end,
               "timeline": [e for e in timeline if parse_time(e["at"]) < end]}
        as_of = end - timedelta(seconds=1)
        if closed_at is None:  # open: as far as its timeline (or the snapshot moment) reaches
            as_of = min(as_of, max(parse_time(timeline[-1]["at"]), datetime.now(UTC)))
        for f in compliance.check(cut, as_of):
            if period.start <= f.due_day <= period.until:
                key = (obligation_label(f.obligation, f.title), party_label(f.responsible))
                verdicts.setdefault(key, Counter())[f.verdict] += 1
                if f.verdict == "missed":
                    missed.append((*key, scenario.case_id))
    assert funnel["signaal"] > 0, "the period should see signals"
    assert verdicts, "the period should see obligations fall due"

    [xlsx] = internal.glob("*.xlsx")
    wb = load_workbook(xlsx)
    assert {"toelichting", "samenvatting", "keten", "doorlooptijden", "mpzo", "crisis",
            "moratoria", "ontruimingen", "escalaties", "open_per_fase", "naleving"} <= set(wb.sheetnames)
    keten = {row[0]: row[1] for row in _sheet(wb, "keten")}
    labels = ["Signaal (vroegsignalering of zelfmelding)", "Contact gemeente of partner",
              "Hulp geaccepteerd", "Betalingsregeling", "Achterstand opgelost (nazorg)"]
    assert [keten[label] for label in labels] == \
        [funnel[s] for s in ("signaal", "contact", "hulp", "regeling", "opgelost")]

    [local_xlsx] = local.glob("*.xlsx")
    local_keten = {row[0]: row[1] for row in _sheet(load_workbook(local_xlsx), "keten")}
    assert [local_keten[label] for label in labels] == \
        [funnel_dordrecht[s] for s in ("signaal", "contact", "hulp", "regeling", "opgelost")]
    assert "gemeente dordrecht" in (local / local_xlsx.name.replace(".xlsx", ".md")).read_text()

    header = [c.value for c in wb["naleving"][3]]
    verdict_cols = {compliance_label: i for i, compliance_label in enumerate(header)}
    table = {}
    for row in _sheet(wb, "naleving"):
        counts = Counter({v: row[verdict_cols[label]] for v, label in (
            ("met", "op tijd"), ("late", "te laat"), ("missed", "gemist"),
            ("overdue", "over termijn (loopt)"), ("pending", "termijn loopt")) if row[verdict_cols[label]]})
        assert row[verdict_cols["totaal"]] == sum(counts.values())
        table[(row[0], row[2])] = counts
    assert table == verdicts

    # the public version: small counts suppressed, no case ids
    rows = list(csv.reader((public / xlsx.name.replace(".xlsx", "-keten.csv"))
                           .open(encoding="utf-8-sig"), delimiter=";"))
    shown = {r[0]: r[1] for r in rows[1:]}
    for label, step in zip(labels, ("signaal", "contact", "hulp", "regeling", "opgelost"), strict=False):
        n = funnel[step]
        assert shown[label] == ("<5" if 0 < n < 5 else str(n))
    assert not list(public.glob("*-gemist.csv"))
    page = (public / xlsx.name.replace(".xlsx", ".html")).read_text(encoding="utf-8")
    assert page.count("<svg") >= 3 and "<script" not in page and "http" not in page.split("<svg")[0]
    md = (internal / xlsx.name.replace(".xlsx", ".md")).read_text(encoding="utf-8")
    assert "## De keten: van signaal tot opgelost" in md

    # the annual account over the same period: per party, and the cases behind each missed one
    [xlsx] = annual.glob("*.xlsx")
    wb = load_workbook(xlsx)
    assert {"naleving_partij", "naleving_verplichting", "naleving", "gemist"} <= set(wb.sheetnames)
    assert sorted(tuple(r) for r in _sheet(wb, "gemist")) == sorted(missed)
    per_party: Counter = Counter()
    for (_, party), counts in verdicts.items():
        per_party[party] += sum(counts.values())
    header = [c.value for c in wb["naleving_partij"][3]]
    assert {r[0]: r[header.index("totaal")] for r in _sheet(wb, "naleving_partij")} == per_party
