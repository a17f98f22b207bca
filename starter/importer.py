"""`python -m starter import FILE.csv|FILE.ndjson --party CODE`: month-end ledger runs for operators.

The file's events go through the same batch path as `POST /v1/events/batch` (as the given party,
checked like the API), in batches of up to 10,000, with a progress bar and a summary. Rows that
are refused are written, with their reasons, to `FILE.rejected.csv` (or `.ndjson`) next to the
input; the command then exits 1.

CSV: a header row; columns `type`, `tenancy_ref`, `corporation`, `municipality`, `event_id`,
optionally `occurred_at`, and the events' fields (RULES §4). Empty cells are left out (a field
that may be null, like `new_eviction_date`, becomes null). Numbers, `true`/`false` and dates are
read from the text by the events' own definitions. As spreadsheets export (issue 10): the
separator (comma, semicolon or tab) is taken from the header line, a byte-order mark is skipped,
and an amount may be given in euros in a column `<field>_euro` instead of `<field>_cents`
(`arrears_euro` = `925,00` or `925.00` becomes `arrears_cents` = 92500). A cell that cannot be
read is refused for its row alone, naming the cell (`invalid_cell`).

A file that is not UTF-8 text, or an NDJSON line nested too deep, is a one-line error (the rows
are then imported or refused one by one as always). In `FILE.rejected.csv` every cell that a
spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return) is
written with a leading apostrophe, so opening the file runs nothing.
"""

from __future__ import annotations

import csv
import io
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


def _annotation(event_type: Any, name: str) -> Any:
    from vangnet.domain import EVENT_MODELS

    model = EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
    field = model.model_fields.get(name) if model else None
    return field.annotation if field is not None else None


def _nullable(event_type: Any, name: str) -> bool:
    return type(None) in typing.get_args(_annotation(event_type, name))


def _typed(event_type: Any, name: str, text: str) -> Any:
    """A cell as the JSON value it stands for, where the event's field is a number or a yes/no:
    a CSV holds only text, and the events take amounts as integers and flags as booleans
    (RULES §11 A12), never as text. Anything else stays text, for the event to judge."""
    annotation = _annotation(event_type, name)
    kinds = set(typing.get_args(annotation)) or {annotation}
    if int in kinds and re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    if bool in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: Any) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe before a formula's first sign."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_START) else text


def read_text(path: Path) -> str:
    """The file as UTF-8 text, or a one-line error naming where it is not."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        fail(f"{path.name} is not UTF-8 text: byte {err.start} (line {line}) cannot be read; "
             "save the file as UTF-8 and import it again")


def csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str], dict[str, Any]]]]:
    """(header, [(line, raw row, event)]) of a CSV file."""
    try:
        return _csv_rows(path)
    except csv.Error as err:
        fail(f"{path.name} is not a CSV file this import can read: {err}")


DELIMITERS = (",", ";", "\t")
EURO_SUFFIXES = ("_euro", "_eur")


def detect_delimiter(text: str) -> str:
    """The header line's separator: a comma, a semicolon (Dutch spreadsheet exports) or a tab,
    whichever it holds most of."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class CellError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def euro_to_cents(text: str) -> int:
    """`925,00`, `1.234,56`, `925.00`, `€ 925` → cents. Decimal comma or point; thousands
    separators (point, space, comma) are allowed when the decimals are there."""
    t = text.replace("€", "").replace("\u00a0", "").replace(" ", "").strip()
    m = re.fullmatch(r"(-?)(\d{1,3}(?:[.,]\d{3})*|\d+)(?:([.,])(\d{1,2}))?", t)
    if not m:
        raise ValueError(text)
    sign, whole, sep, frac = m.groups()
    if sep and sep in whole:  # "1.234.56": the decimals' sign used as thousands separator too
        raise ValueError(text)
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", whole) and not sep and "," in whole and "." not in whole:
        raise ValueError(text)  # "1,234" is ambiguous: thousands or decimals?
    cents = int(re.sub(r"[.,]", "", whole)) * 100 + int((frac or "0").ljust(2, "0"))
    return -cents if sign else cents


def _convert(event_type: Any, name: str, value: str) -> tuple[str, Any]:
    """(field, value) of one non-empty cell: a `*_euro` column goes to its `*_cents` field."""
    for suffix in EURO_SUFFIXES:
        if name.endswith(suffix):
            target = name[: -len(suffix)] + "_cents"
            try:
                return target, euro_to_cents(value)
            except ValueError:
                raise CellError(name, f"{name}: {value!r} is not an amount in euros "
                                "(write it as 925,00 or 925.00)") from None
    if name.endswith("_cents") and re.fullmatch(r"-?[\d.]+,\d{1,2}|-?\d+\.\d{1,2}", value):
        raise CellError(name, f"{name} is in cents (925,00 euro is 92500): {value!r} looks like "
                        f"euros; write cents, or name the column {name[:-6]}_euro")
    return name, _typed(event_type, name, value)


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str], dict[str, Any]]]]:
    text = read_text(path)
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=detect_delimiter(text))
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
                    try:
                        field, typed = _convert(raw.get("type"), name, value)
                        event[field] = typed
                    except CellError as err:
                        event.setdefault("_cell_errors", []).append((err.field, str(err)))
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
        items = ndjson_items(read_text(file).encode("utf-8"))
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

                # A cell this import could not read (an amount in euros, say) is answered here,
                # per row, with the cell's name; the other rows go through the intake.
                local: dict[int, dict[str, Any]] = {
                    i: err for i, (_, item) in enumerate(chunk) if (err := _cell_error(item)) is not None}
                send = [(i, item) for i, (_, item) in enumerate(chunk) if i not in local]
                out = await service.submit_batch(p, [item for _, item in send],
                                                 route="cli import", progress=progress) if send else []
                answered = {send[r["index"]][0]: r for r in out} | local
                results += [(chunk[i][0], answered[i]) for i in range(len(chunk))]
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


def _cell_error(item: Any) -> dict[str, Any] | None:
    if not (isinstance(item, dict) and item.get("_cell_errors")):
        return None
    field, message = item["_cell_errors"][0]
    return {"index": -1, "status": 422, "error": {"code": "invalid_cell", "field": field, "message": message}}


def _write_rejected(path: Path, suffix: str, header: list[str], raws: dict[int, dict[str, str]],
                    items: list[tuple[int, Any]], refused: list[tuple[int, dict[str, Any]]]) -> None:
    by_line = dict(items)
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([spreadsheet_safe(h) for h in
                             ["line", "status", "error_code", "error_field", "error_message", *header]])
            for line, r in refused:
                raw = raws.get(line, {})
                err = r.get("error") or {}
                writer.writerow([spreadsheet_safe(c) for c in
                                 [line, r["status"], err.get("code", ""), err.get("field", ""),
                                  err.get("message", ""), *[raw.get(h, "") for h in header]]])
    else:
        with path.open("w", encoding="utf-8") as fh:
            for line, r in refused:
                event = by_line.get(line)
                fh.write(json.dumps({"line": line, "status": r["status"], "error": r.get("error"),
                                     "event": event if isinstance(event, dict) else None},
                                    ensure_ascii=False) + "\n")
