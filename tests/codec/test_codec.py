"""The payload codec (vangnet/codec.py): keys, formats, what is encrypted and what is refused."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from tests.conftest import TEST_KEY_FILE
from vangnet import codec
from vangnet.domain import CaseInput

K1, K2 = codec.new_key(), codec.new_key()


def ring(*ids: str) -> codec.Keyring:
    keys = {"a": K1, "b": K2}
    return codec.Keyring(tuple((i, keys[i]) for i in ids))


def plain(data: bytes = b'{"x":1}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


# ---- keys -------------------------------------------------------------------------------------

def test_keys_parse_from_commas_or_lines_with_comments_and_either_base64():
    urlsafe = base64.urlsafe_b64encode(K2).decode().rstrip("=")
    text = f"# rotated 2027-05\n{codec.key_entry('a', K1)}\n\nb:{urlsafe}  # the new one\n"
    keys = codec.parse_keys(text, "file")
    assert keys.ids == ["a", "b"] and keys.current_id == "b"
    assert codec.parse_keys(f"{codec.key_entry('a', K1)},{codec.key_entry('b', K2)}", "env").keys == keys.keys


@pytest.mark.parametrize("text, message", [
    ("just-a-key", "expected KEY_ID:BASE64"),
    ("a:", "expected KEY_ID:BASE64"),
    ("a:not base64!", "is not base64"),
    (f"a:{base64.b64encode(b'short').decode()}", "has 5 bytes; AES-256 needs 32"),
    (f"{codec.key_entry('a', K1)},{codec.key_entry('a', K2)}", "appears twice"),
    (f"bad id:{base64.b64encode(K1).decode()}", "use 1-64 letters"),
])
def test_malformed_keys_are_refused_precisely(text, message):
    with pytest.raises(codec.CodecConfigError, match=message):
        codec.parse_keys(text, "VANGNET_CODEC_KEYS")


def test_keys_come_from_the_environment_a_key_file_or_the_development_file(tmp_path):
    entry = codec.key_entry("a", K1)
    file = tmp_path / "keys"
    file.write_text(entry + "\n")
    none = tmp_path / "absent"
    assert codec.load_keyring({"VANGNET_CODEC_KEYS": entry}, dev_key_file=none).ids == ["a"]
    assert codec.load_keyring({"VANGNET_CODEC_KEY_FILE": str(file)}, dev_key_file=none).ids == ["a"]
    assert codec.load_keyring({}, dev_key_file=file).ids == ["a"]
    with pytest.raises(codec.CodecConfigError, match="not both"):
        codec.load_keyring({"VANGNET_CODEC_KEYS": entry, "VANGNET_CODEC_KEY_FILE": str(file)})
    with pytest.raises(codec.CodecConfigError, match="No such file"):
        codec.load_keyring({"VANGNET_CODEC_KEY_FILE": str(none)}, dev_key_file=none)
    # a process that writes cases refuses to start without a key; one that only reads may
    with pytest.raises(codec.CodecConfigError, match="no payload encryption key"):
        codec.load_keyring({}, dev_key_file=none)
    assert codec.load_keyring({}, dev_key_file=none, read_only=True).ids == []
    off = codec.load_keyring({"VANGNET_CODEC": "off", "VANGNET_CODEC_KEYS": entry}, dev_key_file=none)
    assert off.current_id is None and off.holds("a")
    assert off.encrypt(plain()) == plain()
    with pytest.raises(codec.CodecConfigError, match="expected 'on' or 'off'"):
        codec.load_keyring({"VANGNET_CODEC": "maybe"}, dev_key_file=none)


def test_the_test_keys_are_what_this_test_process_holds():
    assert os.environ["VANGNET_CODEC_KEY_FILE"] == str(TEST_KEY_FILE)
    assert codec.process_keyring().ids == ["test-1", "test-2"]
    assert codec.process_keyring().current_id == "test-2"


def test_a_development_key_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "data" / "codec-keys"
    key_id = codec.create_key_file(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert codec.parse_keys(path.read_text(), str(path)).ids == [key_id]
    with pytest.raises(FileExistsError):
        codec.create_key_file(path)
    assert codec.main(["init", str(path)]) == 0  # keeps it
    assert codec.parse_keys(path.read_text(), str(path)).ids == [key_id]


def test_the_command_prints_a_new_key_entry(capsys):
    assert codec.main(["new-key", "2027-05"]) == 0
    entry = capsys.readouterr().out.strip()
    assert codec.parse_keys(entry, "out").ids == ["2027-05"]
    assert codec.main(["new-key", "no spaces"]) == 1


# ---- payloads ---------------------------------------------------------------------------------

def test_a_payload_round_trips_with_its_own_metadata_and_a_fresh_nonce():
    keys = ring("a", "b")
    original = Payload(metadata={"encoding": b"json/plain", "messageType": b"X"}, data=b'{"reason": "free text"}')
    one, two = keys.encrypt(original, "case-x"), keys.encrypt(original, "case-x")
    assert one.metadata["encoding"] == codec.ENCODING
    assert one.metadata[codec.KEY_ID] == b"b" and codec.workflow_id_of(one) == "case-x"
    assert b"free text" not in one.data and one.data != two.data
    assert keys.decrypt(one) == original == keys.decrypt(two)
    assert keys.decrypt(original) is original  # plain passes through (histories before encryption)


def test_old_payloads_stay_readable_after_rotation_and_new_ones_need_the_new_key():
    old_only, rotated = ring("a"), ring("a", "b")
    before = old_only.encrypt(plain(), "case-x")
    assert rotated.decrypt(before) == plain()
    after = rotated.encrypt(plain(), "case-x")
    assert codec.key_id_of(after) == "b"
    with pytest.raises(codec.CodecKeyError, match="key 'b', which this process does not hold"):
        old_only.decrypt(after)


def test_an_altered_payload_does_not_decrypt():
    keys = ring("a")
    sealed = keys.encrypt(plain(), "case-x")
    flipped = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(codec.CodecKeyError, match="does not decrypt"):
        keys.decrypt(flipped)
    moved = Payload(metadata={**sealed.metadata, codec.WORKFLOW_ID: b"case-y"}, data=sealed.data)
    with pytest.raises(codec.CodecKeyError, match="does not decrypt"):
        keys.decrypt(moved)  # the workflow id is bound: a payload cannot be passed off as another case's
    same_id_other_key = codec.Keyring((("a", K2),))
    with pytest.raises(codec.CodecKeyError, match="does not decrypt"):
        same_id_other_key.decrypt(sealed)


async def test_the_data_converter_encrypts_values_and_failure_messages():
    converter = codec.data_converter(ring("a"))
    bound = converter.with_context(WorkflowSerializationContext(namespace="default", workflow_id="case-w"))
    value = CaseInput(tenancy_ref="T-1", corporation="woonbron", municipality="dordrecht")
    [payload] = await bound.encode([value])
    assert codec.is_encrypted(payload) and codec.workflow_id_of(payload) == "case-w"
    assert b"woonbron" not in payload.data
    assert await bound.decode([payload], [CaseInput]) == [value]

    failure = Failure()
    await converter.encode_failure(ApplicationError("reden: Kerkstraat 1", type="X"), failure)
    assert failure.message == "Encoded failure" and "Kerkstraat" not in str(failure)
    assert codec.is_encrypted(failure.encoded_attributes)
    error = await converter.decode_failure(failure)
    assert "Kerkstraat 1" in str(error)


async def test_a_memo_is_encrypted(temporal_env):
    """Memo (not used by the cases today) goes through the codec like everything else."""
    client = temporal_env.client
    handle = await client.start_workflow(
        "TenantCaseWorkflow", CaseInput(tenancy_ref="M-1", corporation="woonbron", municipality="dordrecht"),
        id=f"memo-{uuid.uuid4().hex[:8]}", task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        memo={"note": "Kerkstraat 1"})
    try:
        desc = await handle.describe()
        [stored] = desc.raw_description.workflow_execution_info.memo.fields.values()
        assert codec.is_encrypted(stored) and b"Kerkstraat" not in stored.data
        assert await desc.memo_value("note") == "Kerkstraat 1"
    finally:
        await handle.terminate()


def test_payloads_in_finds_nested_payloads_and_can_skip_search_attributes():
    from temporalio.api.common.v1 import SearchAttributes
    from temporalio.api.history.v1 import HistoryEvent

    event = HistoryEvent()
    attrs = event.workflow_execution_started_event_attributes
    attrs.input.payloads.append(plain(b"1"))
    attrs.search_attributes.CopyFrom(SearchAttributes(indexed_fields={"CaseStage": plain(b'"crisis"')}))
    attrs.memo.fields["m"].CopyFrom(plain(b"2"))
    assert sorted(p.data for p in codec.payloads_in(event)) == [b'"crisis"', b"1", b"2"]
    assert sorted(p.data for p in codec.payloads_in(event, skip_search_attributes=True)) == [b"1", b"2"]


def test_the_dev_key_file_is_ignored_by_git():
    root = Path(__file__).resolve().parents[2]
    assert "data/" in (root / ".gitignore").read_text().split()
