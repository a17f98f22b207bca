"""Reading request bodies as JSON within limits (RULES §12 I6): nesting deeper than
MAX_JSON_DEPTH is refused before the parser sees it (a deeply nested body made Python's parser
recurse until it failed: a 500), and NDJSON is read line by line, so that one bad line refuses
that item only and never the batch."""

from __future__ import annotations

import json
import re
from typing import Any

from starter.service.errors import IntakeError, invalid

MAX_JSON_DEPTH = 32  # an event is one level deep, a batch two: plenty of room, no recursion risk

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nests_deeper_than(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than `limit` deep (strings ignored).

    No parsing and no Python loop over the text: strings are cut out and everything but the
    brackets dropped (both in C), then innermost pairs are removed level by level, at most
    `limit` times. Unbalanced brackets are the parser's to report."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    for _ in range(limit):
        brackets, removed = _PAIR.subn(b"", brackets)
        if not brackets or not removed:
            return False
    return _PAIR.search(brackets) is not None


def parse_json(raw: bytes, what: str = "the body") -> Any:
    """The JSON value of `raw`, or IntakeError(422) saying what is wrong with it."""
    if nests_deeper_than(raw):
        raise _too_deep(what)
    try:
        return json.loads(raw)
    except RecursionError:  # unbalanced and deep: refused all the same
        raise _too_deep(what) from None
    except (ValueError, UnicodeDecodeError):
        raise invalid("invalid_json", f"{what} is not valid JSON") from None


def _too_deep(what: str) -> IntakeError:
    return invalid("json_too_deep", f"{what} nests arrays or objects more than {MAX_JSON_DEPTH} "
                                    "levels deep")


def ndjson_items(raw: bytes) -> list[tuple[int, Any]]:
    """(line number, event or IntakeError) for each non-blank line of an NDJSON document."""
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, parse_json(line, f"line {number}")))
        except IntakeError as err:
            items.append((number, err))
    return items


__all__ = ["MAX_JSON_DEPTH", "nests_deeper_than", "parse_json", "ndjson_items"]
