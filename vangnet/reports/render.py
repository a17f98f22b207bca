"""A report as XLSX (one sheet per table), CSV (one file per table), Markdown and a self-contained
HTML page with its charts inline (SVG drawn by matplotlib; no script, no file, nothing from a CDN).

Small counts: with `suppress` (every output that leaves the region's operators) a count of 1 to 4
is shown as "<5", a percentage built on such a count as "–", and a median or p90 over fewer than
5 cases as "n<5"; tables marked internal (the case ids behind missed obligations) are left out.
`suppress=False` is for the operators' own use.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from vangnet import calendar
from vangnet.reports.engine import SMALL, Days, Report, Share, Table

SUPPRESSED = "<5"
CSV_DELIMITER = ";"  # what a Dutch spreadsheet opens without asking
FORMATS = ("xlsx", "csv", "md", "html")


def small(n: int) -> bool:
    return 0 < n < SMALL


def cell_text(value: Any, suppress: bool) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, int):
        return SUPPRESSED if suppress and small(value) else str(value)
    if isinstance(value, Share):
        if value.den == 0 or (suppress and (small(value.num) or small(value.den))):
            return "–"
        return f"{round(100 * value.num / value.den)}%"
    if isinstance(value, Days):
        if value.n == 0 or value.value is None:
            return "–"
        if suppress and value.n < SMALL:
            return f"n<{SMALL}"
        return f"{value.value:.1f}".replace(".", ",")
    return "" if value is None else str(value)


def cell_value(value: Any, suppress: bool) -> Any:
    """For a spreadsheet: numbers stay numbers where they may be shown."""
    if isinstance(value, bool):
        return cell_text(value, suppress)
    if isinstance(value, int):
        return SUPPRESSED if suppress and small(value) else value
    if isinstance(value, Share):
        text = cell_text(value, suppress)
        return text if text == "–" else value.num / value.den
    if isinstance(value, Days):
        text = cell_text(value, suppress)
        return round(value.value, 1) if value.value is not None and text[:1].isdigit() else text
    return value


def chart_value(value: Any, suppress: bool) -> float:
    if isinstance(value, int):
        return 0.0 if suppress and small(value) else float(value)
    return 0.0


def visible_tables(report: Report, suppress: bool) -> list[Table]:
    return [t for t in report.tables if not (suppress and t.internal_only)]


def _meta_lines(report: Report, suppress: bool) -> list[str]:
    lines = [
        f"Periode: {report.period.describe()} ({report.period.label})",
        f"Gebied: {report.scope}",
        f"Gemaakt: {report.generated_at.astimezone(calendar.TZ).strftime('%d-%m-%Y %H:%M')} "
        f"uit het casusregister van vangnet (projectie en archief)",
        f"Casussen in beeld: {report.episodes}",
    ]
    if suppress:
        lines.append(f"Kleine aantallen (1 t/m {SMALL - 1}) zijn weergegeven als '{SUPPRESSED}'.")
    else:
        lines.append("INTERNE VERSIE: kleine aantallen zijn zichtbaar; niet verspreiden buiten de "
                     "operators van de regio.")
    if report.snapshot_note:
        lines.append(report.snapshot_note + ".")
    if report.incomplete:
        lines.append(f"{len(report.incomplete)} casussen zonder tijdlijn in het archief (alleen "
                     "meegeteld waar de projectie volstaat).")
    return lines


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def write_report(report: Report, folder: Path, *, suppress: bool,
                 formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the report in `formats` into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"vangnet-{report.kind}-{report.period.slug}"
    out: list[Path] = []
    if "xlsx" in formats:
        out.append(write_xlsx(report, folder / f"{stem}.xlsx", suppress))
    if "csv" in formats:
        for table in visible_tables(report, suppress):
            out.append(write_csv(table, folder / f"{stem}-{table.key}.csv", suppress))
    if "md" in formats:
        path = folder / f"{stem}.md"
        path.write_text(markdown(report, suppress), encoding="utf-8")
        out.append(path)
    if "html" in formats:
        path = folder / f"{stem}.html"
        path.write_text(html_page(report, suppress), encoding="utf-8")
        out.append(path)
    return out


def write_csv(table: Table, path: Path, suppress: bool) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=CSV_DELIMITER)
        w.writerow([c.label for c in table.columns])
        for row in table.rows:
            w.writerow([cell_text(v, suppress) for v in row])
    return path


def write_xlsx(report: Report, path: Path, suppress: bool) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    info = wb.active
    info.title = "toelichting"
    info["A1"] = report.title
    info["A1"].font = Font(bold=True, size=14)
    for i, line in enumerate(_meta_lines(report, suppress), start=3):
        info.cell(row=i, column=1, value=line)
    row = len(_meta_lines(report, suppress)) + 4
    for table in visible_tables(report, suppress):
        info.cell(row=row, column=1, value=f"{table.key}: {table.title}").font = Font(bold=True)
        info.cell(row=row + 1, column=1, value=table.note).alignment = Alignment(wrap_text=False)
        row += 3
    info.column_dimensions["A"].width = 110
    for table in visible_tables(report, suppress):
        ws = wb.create_sheet(table.key[:31])
        ws["A1"] = table.title
        ws["A1"].font = Font(bold=True, size=12)
        for c, column in enumerate(table.columns, start=1):
            cell = ws.cell(row=3, column=c, value=column.label)
            cell.font = Font(bold=True)
        for r, values in enumerate(table.rows, start=4):
            for c, value in enumerate(values, start=1):
                cell = ws.cell(row=r, column=c, value=cell_value(value, suppress))
                if isinstance(value, Share) and isinstance(cell.value, float):
                    cell.number_format = "0%"
        ws.cell(row=len(table.rows) + 5, column=1, value=table.note)
        for c, column in enumerate(table.columns, start=1):
            width = max([len(str(column.label))] + [len(cell_text(r[c - 1], suppress))
                                                    for r in table.rows]) + 2
            ws.column_dimensions[get_column_letter(c)].width = min(max(width, 10), 70)
        ws.freeze_panes = "A4"
    wb.save(path)
    return path


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report, suppress: bool) -> str:
    out = [f"# {report.title}", ""]
    out += [f"- {line}" for line in _meta_lines(report, suppress)]
    for table in visible_tables(report, suppress):
        out += ["", f"## {table.title}", ""]
        out.append("| " + " | ".join(_md_cell(c.label) for c in table.columns) + " |")
        out.append("|" + "|".join("---" if c.kind == "text" else "---:" for c in table.columns) + "|")
        for row in table.rows:
            out.append("| " + " | ".join(_md_cell(cell_text(v, suppress)) for v in row) + " |")
        if not table.rows:
            out.append("| " + " | ".join("—" for _ in table.columns) + " |")
        if table.note:
            out += ["", f"_{table.note}_"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML with inline charts
# ---------------------------------------------------------------------------------------------

VERDICT_COLOURS = ["#2e7d32", "#f9a825", "#c62828", "#6a1b9a", "#90a4ae", "#455a64", "#8d6e63"]
BAR_COLOUR = "#1f5f8b"

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1d2733; line-height: 1.4; padding: 0 1em; }
h1 { color: #1f5f8b; font-size: 1.7em; margin-bottom: .2em; }
h2 { color: #1f5f8b; border-bottom: 2px solid #d7e3ec; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #4a5866; font-size: .95em; } .meta li { margin: .1em 0; }
.internal { background: #fdecea; border: 1px solid #c62828; padding: .5em 1em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #cfd8e0; padding: .3em .7em; }
th { background: #eef3f7; text-align: left; } td.num { text-align: right; }
.note { color: #4a5866; font-size: .88em; max-width: 60em; }
.chart svg { max-width: 100%; height: auto; }
"""


def _svg(table: Table, suppress: bool) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart = table.chart
    assert chart is not None
    rows = [r for r in table.rows if str(r[chart.label_column]) != "Totaal"]
    if not rows:
        return ""
    labels = [str(r[chart.label_column]) for r in rows]
    plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 9})
    height = max(2.2, 0.42 * len(rows) + 1.0)
    fig, ax = plt.subplots(figsize=(9, height if chart.kind != "bar" else 3.6))
    try:
        if chart.kind == "stacked":
            left = [0.0] * len(rows)
            for n, col in enumerate(chart.value_columns):
                values = [chart_value(r[col], suppress) for r in rows]
                ax.barh(labels, values, left=left, color=VERDICT_COLOURS[n % len(VERDICT_COLOURS)],
                        label=table.columns[col].label)
                left = [a + b for a, b in zip(left, values, strict=False)]
            ax.invert_yaxis()
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(chart.value_columns),
                      frameon=False, fontsize=8)
        else:
            col = chart.value_columns[0]
            values = [chart_value(r[col], suppress) for r in rows]
            shown = [cell_text(r[col], suppress) for r in rows]
            if chart.kind == "barh":
                bars = ax.barh(labels, values, color=BAR_COLOUR)
                ax.invert_yaxis()
            else:
                bars = ax.bar(labels, values, color=BAR_COLOUR)
                ax.tick_params(axis="x", labelrotation=20)
                for label in ax.get_xticklabels():
                    label.set_horizontalalignment("right")
            ax.bar_label(bars, labels=shown, padding=3, fontsize=8)
            ax.set_title(chart.title, fontsize=10, loc="left")
        if chart.kind in ("barh", "stacked"):
            ax.set_xlim(left=0, right=max(ax.get_xlim()[1], 1))
        else:
            ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1))
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # inline: no XML prologue or doctype


def html_page(report: Report, suppress: bool) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="nl"><head><meta charset="utf-8">',
             f"<title>{e(report.title)}</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>{e(report.title)}</h1>"]
    meta = _meta_lines(report, suppress)
    if not suppress:
        parts.append(f'<p class="internal">{e(meta[4])}</p>')
    parts.append('<ul class="meta">' + "".join(f"<li>{e(m)}</li>" for m in meta) + "</ul>")
    for table in visible_tables(report, suppress):
        parts.append(f'<h2 id="{e(table.key)}">{e(table.title)}</h2>')
        if table.chart is not None and table.rows:
            svg = _svg(table, suppress)
            if svg:
                parts.append(f'<div class="chart" role="img" aria-label="{e(table.chart.title)}">'
                             f"{svg}</div>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(c.label)}</th>" for c in table.columns)
                     + "</tr></thead><tbody>")
        for row in table.rows:
            cells = []
            for v in row:
                klass = ' class="num"' if isinstance(v, (int, Share, Days)) and not isinstance(v, bool) else ""
                cells.append(f"<td{klass}>{e(cell_text(v, suppress))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
        if table.note:
            parts.append(f'<p class="note">{e(table.note)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


__all__ = ["FORMATS", "SUPPRESSED", "cell_text", "html_page", "markdown", "write_report"]
