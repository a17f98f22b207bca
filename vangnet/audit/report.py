"""The audit report of one case, and the region-wide summary: built from a replayed episode,
rendered as text, Markdown or JSON."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vangnet import calendar
from vangnet.audit import compliance, references
from vangnet.audit.compliance import VERDICTS, Finding
from vangnet.audit.references import Row
from vangnet.audit.replay import ReplayedEpisode

FORMATS = ("text", "markdown", "json")
NOT_MET = (compliance.LATE, compliance.MISSED, compliance.OVERDUE)
PARTIAL = ("The replay failed, so the timeline and the compliance check stop where it failed; "
           "audit this history with the code version that wrote it.")


@dataclass
class CaseAudit:
    case_id: str
    runs: list[dict[str, Any]]
    deterministic: bool
    failures: dict[str, str]
    as_of: datetime
    case: dict[str, Any]  # stage, track, outcome, parties, policy
    rows: list[Row] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def municipality(self) -> str:
        return str(self.case.get("municipality") or "?")

    @property
    def source(self) -> str:
        """Where the history came from: "temporal", "archive" (the case store's copy, Temporal
        no longer has it), "temporal+archive" (older runs from the archive) or "files"."""
        kinds = {"server": "temporal", "archive": "archive"}
        found = {kinds.get(r["source"], "files") for r in self.runs}
        return "+".join(k for k in ("temporal", "archive", "files") if k in found)

    @property
    def tally(self) -> dict[str, int]:
        return compliance.tally(self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "as_of": self.as_of.isoformat(),
            "replay": {
                "deterministic": self.deterministic,
                "failures": self.failures,
                "source": self.source,
                "runs": self.runs,
            },
            "case": self.case,
            "timeline": [
                {"at": r.at.isoformat(), "category": r.category, "kind": r.kind, "who": r.who,
                 "what": r.what, "rule": r.rule, "detail": r.detail}
                for r in self.rows
            ],
            "compliance": {
                "tally": self.tally,
                "obligations": [f.to_json() for f in self.findings],
            },
        }


def audit_episode(episode: ReplayedEpisode) -> CaseAudit:
    state = episode.state or {}
    context = state.get("context") or {}
    case = {
        "corporation": state.get("corporation"),
        "municipality": state.get("municipality"),
        "social_service": context.get("social_service"),
        "stage": state.get("stage"),
        "track": state.get("track"),
        "closed": bool(state.get("closed")),
        "outcome": state.get("outcome"),
        "opened_at": state.get("opened_at"),
        "closed_at": state.get("closed_at"),
        "relapse_of": state.get("relapse_of"),
        "policy": context.get("policy"),
    }
    runs = [{"run_id": r.run_id, "events": len(r.history.events), "source": r.source}
            for r in episode.runs]
    timeline = state.get("timeline") or []
    return CaseAudit(
        case_id=episode.case_id,
        runs=runs,
        deterministic=episode.deterministic,
        failures=dict(episode.failures),
        as_of=episode.as_of,
        case=case,
        rows=references.rows(timeline),
        findings=compliance.check(state, episode.as_of) if state else [],
    )


# ---------------------------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------------------------


def _local(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(calendar.TZ).strftime("%Y-%m-%d %H:%M")


def _day(moment: datetime | None) -> str:
    return calendar.local_date(moment).isoformat() if moment else "—"


def _policy_line(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "unknown (the case context was never resolved)"
    return ", ".join(f"{k}={v}" for k, v in policy.items())


def _replay_line(a: CaseAudit) -> str:
    runs = len(a.runs)
    events = sum(r["events"] for r in a.runs)
    head = f"{runs} run{'s' if runs != 1 else ''}, {events} events"
    if a.deterministic:
        return f"deterministic: the current workflow code replays all {head}"
    return f"NOT deterministic ({head}): " + "; ".join(
        f"run {run_id}: {why}" for run_id, why in a.failures.items()
    )


SOURCE_TEXT = {
    "temporal": "Temporal",
    "archive": "the case store's archive (Temporal no longer has this case)",
    "temporal+archive": "Temporal, its older runs from the case store's archive",
    "files": "history files",
}


def _source_line(a: CaseAudit) -> str:
    return SOURCE_TEXT.get(a.source, a.source)


def _tally_line(tally: dict[str, int]) -> str:
    return ", ".join(f"{tally[v]} {v}" for v in VERDICTS)


def _finding_cells(f: Finding) -> list[str]:
    verdict = f.verdict.upper() if f.verdict in NOT_MET else f.verdict
    return [verdict + (f" by {f.late_by}" if f.late_by else ""), f.rule, f.title,
            f.due_day.isoformat(), _day(f.done_at), f.responsible]


def render_case(a: CaseAudit, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(a.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return _case_markdown(a)
    return _case_text(a)


def _case_text(a: CaseAudit) -> str:
    c = a.case
    out = [
        f"Audit of {a.case_id}",
        f"  corporation {c['corporation']}, municipality {c['municipality']}, "
        f"social service {c['social_service']}",
        f"  stage {c['stage']}, track {c['track']}, outcome {c['outcome'] or '—'}; "
        f"as of {_local(a.as_of)} (the case's own clock)",
        f"  policy: {_policy_line(c['policy'])}",
        f"  replay: {_replay_line(a)}",
        f"  history from: {_source_line(a)}",
        "",
        "Timeline (Europe/Amsterdam)",
    ]
    if not a.deterministic:
        out.append(f"  {PARTIAL}")
    out += _table(
        ["when", "category", "who", "what", "rule"],
        [[_local(r.at), r.category, r.who, r.what, r.rule] for r in a.rows],
        indent="  ",
    )
    out += ["", f"Compliance with the agreement: {_tally_line(a.tally)}"]
    rows = []
    for f in a.findings:
        rows.append(_finding_cells(f))
        for note in f.notes:
            rows.append(["", "", f"  note: {note}", "", "", ""])
    out += _table(["verdict", "rule", "obligation", "due", "done", "responsible"], rows,
                  indent="  ")
    return "\n".join(out) + "\n"


def _case_markdown(a: CaseAudit) -> str:
    c = a.case
    out = [
        f"# Audit of `{a.case_id}`",
        "",
        f"- Corporation **{c['corporation']}**, municipality **{c['municipality']}**, "
        f"social service {c['social_service']}",
        f"- Stage **{c['stage']}**, track {c['track']}, outcome {c['outcome'] or '—'}; "
        f"as of {_local(a.as_of)} (the case's own clock)",
        f"- Policy: {_policy_line(c['policy'])}",
        f"- Replay: {'✅ ' if a.deterministic else '❌ '}{_replay_line(a)}",
        f"- History from: {_source_line(a)}",
        "",
        "## Timeline",
        "",
    ]
    if not a.deterministic:
        out += [f"> {PARTIAL}", ""]
    out += _md_table(["when (Europe/Amsterdam)", "category", "who", "what", "rule"],
                     [[_local(r.at), r.category, r.who, r.what, r.rule] for r in a.rows])
    out += ["", "## Compliance with the agreement", "", _tally_line(a.tally), ""]
    rows = []
    for f in a.findings:
        cells = _finding_cells(f)
        if f.notes:
            cells[2] += " — " + "; ".join(f.notes)
        rows.append(cells)
    out += _md_table(["verdict", "rule", "obligation", "due", "done", "responsible"], rows)
    return "\n".join(out) + "\n"


def _table(headers: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    def line(cells: list[str]) -> str:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])] + [cells[-1]]
        return (indent + "  ".join(parts)).rstrip()
    out = [line(headers), indent + "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return out


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


# ---------------------------------------------------------------------------------------------
# The region
# ---------------------------------------------------------------------------------------------


@dataclass
class RegionSummary:
    audits: list[CaseAudit]
    seconds: float
    failed: dict[str, str] = field(default_factory=dict)  # case id -> why it could not be audited

    @property
    def rate(self) -> float:
        return len(self.audits) / self.seconds if self.seconds > 0 else 0.0

    def by_municipality(self) -> list[dict[str, Any]]:
        groups: dict[str, list[CaseAudit]] = defaultdict(list)
        for a in self.audits:
            groups[a.municipality].append(a)
        rows = [self._group_row(name, items) for name, items in sorted(groups.items())]
        if rows:
            rows.append(self._group_row("total", self.audits))
        return rows

    @staticmethod
    def _group_row(name: str, items: list[CaseAudit]) -> dict[str, Any]:
        tally: Counter[str] = Counter()
        for a in items:
            tally.update(a.tally)
        outcomes = Counter(a.case.get("outcome") for a in items if a.case.get("closed"))
        decided = sum(tally[v] for v in (compliance.MET, *NOT_MET))
        return {
            "municipality": name,
            "cases": len(items),
            "open": sum(1 for a in items if not a.case.get("closed")),
            "crisis": sum(1 for a in items if a.case.get("stage") == "crisis"),
            "resolved": outcomes.get("resolved", 0),
            "evicted": outcomes.get("evicted", 0),
            "not_deterministic": sum(1 for a in items if not a.deterministic),
            **{v: tally[v] for v in VERDICTS},
            "on_time_pct": round(100 * tally[compliance.MET] / decided, 1) if decided else None,
        }

    def by_obligation(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for a in self.audits:
            for f in a.findings:
                groups[(f.rule, f.title)].append(f)
        rows = []
        for (rule, title), items in sorted(groups.items(), key=lambda kv: kv[0]):
            counts = Counter(f.verdict for f in items)
            late = [f.late_days for f in items if f.late_days is not None]
            rows.append({
                "rule": rule, "obligation": title, "applied": len(items),
                **{v: counts.get(v, 0) for v in VERDICTS},
                "median_days_late": statistics.median(late) if late else None,
            })
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "replay": {"cases": len(self.audits), "runs": sum(len(a.runs) for a in self.audits),
                       "seconds": round(self.seconds, 3),
                       "cases_per_second": round(self.rate, 1),
                       "not_deterministic": [a.case_id for a in self.audits if not a.deterministic],
                       "sources": dict(sorted(Counter(a.source for a in self.audits).items())),
                       "not_audited": self.failed},
            "by_municipality": self.by_municipality(),
            "by_obligation": self.by_obligation(),
            "cases": [
                {"case_id": a.case_id, "municipality": a.municipality,
                 "stage": a.case.get("stage"), "outcome": a.case.get("outcome"),
                 "deterministic": a.deterministic, "tally": a.tally}
                for a in self.audits
            ],
        }


_MUNI_COLS = ["municipality", "cases", "open", "crisis", "resolved", "evicted",
              "not_deterministic", *VERDICTS, "on_time_pct"]
_OBL_COLS = ["rule", "obligation", "applied", *VERDICTS, "median_days_late"]


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_region(summary: RegionSummary, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(summary.to_json(), indent=2, ensure_ascii=False) + "\n"
    munis = [[_cell(r[c]) for c in _MUNI_COLS] for r in summary.by_municipality()]
    obls = [[_cell(r[c]) for c in _OBL_COLS] for r in summary.by_obligation()]
    runs = sum(len(a.runs) for a in summary.audits)
    head = (f"{len(summary.audits)} cases ({runs} runs) replayed in {summary.seconds:.1f} s: "
            f"{summary.rate:.1f} cases/s; "
            f"{sum(1 for a in summary.audits if not a.deterministic)} not deterministic; "
            "history from " + (", ".join(f"{SOURCE_TEXT.get(k, k).split(' (')[0]}: {n}" for k, n in
                                         sorted(Counter(a.source for a in summary.audits).items()))
                               or "—"))
    broken = [f"{case_id}: {why}" for case_id, why in summary.failed.items()]
    broken += [f"{a.case_id}: " + "; ".join(a.failures.values())
               for a in summary.audits if not a.deterministic]
    if fmt == "markdown":
        out = ["# Region-wide audit", "", head, "", "## By municipality", ""]
        out += _md_table(_MUNI_COLS, munis)
        out += ["", "## By obligation", ""]
        out += _md_table(_OBL_COLS, obls)
        if broken:
            out += ["", "## Cases that need a look", ""] + [f"- {b}" for b in broken]
        return "\n".join(out) + "\n"
    out = ["Region-wide audit", head, "", "By municipality"]
    out += _table(_MUNI_COLS, munis, indent="  ")
    out += ["", "By obligation"]
    out += _table(_OBL_COLS, obls, indent="  ")
    if broken:
        out += ["", "Cases that need a look"] + [f"  {b}" for b in broken]
    return "\n".join(out) + "\n"
