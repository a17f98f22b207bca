"""`python -m starter import FILE.csv|FILE.ndjson --party CODE`: month-end ledger runs for operators.

The file's events go through the same batch path as `POST /v1/events/batch` (as the given party,
checked like the API), in batches of up to 10,000, with a progress bar and a summary. Rows that
are refused are written, with their reasons, to `FILE.rejected.csv` (or `.ndjson`) next to the
input; the command then exits 1.

CSV: a header row; columns `type`, `tenancy_ref`, `corporation`, `municipality`, `event_id`,
optionally `occurred_at`, and the events' fields (RULES §4). Empty cells are left out (a field
that may be null, like `new_eviction_date`, becomes null). Numbers, `true`/`false` and dates are
read from the text by the events' own definitions.
"""

from __future__ import annotations

import csv
import json
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from starter.cli import app, fail
from starter.runner import caller, run

if TYPE_CHECKING:
    from starter.service import IntakeService

_WHOLE = re.compile(r"^-?[0-9]{1,15}$")


def _field(event_type: Any, name: str) -> Any:
    from vangnet.domain import EVENT_MODELS

    model = EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
    return model.model_fields.get(name) if model else None


def _nullable(event_type: Any, name: str) -> bool:
    field = _field(event_type, name)
    if field is None:
        return False
    return type(None) in typing.get_args(field.annotation)


def _cell(event_type: Any, name: str, value: str) -> Any:
    """A CSV cell is text; an integer field (an amount, RULES §11 A12) takes its whole number."""
    field = _field(event_type, name)
    if field is not None and field.annotation is int and _WHOLE.match(value):
        return int(value)
    return value


def csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str], dict[str, Any]]]]:
    """(header, [(line, raw row, event)]) of a CSV file."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            fail(f"{path} has no header row")
        header = [h.strip() for h in reader.fieldnames]
        reader.fieldnames = header
        rows = []
        line = reader.line_num
        for raw in reader:
            event: dict[str, Any] = {}
            for name, value in raw.items():
                if name is None:  # more cells than headers
                    event["_extra_cells"] = value
                    continue
                value = (value or "").strip()
                if value:
                    event[name] = _cell(raw.get("type"), name, value)
                elif _nullable(raw.get("type"), name):
                    event[name] = None
            rows.append((line + 1, raw, event))
            line = reader.line_num
        return header, rows


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="a .csv file (header row) or .ndjson/.jsonl file (one event per line)"),
    party: str = typer.Option(..., "--party", "-p", help="the party the events come from (registry code, or operator)"),
    rejected: Path = typer.Option(None, "--rejected", help="where to write refused rows (default: FILE.rejected.csv|.ndjson)"),
) -> None:
    """Import events from a file as one party: progress bar, summary, file of refused rows."""
    from starter.schemas import MAX_BATCH
    from starter.service import ndjson_items

    suffix = file.suffix.lower()
    if suffix == ".csv":
        header, rows = csv_rows(file)
        items: list[tuple[int, Any]] = [(line, event) for line, _, event in rows]
        raws = {line: raw for line, raw, _ in rows}
    elif suffix in (".ndjson", ".jsonl"):
        header, raws = [], {}
        items = ndjson_items(file.read_bytes())
    else:
        fail(f"{file.name}: expected a .csv or .ndjson file")
    rejected_path = rejected or file.with_name(f"{file.stem}.rejected{'.csv' if suffix == '.csv' else '.ndjson'}")

    async def work(service: IntakeService) -> list[tuple[int, dict[str, Any]]]:
        p = await caller(service, party, None)
        results: list[tuple[int, dict[str, Any]]] = []
        with Progress(TextColumn("[bold]importing[/]"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=False) as bar:
            task = bar.add_task("import", total=len(items))
            for start in range(0, len(items), MAX_BATCH):
                chunk = items[start:start + MAX_BATCH]
                done_before = start

                def progress(done: int, _total: int, base: int = done_before) -> None:
                    bar.update(task, completed=base + done)

                out = await service.submit_batch(p, [item for _, item in chunk],
                                                 route="cli import", progress=progress)
                results += [(chunk[r["index"]][0], r) for r in out]
        return results

    results = run(work)
    accepted = [r for _, r in results if r["status"] == 202]
    refused = [(line, r) for line, r in results if r["status"] != 202]
    duplicates = sum(1 for r in accepted if r.get("duplicate"))
    typer.echo(f"{file.name}: {len(results)} events, {len(accepted)} accepted "
               f"({duplicates} duplicates), {len(refused)} rejected")
    if not refused:
        return
    _write_rejected(rejected_path, suffix, header, raws, items, refused)
    fail(f"{len(refused)} of {len(results)} events rejected; reasons in {rejected_path}")


def _write_rejected(path: Path, suffix: str, header: list[str], raws: dict[int, dict[str, str]],
                    items: list[tuple[int, Any]], refused: list[tuple[int, dict[str, Any]]]) -> None:
    by_line = dict(items)
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "status", "error_code", "error_field", "error_message", *header])
            for line, r in refused:
                raw = raws.get(line, {})
                err = r.get("error") or {}
                writer.writerow([line, r["status"], err.get("code", ""), err.get("field", ""),
                                 err.get("message", ""), *[raw.get(h, "") for h in header]])
    else:
        with path.open("w", encoding="utf-8") as fh:
            for line, r in refused:
                event = by_line.get(line)
                fh.write(json.dumps({"line": line, "status": r["status"], "error": r.get("error"),
                                     "event": event if isinstance(event, dict) else None},
                                    ensure_ascii=False) + "\n")
