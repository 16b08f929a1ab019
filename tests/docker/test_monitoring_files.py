"""The files in docker/ are valid and speak only camcanary's real metrics: Prometheus
config and rules pass promtool (including the rules' unit tests), the Grafana
dashboard is valid JSON, every metric they name is one ``monitor.service.metrics`` exports,
and the example service config passes ``camcanary config check``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.service.metrics import METRIC_NAMES

DOCKER = Path(__file__).parents[2] / "docker"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is missing: `make system` installs Debian's prometheus package")
    return subprocess.run(  # noqa: S603  # promtool at a fixed path, our files as arguments
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def used_metrics(text: str) -> set[str]:
    names = set(re.findall(r"\bcamcanary_[a-z0-9_]+", text))
    out = set()
    for name in names:
        for suffix in HISTOGRAM_SUFFIXES:
            base = name.removesuffix(suffix)
            if base != name and base in METRIC_NAMES:
                name = base
        out.add(name)
    return out


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DOCKER / "grafana" / "camcanary.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_the_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=DOCKER / "prometheus")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts_test.yml", cwd=DOCKER / "prometheus")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    # The scrape token lives at a container path; point it at a file that exists here.
    token = tmp_path / "metrics_token"
    token.write_text("x" * 43)
    config = (DOCKER / "prometheus" / "prometheus.yml").read_text()
    assert "/etc/prometheus/metrics_token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/metrics_token", str(token))
    )
    shutil.copy(DOCKER / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    scrape = yaml.safe_load(config)["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"][0]["targets"] == ["camcanary:8400"]


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    rules = (DOCKER / "prometheus" / "alerts.yml").read_text()
    in_rules = used_metrics(rules)
    in_dashboard = used_metrics("\n".join(dashboard_exprs()))
    assert in_rules <= set(METRIC_NAMES), in_rules - set(METRIC_NAMES)
    assert in_dashboard <= set(METRIC_NAMES), in_dashboard - set(METRIC_NAMES)
    # and between them they watch everything the service exports
    assert in_rules | in_dashboard == set(METRIC_NAMES)


def test_the_dashboard_is_valid_grafana_json_with_unique_panels() -> None:
    dashboard = json.loads((DOCKER / "grafana" / "camcanary.json").read_text())
    assert dashboard["uid"] == "camcanary"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "prometheus"
        assert panel["targets"], panel["title"]
    provisioned = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert provisioned["datasources"][0]["uid"] == "prometheus"


def test_compose_wires_the_three_services() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert set(compose["services"]) == {"camcanary", "prometheus", "grafana"}
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    mounts = " ".join(compose["services"]["grafana"]["volumes"])
    assert "camcanary.json" in mounts


def test_the_example_service_config_passes_config_check(tmp_path: Path) -> None:
    env = {
        "CAMCANARY_SECRET": "compose example secret",
        "CANARY_LOBBY_TOKEN": "t1",
        "CANARY_NURSERY_TOKEN": "t2",
        "CAMCANARY_METRICS_TOKEN": "m" * 43,
    }
    result = CliRunner().invoke(
        main, ["config", "check", str(DOCKER / "camcanary.yaml.example")], env=env
    )
    assert result.exit_code == 0, result.output
