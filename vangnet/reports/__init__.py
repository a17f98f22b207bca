"""Reports for the Adviesgroep Preventie Huisuitzetting (issue 11): the quarterly monitoring report
and the annual account of compliance, from the case store, in Dutch.

    report = await make_report(store.sessions, "monitoring", parse_period("2026-Q3"))
    public, internal = write_variants(report, Path("data/reports/monitoring/2026-Q3"))

`period.py` says which days a report covers, `data.py` what it reads, `engine.py` what it counts,
`render.py` how it looks (XLSX, CSV, Markdown, HTML with charts).
"""

from __future__ import annotations

from pathlib import Path

from vangnet.reports.data import load_episodes
from vangnet.reports.engine import Report, build_report
from vangnet.reports.period import Period, PeriodError, parse_period
from vangnet.reports.render import FORMATS, write_report
from vangnet.store.db import SessionFactory

KINDS = ("monitoring", "naleving")
INTERNAL_DIR = "intern"


def scope_text(municipality: str | None, corporation: str | None) -> str:
    parts = []
    if municipality:
        parts.append(f"gemeente {municipality}")
    if corporation:
        parts.append(f"corporatie {corporation}")
    return ", ".join(parts) or "regio Drechtsteden en Alblasserwaard"


async def make_report(sessions: SessionFactory, kind: str, period: Period, *,
                      municipality: str | None = None, corporation: str | None = None) -> Report:
    if kind not in KINDS:
        raise ValueError(f"report kind must be one of {', '.join(KINDS)}, not {kind!r}")
    episodes = await load_episodes(sessions, municipality=municipality, corporation=corporation)
    return build_report(episodes, period, kind, scope=scope_text(municipality, corporation))


def write_variants(report: Report, folder: Path, formats: tuple[str, ...] = FORMATS
                   ) -> tuple[list[Path], list[Path]]:
    """The suppressed version in `folder` (it may leave the region's operators) and the full one
    in `folder/intern/` (it may not)."""
    public = write_report(report, folder, suppress=True, formats=formats)
    internal = write_report(report, folder / INTERNAL_DIR, suppress=False, formats=formats)
    return public, internal


__all__ = ["FORMATS", "INTERNAL_DIR", "KINDS", "Period", "PeriodError", "Report", "make_report",
           "parse_period", "scope_text", "write_report", "write_variants"]
