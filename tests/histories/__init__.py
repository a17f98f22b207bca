"""Checked-in case histories (one JSON file per run) used as replay fixtures; see scenarios.py.

The top-level files are the scenarios as the current workflow code makes them (rewritten by
test_regenerate.py). When a patch changes the command sequence, the files made before it move to
archive/before-<patch>/ and stay there as long as such cases may be running: the replay test runs
over both, so the patched code is checked against old and new cases.

The top-level files and the archive were recorded before payload encryption (issue 12): their
payloads are plain, and they must keep replaying (the codec passes plain payloads through). A
regeneration writes the top-level files encrypted with the test keys (the test environment's
data converter); the archive keeps the plain ones.
encrypted/ holds histories whose payloads are encrypted with the public test keys in
tests/codec-test-keys (FOR TESTS ONLY), one of them across a key rotation (rotation.py).
webhooks/ holds cases whose parties have a webhook (issue 10: the case leaves pushing to the
outbox dispatcher, patch webhooks-outbox-v1; before-webhooks-outbox-v1/ one whose run pushed itself)."""

from __future__ import annotations

from pathlib import Path

HISTORIES = Path(__file__).resolve().parent
ARCHIVE = HISTORIES / "archive"
ENCRYPTED = HISTORIES / "encrypted"
WEBHOOKS = HISTORIES / "webhooks"  # issue 10: cases whose parties have webhooks (the outbox path)


def history_files(name: str | None = None) -> list[Path]:
    """Every history file, or the runs of one scenario (NAME.json or NAME.1.json, NAME.2.json, ...)."""
    files = sorted(HISTORIES.glob("*.json"))
    if name is None:
        return files
    return [f for f in files if f.name.split(".")[0] == name]


def archived_history_files() -> list[Path]:
    """Histories made by earlier workflow code (archive/before-<patch>/*.json)."""
    return sorted(ARCHIVE.glob("*/*.json"))


def webhook_history_files() -> list[Path]:
    """Histories of cases whose parties have webhooks (webhooks/*.json, issue 10)."""
    return sorted([*WEBHOOKS.glob("*.json"), *WEBHOOKS.glob("*/*.json")])


def encrypted_history_files() -> list[Path]:
    """Histories with encrypted payloads (encrypted/*.json, the test keys)."""
    return sorted(ENCRYPTED.glob("*.json"))


def patches_taken(path: Path) -> set[str]:
    """The `workflow.patched(...)` ids whose markers a history file holds."""
    import base64
    import json

    ids = set()
    for event in json.loads(path.read_text(encoding="utf-8"))["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker.get("markerName") == "core_patch":
            data = marker["details"]["patch-data"]["payloads"][0]["data"]
            ids.add(json.loads(base64.b64decode(data))["id"])
    return ids
