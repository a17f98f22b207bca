"""Benchmark 6 — the payload codec on its own (issue 12): what encryption costs per payload.

No server: the payloads of a real case (tests/histories/encrypted/key_rotation.json, a full
lifecycle under the public test keys) encrypted and decrypted with AES-256-GCM, and one event
through the whole data converter as the SDK calls it (bound to the case's serialization context,
converted, encoded, decoded), with the codec and with the bare pydantic converter.

    .venv/bin/python -m bench.codec            # about 10 s
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, WorkflowSerializationContext

from bench import _harness as h
from vangnet import codec

FIXTURE = h.ROOT / "tests" / "histories" / "encrypted" / "key_rotation.json"
KEYS = h.ROOT / "tests" / "codec-test-keys"


def _per_call_us(fn: Any, n: int, rounds: int = 5) -> float:
    best = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(best)


async def _converter_us(conv: DataConverter, value: Any, n: int) -> float:
    context = WorkflowSerializationContext(namespace="default", workflow_id="case-woonbron-H-1")
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            bound = conv.with_context(context)
            await bound.decode(await bound.encode([value]), [dict])
        rounds.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(rounds)


async def main(args: argparse.Namespace) -> None:
    keyring = codec.parse_keys(Path(KEYS).read_text(), str(KEYS))
    history = WorkflowHistory.from_json("fixture", Path(FIXTURE).read_text())
    sealed = [p for e in history.events for p in codec.payloads_in(e) if codec.is_encrypted(p)]
    plain = [keyring.decrypt(p) for p in sealed]
    sizes = [len(p.data) for p in plain]
    n = args.n
    enc = _per_call_us(lambda: [keyring.encrypt(p, "case-x") for p in plain], n) / len(plain)
    dec = _per_call_us(lambda: [keyring.decrypt(p) for p in sealed], n) / len(sealed)
    event = {"event_id": "wb-2026-11-001", "source": "woonbron", "arrears_cents": 92_500,
             "monthly_rent_cents": 92_500, "arrears_since": "2026-11-01"}
    bare = await _converter_us(pydantic_data_converter, event, n * 10)
    full = await _converter_us(codec.data_converter(keyring), event, n * 10)
    rows = [
        h.Row("payloads in one full-lifecycle history", len(sealed), None, fmt="{:,.0f}"),
        h.Row("plaintext bytes per payload, median", statistics.median(sizes), None, fmt="{:,.0f}"),
        h.Row("plaintext bytes per payload, largest", max(sizes), None, fmt="{:,.0f}"),
        h.Row("AES-256-GCM encrypt, µs per payload", enc, None, fmt="{:,.1f}"),
        h.Row("AES-256-GCM decrypt, µs per payload", dec, None, fmt="{:,.1f}"),
        h.Row("one event: bind context + encode + decode, µs (vangnet vs bare)", full, bare, fmt="{:,.1f}"),
    ]
    print(h.table("The payload codec (no server)", rows))
    h.save("codec", {"args": vars(args), "encrypt_us": enc, "decrypt_us": dec,
                     "converter_us": {"codec": full, "bare": bare}, "payloads": len(sealed),
                     "sizes": sizes}, args.json)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="repetitions over the history's payloads")
    p.add_argument("--json", default=None, help="where to write the results (default bench/results/)")
    return p


if __name__ == "__main__":
    h.run(lambda: main(parser().parse_args()))
