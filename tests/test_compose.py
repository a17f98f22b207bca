"""docker-compose.yml: valid Compose, and the production shape that README.md promises.

Validation uses the Compose Specification's own JSON schema as shipped (offline) by
check-jsonschema (`--builtin-schema vendor.compose-spec`); the rest are the assertions that
matter for running vangnet: dependencies, scaling, configuration, search attributes, pinning.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# RULES §9, spelled out here on purpose: the compose file must match the rules, not just the code.
SEARCH_ATTRIBUTES = {
    "CaseStage": "Keyword",
    "CaseTrack": "Keyword",
    "Municipality": "Keyword",
    "HousingCorporation": "Keyword",
    "SocialService": "Keyword",
    "ArrearsMonths": "Int",
    "NextDeadline": "Datetime",
    "EvictionDate": "Datetime",
    "CaseOutcome": "Keyword",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def check_schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def test_compose_file_matches_the_compose_specification_schema():
    result = check_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_an_invalid_compose_file(tmp_path):
    # The validator must really validate: a wrong type in a service is refused.
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  web:\n    image: nginx:1.27.0\n    depends_on: 5\n")
    result = check_schema(bad)
    assert result.returncode != 0, result.stdout


def compose_cli() -> list[str] | None:
    """The docker compose CLI, if this machine has one (it needs no Docker engine for `config`)."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        try:
            probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and "compose" in probe.stdout.lower():
            return cmd
    return None


def filled_env_file(tmp_path: Path) -> Path:
    """.env.example with every empty value filled in (what an administrator's .env looks like)."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and not value:
            value = "filled-in-for-the-test"
        lines.append(f"{name}{sep}{value}" if sep else line)
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(compose_cli() is None, reason="no docker compose CLI on this machine")
def test_docker_compose_itself_accepts_the_file(tmp_path):
    result = subprocess.run(
        [*compose_cli(), "-f", str(COMPOSE), "--env-file", str(filled_env_file(tmp_path)), "config", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(compose_cli() is None, reason="no docker compose CLI on this machine")
def test_docker_compose_refuses_to_start_without_the_env_values(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run(
        [*compose_cli(), "-f", str(COMPOSE), "--env-file", str(empty), "config", "--quiet"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if "PASSWORD" not in k and not k.startswith("VANGNET")},
    )
    assert result.returncode != 0 and "in .env" in result.stderr, result.stderr


def test_every_dependency_exists_and_its_condition_can_be_met(services):
    for name, service in services.items():
        for target, spec in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy, but it has no healthcheck"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is a one-shot job: it must not restart"
            else:
                assert condition == "service_started", f"{name}: unknown condition {condition}"


def test_no_dependency_cycles(services):
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        assert state.get(name) != "visiting", "dependency cycle: " + " -> ".join(path + [name])
        if state.get(name) == "done":
            return
        state[name] = "visiting"
        for target in depends_on(services[name]):
            visit(target, path + [name])
        state[name] = "done"

    for name in services:
        visit(name, [])


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image (services built locally still name and tag theirs)"
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag not in ("latest", "") and re.search(r"\d", tag), f"{name}: image {image} is not pinned"


def test_dockerfile_base_image_is_tagged_and_runs_the_worker():
    text = DOCKERFILE.read_text()
    default_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.M)
    base = default_base.group(1) if default_base else re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert base.startswith("python:3.11") and ":" in base, base
    assert re.search(r"^RUN pip install \.$", text, re.M)
    # The sources the worker imports from /app are compiled (docs/benchmarks.md, bytecode).
    assert re.search(r"^RUN python -m compileall -q vangnet workflows activities", text, re.M)
    assert 'CMD ["python", "-m", "workers"]' in text


def test_temporal_runs_on_postgresql_with_the_admin_ui_on_the_loopback_8233(services):
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/server:") or temporal["image"].startswith("temporalio/auto-setup:")
    env = env_of(temporal)
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgresql"
    assert "service_healthy" == depends_on(services["temporal-schema"])["postgresql"]["condition"]
    for name in ("temporal-ui", "temporal-ui-admin"):
        ui = services[name]
        assert ui["image"].startswith("temporalio/ui:")
        assert env_of(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert [str(p) for p in services["temporal-ui-admin"]["ports"]] == ["127.0.0.1:8233:8080"]
    assert not services["temporal-ui"].get("ports"), "the operators' UI is reached through Caddy only"


def test_worker_is_replicated_and_configured(services):
    worker = services["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker, "a fixed container name prevents scaling"
    assert not worker.get("ports"), "a published port prevents scaling"
    assert worker["command"] == ["python", "-m", "workers"]
    env = env_of(worker)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["VANGNET_TASK_QUEUE"] == "vangnet-cases"
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "build" in worker


def test_case_store_has_its_own_database(services):
    url = env_of(services["worker"])["DATABASE_URL"]
    match = re.fullmatch(r"postgresql\+asyncpg://([^:@/]+)(?::[^@]*)?@([^:/]+):(\d+)/(\w+)", url)
    assert match, url
    user, host, _port, database = match.groups()
    assert host == "postgresql"
    assert database not in ("temporal", "temporal_visibility", "postgres")
    assert user != env_of(services["temporal"])["POSTGRES_USER"], "the case store must not use Temporal's role"
    init = (ROOT / "deploy/postgres/init-databases.sh").read_text()
    assert f"CREATE DATABASE {database} OWNER {user}" in init


def test_intake_serves_port_8000_inside_the_network_behind_caddy(services):
    intake = services["intake"]
    assert intake["command"] == ["python", "-m", "starter", "serve"]
    env = env_of(intake)
    assert env["VANGNET_API_HOST"] == "0.0.0.0"  # inside its container, for Caddy and Prometheus
    assert env.get("VANGNET_API_PORT", "8000") == "8000"
    assert not intake.get("ports"), "the intake is reached through Caddy (TLS) only"
    assert env_of(intake)["DATABASE_URL"] == env_of(services["worker"])["DATABASE_URL"]
    assert "/readyz" in " ".join(intake["healthcheck"]["test"])
    assert "reverse_proxy intake:8000" in (ROOT / "deploy/caddy/Caddyfile").read_text()


def registered_search_attributes(services) -> dict[str, str]:
    job = services["temporal-init"]
    assert job["image"].startswith("temporalio/admin-tools:")
    pairs = env_of(job)["VANGNET_SEARCH_ATTRIBUTES"].split()
    return dict(pair.split("=", 1) for pair in pairs)


def test_all_search_attributes_are_registered(services):
    assert registered_search_attributes(services) == SEARCH_ATTRIBUTES
    script = (ROOT / "deploy/temporal/init.sh").read_text()
    assert "VANGNET_SEARCH_ATTRIBUTES" in script and "search-attribute create" in script


def test_search_attributes_match_the_code(services):
    from vangnet.search_attributes import dev_server_flags

    flags = dev_server_flags()
    from_code = dict(value.split("=", 1) for value in flags[1::2])
    assert from_code == registered_search_attributes(services)


def test_every_worker_and_app_waits_for_the_search_attributes(services):
    for name in ("worker", "intake"):
        deps = depends_on(services[name])
        assert deps["temporal-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgresql"]["condition"] == "service_healthy", name


def test_bind_mounted_files_exist(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = (volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", ""))
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        entry = service.get("entrypoint") or []
        for arg in entry[1:] if isinstance(entry, list) else []:
            if arg.startswith("/scripts/"):
                mounted = [v for v in service.get("volumes", []) if isinstance(v, str) and f":{arg}" in v]
                assert mounted, f"{name} runs {arg} but does not mount it"


def test_payloads_are_encrypted_and_the_ui_decrypts_through_the_codec_service(services):
    """Issue 12: every vangnet process holds the payload keys; the UI calls the codec service
    with its login cookie; the codec service shares the case store (the operators' API keys)."""
    for name in ("worker", "intake", "codec"):
        assert "VANGNET_CODEC_KEYS" in env_of(services[name]), name
    codec = services["codec"]
    assert codec["command"] == ["python", "-m", "vangnet.codec_server"]
    assert env_of(codec)["DATABASE_URL"] == env_of(services["worker"])["DATABASE_URL"]
    assert [str(p) for p in codec["ports"]] == ["127.0.0.1:8234:8234"]
    # the operators' UI (behind Caddy, OIDC) reaches the codec server under its own host and passes
    # the user's access token, which the codec server checks against the identity provider
    ui = env_of(services["temporal-ui"])
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    assert ui["TEMPORAL_CODEC_ENDPOINT"].startswith("https://")
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert "VANGNET_CODEC_OIDC_JWKS_URL" in env_of(codec)
    # the administrators' UI (loopback) sends the codec server's login cookie
    admin = env_of(services["temporal-ui-admin"])
    assert admin["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8234"
    assert admin["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    origins = env_of(codec)["VANGNET_CODEC_UI_ORIGINS"].split(",")
    assert "http://localhost:8233" in origins and any(o.startswith("https://") for o in origins)

