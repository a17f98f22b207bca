"""One way to connect to Temporal: its own environment configuration plus our data converter."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig

from vangnet import tracing


def connect_config() -> dict[str, Any]:
    """Connection settings from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, a profile file, ..."""
    config = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", "localhost:7233")
    return config


def project_data_converter(*, read_only: bool = False) -> DataConverter:
    """The data converter of every client, worker and replayer: pydantic JSON, payloads
    encrypted with the process's keys (vangnet/codec.py). Raises CodecConfigError without keys,
    unless `read_only` (replaying and reading histories)."""
    from vangnet.codec import data_converter, process_keyring

    return data_converter(process_keyring(read_only))


async def connect(**overrides: Any) -> Client:
    config = connect_config()
    config.setdefault("interceptors", tracing.client_interceptors())  # issue 13: OTEL_* tracing
    config.update(overrides)
    target = config.pop("target_host")
    config.setdefault("data_converter", project_data_converter())
    return await Client.connect(target, **config)
