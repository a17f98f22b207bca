"""Payload encryption: AES-256-GCM over everything Temporal stores for a case (issue 12).

Every client and worker of the project gets its data converter from `data_converter()` (through
`vangnet.temporal_client`), so every payload Temporal writes to its database is encrypted:
workflow input, signal and update arguments, activity inputs and results, local-activity results,
query results (the UI's current details too), memo, the UI's summaries and details, and failure
details (`encode_common_attributes`: a failure's message and stack trace travel as an encoded
payload; the server sees "Encoded failure").

An encrypted payload:

    metadata  encoding = "binary/encrypted"
              encryption-key-id = the key's id (the keyring holds several: keys rotate)
              workflow-id = the case it belongs to, when the SDK says so (a code, for the
                            codec server's log of who decoded which case; authenticated)
    data      12-byte nonce + AES-256-GCM(ciphertext of the whole original Payload, its own
              metadata included) + tag; associated data binds the key id and the workflow id

What stays plain, by Temporal's design:
- search attributes: the server indexes them, so the SDK never passes them through a codec
  (`skip_search_attributes` in its payload visitor, `encode_search_attributes` in the client).
  vangnet's carry codes only (vangnet/search_attributes.py);
- what the SDK core writes itself: the `core_patch` marker (the patch id) and the local-activity
  marker's bookkeeping (activity id, type, attempt, time); the local activity's *result* in it
  is encrypted;
- workflow ids, types, task queues, activity ids and timer ids (codes only, RULES §9).

Decoding passes an unencrypted payload through unchanged: histories recorded before encryption
was switched on keep replaying and auditing.

Keys (never in the repository): `VANGNET_CODEC_KEYS` or the file `VANGNET_CODEC_KEY_FILE`, else
`data/codec-keys` (the development key `dev.py run` creates). Both hold entries `KEY_ID:BASE64`
(32 random bytes, standard or URL-safe base64), separated by commas or new lines, `#` comments in
a file; **the last entry encrypts**, every entry decrypts. To rotate: add a new key at the end,
restart workers and clients, keep the old ones as long as a history encrypted with them may be
read (retention, exports, audits). `VANGNET_CODEC=off` writes plain payloads (and still reads
encrypted ones whose keys are configured): for comparisons in benchmarks, never in production.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "workflow-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256

ENV_KEYS = "VANGNET_CODEC_KEYS"
ENV_KEY_FILE = "VANGNET_CODEC_KEY_FILE"
ENV_SWITCH = "VANGNET_CODEC"
ROOT = Path(__file__).resolve().parent.parent
DEV_KEY_FILE = ROOT / "data" / "codec-keys"

_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_AAD_PREFIX = b"vangnet-codec/1"


class CodecConfigError(ValueError):
    """The keys are missing or malformed: a process that writes cases must not start."""


class CodecKeyError(ValueError):
    """A payload cannot be decrypted: its key is not held, or it was altered."""


@dataclass(frozen=True)
class Keyring:
    """AES-256-GCM keys by id, oldest first; the last one (`current_id`) encrypts."""

    keys: tuple[tuple[str, bytes], ...] = ()
    encrypts: bool = True  # False: reads with its keys, writes plain payloads (VANGNET_CODEC=off)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for key_id, key in self.keys:
            if not _KEY_ID.match(key_id):
                raise CodecConfigError(
                    f"key id {key_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
            if key_id in seen:
                raise CodecConfigError(f"key id {key_id!r} appears twice")
            if len(key) != KEY_BYTES:
                raise CodecConfigError(
                    f"key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
            seen.add(key_id)
        object.__setattr__(self, "_aead", {key_id: AESGCM(key) for key_id, key in self.keys})

    @property
    def current_id(self) -> str | None:
        return self.keys[-1][0] if self.keys and self.encrypts else None

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    def holds(self, key_id: str) -> bool:
        return key_id in self._aead  # type: ignore[attr-defined]

    def encrypt(self, payload: Payload, workflow_id: str | None = None) -> Payload:
        key_id = self.current_id
        if key_id is None:
            return payload
        nonce = secrets.token_bytes(NONCE_BYTES)
        aead: AESGCM = self._aead[key_id]  # type: ignore[attr-defined]
        sealed = aead.encrypt(nonce, payload.SerializeToString(), _aad(key_id, workflow_id))
        metadata = {"encoding": ENCODING, KEY_ID: key_id.encode()}
        if workflow_id:
            metadata[WORKFLOW_ID] = workflow_id.encode()
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; an unencrypted one as it is."""
        if not is_encrypted(payload):
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead: AESGCM | None = self._aead.get(key_id)  # type: ignore[attr-defined]
        if aead is None:
            held = ", ".join(self.ids) or "none"
            raise CodecKeyError(
                f"payload encrypted with key {key_id!r}, which this process does not hold "
                f"(keys held: {held}); add it to {ENV_KEYS} or {ENV_KEY_FILE}")
        workflow_id = payload.metadata.get(WORKFLOW_ID, b"").decode(errors="replace") or None
        data = payload.data
        try:
            plain = aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(key_id, workflow_id))
        except InvalidTag:
            raise CodecKeyError(
                f"payload under key {key_id!r} does not decrypt: altered, or a different key "
                "with the same id") from None
        return Payload.FromString(plain)


def _aad(key_id: str, workflow_id: str | None) -> bytes:
    return b"\x00".join((_AAD_PREFIX, key_id.encode(), (workflow_id or "").encode()))


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


def key_id_of(payload: Payload) -> str | None:
    """The id of the key a payload is encrypted with (None for a plain payload)."""
    return payload.metadata[KEY_ID].decode() if is_encrypted(payload) and KEY_ID in payload.metadata else None


def workflow_id_of(payload: Payload) -> str | None:
    raw = payload.metadata.get(WORKFLOW_ID)
    return raw.decode(errors="replace") if raw else None


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """The Temporal payload codec over a `Keyring`. Bound to a workflow (the SDK's serialization
    context) it records the workflow id with each payload it encrypts."""

    def __init__(self, keyring: Keyring, workflow_id: str | None = None) -> None:
        self.keyring = keyring
        self.workflow_id = workflow_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.keyring.encrypt(p, self.workflow_id) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.keyring.decrypt(p) for p in payloads]

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = getattr(context, "workflow_id", None)
        if workflow_id == self.workflow_id or not isinstance(workflow_id, str):
            return self
        return EncryptionCodec(self.keyring, workflow_id)


def data_converter(keyring: Keyring) -> DataConverter:
    """The project's one data converter: pydantic JSON, then AES-256-GCM with `keyring`, failure
    messages and stack traces moved into the encrypted part."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# ---------------------------------------------------------------------------------------------
# Keys from the environment or a key file
# ---------------------------------------------------------------------------------------------


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_entry(key_id: str, key: bytes) -> str:
    """One `KEY_ID:BASE64` entry (for a key file or VANGNET_CODEC_KEYS)."""
    return f"{key_id}:{base64.b64encode(key).decode()}"


def parse_keys(text: str, source: str) -> Keyring:
    """Entries `KEY_ID:BASE64`, separated by commas or new lines, `#` comments; oldest first."""
    entries: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        for raw in line.split(","):
            raw = raw.strip()
            if not raw:
                continue
            key_id, sep, material = raw.partition(":")
            where = f"{source}, line {number}" if "\n" in text.strip() else source
            if not sep or not key_id.strip() or not material.strip():
                raise CodecConfigError(f"{where}: expected KEY_ID:BASE64, got an entry without both")
            try:
                material = material.strip()
                padded = material + "=" * (-len(material) % 4)
                key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError):
                raise CodecConfigError(f"{where}: key {key_id.strip()!r} is not base64") from None
            entries.append((key_id.strip(), key))
    try:
        return Keyring(tuple(entries))
    except CodecConfigError as err:
        raise CodecConfigError(f"{source}: {err}") from None


def load_keyring(env: Mapping[str, str] | None = None, *, dev_key_file: Path = DEV_KEY_FILE,
                 read_only: bool = False) -> Keyring:
    """The keys this process holds, from `VANGNET_CODEC_KEYS`, else `VANGNET_CODEC_KEY_FILE`,
    else the development key file. Raises CodecConfigError when they are malformed, or when
    there are none, unless `VANGNET_CODEC=off` or `read_only` (a process that only reads
    histories: plain ones need no key, an encrypted one says which key it lacks)."""
    env = os.environ if env is None else env
    switch = env.get(ENV_SWITCH, "").strip().lower()
    if switch not in ("", "on", "off"):
        raise CodecConfigError(f"{ENV_SWITCH}={env[ENV_SWITCH]!r}: expected 'on' or 'off'")
    inline = env.get(ENV_KEYS, "").strip()
    file = env.get(ENV_KEY_FILE, "").strip()
    if inline and file:
        raise CodecConfigError(f"set {ENV_KEYS} or {ENV_KEY_FILE}, not both")
    if inline:
        keyring = parse_keys(inline, ENV_KEYS)
    elif file or dev_key_file.exists():
        path = Path(file) if file else dev_key_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise CodecConfigError(f"{ENV_KEY_FILE}={path}: {err.strerror or err}") from None
        keyring = parse_keys(text, str(path))
    else:
        keyring = Keyring()
    if switch == "off":
        # Plain payloads out; encrypted ones in are still read with whatever keys are held.
        return Keyring(keyring.keys, encrypts=False)
    if keyring.current_id is None and not read_only:
        raise CodecConfigError(
            f"no payload encryption key: set {ENV_KEYS} (KEY_ID:BASE64, the last one encrypts) or "
            f"{ENV_KEY_FILE} (`python3 dev.py run` creates data/codec-keys for development)")
    return keyring


@lru_cache(maxsize=2)
def process_keyring(read_only: bool = False) -> Keyring:
    """The keyring of this process's environment, loaded once (see `load_keyring`)."""
    return load_keyring(read_only=read_only)


def decrypt_payload(payload: Payload, keyring: Keyring | None = None) -> Payload:
    """Synchronous decode of one payload (history files, the audit): plain ones pass through;
    an encrypted one needs the process's keys."""
    if not is_encrypted(payload):
        return payload
    return (keyring or process_keyring(read_only=True)).decrypt(payload)


def create_key_file(path: Path, key_id: str | None = None) -> str:
    """Write a new key file with one fresh key (mode 0600); returns the key id."""
    from datetime import UTC, datetime

    key_id = key_id or "dev-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# vangnet payload keys (KEY_ID:BASE64), oldest first; the last one encrypts.\n"
                  "# Keep this file out of version control and back it up: without it the\n"
                  "# histories encrypted with these keys cannot be read.\n")
        out.write(key_entry(key_id, new_key()) + "\n")
    return key_id


def payloads_in(obj: object, *, skip_search_attributes: bool = False) -> Iterable[Payload]:
    """Every Payload inside a protobuf message (a history, an event), depth first; without the
    search attributes (plain by Temporal's design) if asked."""
    from google.protobuf.message import Message

    if isinstance(obj, Payload):
        yield obj
        return
    if not isinstance(obj, Message):
        return
    for field, value in obj.ListFields():
        if field.message_type is None:
            continue
        if skip_search_attributes and field.message_type.full_name == "temporal.api.common.v1.SearchAttributes":
            continue
        items = (value.values() if field.message_type.GetOptions().map_entry
                 else value if field.is_repeated else [value])
        for item in items:
            yield from payloads_in(item, skip_search_attributes=skip_search_attributes)


def main(argv: list[str] | None = None) -> int:
    """`python -m vangnet.codec new-key [KEY_ID]` prints a new `KEY_ID:BASE64` entry (to append to
    the key file when rotating); `init FILE` writes a key file with one new key unless FILE
    exists (dev.py run); `keys` names the keys this environment holds and which one encrypts."""
    import argparse
    import sys
    from datetime import UTC, datetime

    parser = argparse.ArgumentParser(prog="python -m vangnet.codec", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new-key", help="print a new KEY_ID:BASE64 entry")
    new.add_argument("key_id", nargs="?", default=None)
    init = sub.add_parser("init", help="create a key file with one new key, unless it exists")
    init.add_argument("file", type=Path)
    sub.add_parser("keys", help="the key ids this environment holds (never the keys)")
    args = parser.parse_args(argv)
    try:
        if args.command == "new-key":
            key_id = args.key_id or datetime.now(UTC).strftime("%Y-%m-%d")
            Keyring(((key_id, bytes(KEY_BYTES)),))  # checks the id
            print(key_entry(key_id, new_key()))
        elif args.command == "init":
            if args.file.exists():
                print(f"{args.file} exists: keeping it")
            else:
                print(f"created {args.file} with a new payload key ({create_key_file(args.file)})")
        else:
            ring = load_keyring()
            current = ring.current_id or "none: payloads are written plain"
            print(f"keys: {', '.join(ring.ids) or 'none'}; encrypting with: {current}")
    except (CodecConfigError, OSError) as err:
        print(f"vangnet.codec: {err}", file=sys.stderr)
        return 1
    return 0


__all__ = [
    "ENCODING",
    "KEY_ID",
    "WORKFLOW_ID",
    "ENV_KEYS",
    "ENV_KEY_FILE",
    "ENV_SWITCH",
    "DEV_KEY_FILE",
    "CodecConfigError",
    "CodecKeyError",
    "Keyring",
    "EncryptionCodec",
    "data_converter",
    "parse_keys",
    "load_keyring",
    "process_keyring",
    "decrypt_payload",
    "create_key_file",
    "new_key",
    "key_entry",
    "is_encrypted",
    "key_id_of",
    "workflow_id_of",
    "payloads_in",
]


if __name__ == "__main__":
    raise SystemExit(main())
