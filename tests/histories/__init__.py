"""Checked-in case histories (one JSON file per run) used as replay fixtures; see scenarios.py."""

from __future__ import annotations

from pathlib import Path

HISTORIES = Path(__file__).resolve().parent


def history_files(name: str | None = None) -> list[Path]:
    """Every history file, or the runs of one scenario (NAME.json or NAME.1.json, NAME.2.json, ...)."""
    files = sorted(HISTORIES.glob("*.json"))
    if name is None:
        return files
    return [f for f in files if f.name.split(".")[0] == name]
