"""The capacity model of docs/capacity.md, computed from result files (no server, a second).

    .venv/bin/python -m bench.sizing                       # the default result files below
    .venv/bin/python -m bench.sizing --capacity F --storm-cold F --storm-warm F

Measured per-case costs (bench.capacity) and per-deadline costs of the storm (bench.fleet) times
the assumed volumes of a region, a province and the Netherlands (ASSUMPTIONS: the only figures
here that are not measured). Prints Markdown tables; every number names its source.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# Assumed volumes (not measured; see docs/capacity.md "What is assumed").
SCALES = {
    "region (Drechtsteden/Alblasserwaard)": 3_000,
    "a province (≈ 10 regions)": 30_000,
    "the Netherlands": 300_000,
}
OPEN_FRACTION = 0.5   # mean months a case is open ÷ 12: the two lifecycles run 2–8 months
STORM_FRACTION = 1 / 12  # one month's openings share one early-signal midnight
BENCH_ONLY_ACTIONS = ("UpdateWorkflowExecutionOptions",)  # the benchmark's time skipping
WORKER_CORES_OF_PROCESS = 1.0  # a Python worker process uses about one core (the GIL)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def production_actions(actions: dict[str, float]) -> float:
    return sum(v for k, v in actions.items() if not any(b in k for b in BENCH_ONLY_ACTIONS))


def model(cap: dict[str, Any], cold: dict[str, Any], warm: dict[str, Any] | None) -> list[dict[str, Any]]:
    r = cap["results"]
    hist = r["history_per_case"]
    actions = production_actions(r["actions_per_case"])
    cpu = r["cpu_ms_per_case"]
    storm_cold = cold["results"]["vangnet"]["fire_cpu_ms_per_deadline"]
    storm_warm = warm["results"]["vangnet"]["fire_cpu_ms_per_deadline"] if warm else storm_cold
    rows = []
    for name, per_year in SCALES.items():
        open_cases = per_year * OPEN_FRACTION
        storm = per_year * STORM_FRACTION
        year_s = 365 * 86400
        rows.append({
            "scale": name, "cases_per_year": per_year, "open_cases": open_cases, "storm_deadlines": storm,
            "history_events_per_year": per_year * hist["events"],
            "actions_per_month": per_year * actions / 12,
            "active_history_gb": open_cases * hist["bytes"] / 1e9,
            "store_gb_per_year": per_year * r["store_bytes_per_case"] / 1e9,
            "store_rows_per_year": per_year * sum(r["store_rows_per_case"].values()),
            "server_cores_avg": per_year * cpu["server"] / 1000 / year_s,
            "worker_cores_avg": per_year * cpu["worker"] / 1000 / year_s,
            "storm_server_cpu_s": storm * storm_cold["server"] / 1000,
            "storm_server_cpu_s_warm": storm * storm_warm["server"] / 1000,
            "storm_worker_cpu_s_cold": storm * storm_cold["worker"] / 1000,
            "storm_worker_cpu_s_warm": storm * storm_warm["worker"] / 1000,
            "worker_processes_10s_cold": max(1.0, storm * storm_cold["worker"] / 1000 / 10 / WORKER_CORES_OF_PROCESS),
            "worker_processes_10s_warm": max(1.0, storm * storm_warm["worker"] / 1000 / 10 / WORKER_CORES_OF_PROCESS),
            "server_cores_10s": storm * storm_cold["server"] / 1000 / 10,
            "server_cores_10s_warm": storm * storm_warm["server"] / 1000 / 10,
            "cache_mb_all_open_warm": open_cases * 0.25,
        })
    return rows


def markdown(rows: list[dict[str, Any]], sources: dict[str, str], per_case: dict[str, Any]) -> str:
    out = ["Sources: " + ", ".join(f"{k} `{v}`" for k, v in sources.items()), ""]
    out.append("| per case (measured) | value |")
    out.append("|---|---|")
    for k, v in per_case.items():
        out.append(f"| {k} | {v} |")
    out.append("")
    cols = [
        ("cases a year (assumed)", "cases_per_year", "{:,.0f}"),
        ("open at once", "open_cases", "{:,.0f}"),
        ("deadlines at one midnight", "storm_deadlines", "{:,.0f}"),
        ("history events a year", "history_events_per_year", "{:,.0f}"),
        ("Temporal actions a month", "actions_per_month", "{:,.0f}"),
        ("history of open cases (GB)", "active_history_gb", "{:,.2f}"),
        ("case store growth a year (GB, with archive)", "store_gb_per_year", "{:,.2f}"),
        ("case-store rows a year", "store_rows_per_year", "{:,.0f}"),
        ("server cores, yearly average", "server_cores_avg", "{:,.4f}"),
        ("worker cores, yearly average", "worker_cores_avg", "{:,.4f}"),
        ("storm: server CPU-s, cold / warm", "server_pair", None),
        ("storm: worker CPU-s, cold / warm", None, None),
        ("worker processes to act within 10 s, cold / warm", None, None),
        ("server cores to act within 10 s, cold / warm", "server_cores_pair", None),
        ("worker cache to keep every open case warm (MB, ≈ 0.25 MB a case)", "cache_mb_all_open_warm", "{:,.0f}"),
    ]
    out.append("| | " + " | ".join(r["scale"] for r in rows) + " |")
    out.append("|---|" + "---|" * len(rows))
    for label, key, fmt in cols:
        if key == "server_pair":
            cells = [f"{r['storm_server_cpu_s']:,.0f} / {r['storm_server_cpu_s_warm']:,.0f}" for r in rows]
        elif key == "server_cores_pair":
            cells = [f"{r['server_cores_10s']:,.1f} / {r['server_cores_10s_warm']:,.1f}" for r in rows]
        elif key is None and label.startswith("storm: worker"):
            cells = [f"{r['storm_worker_cpu_s_cold']:,.0f} / {r['storm_worker_cpu_s_warm']:,.0f}" for r in rows]
        elif key is None:
            cells = [f"{r['worker_processes_10s_cold']:,.0f} / {r['worker_processes_10s_warm']:,.0f}" for r in rows]
        else:
            cells = [fmt.format(r[key]) for r in rows]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sizing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--capacity", default=str(RESULTS / "i16-capacity-postgres.json"))
    p.add_argument("--storm-cold", default=str(RESULTS / "i16-storm-cold-default-sqlite.json"))
    p.add_argument("--storm-warm", default=str(RESULTS / "i16-storm-warm-eager-sticky120-sqlite.json"))
    args = p.parse_args(argv)
    cap, cold = load(Path(args.capacity)), load(Path(args.storm_cold))
    warm = load(Path(args.storm_warm)) if Path(args.storm_warm).exists() else None
    r = cap["results"]
    hist = r["history_per_case"]
    per_case = {
        "history events per lifecycle": f"{hist['events']:.0f}",
        "history bytes per lifecycle (encrypted payloads)": f"{hist['bytes']:,.0f}",
        "workflow tasks per lifecycle": f"{hist['workflow_tasks']:.1f}",
        "continue-as-new per lifecycle": f"{hist['continued_as_new']:.2f}",
        "Temporal actions per lifecycle (server counter, without the benchmark's time skipping)":
            f"{production_actions(r['actions_per_case']):.1f}",
        "server / worker CPU ms per lifecycle": f"{r['cpu_ms_per_case']['server']:.0f} / {r['cpu_ms_per_case']['worker']:.0f}",
        "server / worker CPU ms per history event":
            f"{r['cpu_ms_per_history_event']['server']:.2f} / {r['cpu_ms_per_history_event']['worker']:.2f}",
        "Temporal DB bytes per closed case (dev server, SQLite)": f"{r['temporal_db_bytes_per_case']:,.0f}",
        "case-store rows / bytes per case, with its archive":
            f"{sum(r['store_rows_per_case'].values()):.1f} / {r['store_bytes_per_case']:,.0f}",
        "storm, cold: server / worker CPU ms per deadline": "{server:.1f} / {worker:.1f}".format(
            **cold["results"]["vangnet"]["fire_cpu_ms_per_deadline"]),
    }
    if warm:
        per_case["storm, warm (cache, eager, sticky 120 s): server / worker CPU ms per deadline"] = "{server:.1f} / {worker:.1f}".format(
            **warm["results"]["vangnet"]["fire_cpu_ms_per_deadline"])
    sources = {"capacity": Path(args.capacity).name, "storm cold": Path(args.storm_cold).name}
    if warm:
        sources["storm warm"] = Path(args.storm_warm).name
    print(markdown(model(cap, cold, warm), sources, per_case))


if __name__ == "__main__":
    main()
