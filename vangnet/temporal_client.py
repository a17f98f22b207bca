"""One way to connect to Temporal: its own environment configuration plus our data converter."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

from vangnet import tracing


def connect_config() -> dict[str, Any]:
    """Connection settings from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, a profile file, ..."""
    config = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", "localhost:7233")
    return config


async def connect(**overrides: Any) -> Client:
    config = connect_config()
    config.setdefault("interceptors", tracing.client_interceptors())  # issue 13: OTEL_* tracing
    config.update(overrides)
    target = config.pop("target_host")
    return await Client.connect(target, data_converter=pydantic_data_converter, **config)
