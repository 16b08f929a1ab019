"""Fire drills end to end through the CLI: every testbed bug is a scenario, and each
must be found on its own path, within the budget, with nothing found elsewhere.

These are how CI runs every drill (``make test``). They run the full matrix: every
path of the testbed manifest x every network profile, with two canaries.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.cli import main
from testbed import BUGS
from testbed.manifest import MANIFEST


def drill(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["drill", *args, "--json"])
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return result, report


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", [name for name, bug in BUGS.items() if bug.symptom == "leak"])
def test_leak_drill_catches_the_bug_on_its_path_only_and_trips_only_that_switch(
    scenario: str,
) -> None:
    path = BUGS[scenario].path
    result, report = drill(scenario)
    assert result.exit_code == 0, result.stderr[-3000:] + json.dumps(report.get("failures"))
    assert report["scenario"] == scenario
    assert report["caught"] is True
    assert report["leak_paths"] == [path]
    assert report["false_leak_paths"] == []
    assert 0 <= report["seconds_to_detect"] <= 60
    assert report["probes"] > 0
    assert report["first_finding"]["path"] == path
    assert report["first_finding"]["source_canary"] != report["first_finding"]["canary"]
    assert report["kill_switches"] == {p: "tripped" if p == path else "armed" for p in MANIFEST}
    assert report["paths"] == sorted(MANIFEST)  # the matrix grew with the manifest
    assert "kill switch TRIPPED for path " + str(path) in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_stale_cache_drill_reports_own_stale_on_the_app_and_no_leak_anywhere() -> None:
    result, report = drill("stale-cache")
    assert result.exit_code == 0, result.stderr[-3000:] + json.dumps(report.get("failures"))
    assert report["caught"] is True
    assert report["first_finding"]["verdict"] == "own_stale"
    assert "app" in report["stale_paths"]
    assert report["leak_paths"] == report["false_leak_paths"] == []
    assert 0 <= report["seconds_to_detect"] <= 60
    assert set(report["kill_switches"].values()) == {"armed"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_clean_drill_finds_no_leak_on_any_path_under_any_profile() -> None:
    result, report = drill("clean")
    assert result.exit_code == 0, result.stderr[-3000:] + json.dumps(report.get("failures"))
    assert report["leak_paths"] == report["false_leak_paths"] == []
    assert report["caught"] is False
    assert report["seconds_to_detect"] is None
    assert report["coverage"] >= 1  # every cell was probed after the "deployment"
    assert report["probes"] >= report["cells"] * 2
    assert set(report["kill_switches"].values()) == {"armed"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_drill_fails_when_the_matrix_lacks_the_network_that_shows_the_bug() -> None:
    # The smart-display cache mixes tenants only for slow clients: a monitor that
    # probes the hub on a fast network alone cannot see it, and the drill must say so.
    result, report = drill(
        "xiaomi-2020", "--paths", "app,hub", "--profiles", "good", "--budget", "8"
    )
    assert result.exit_code == 1, result.output
    assert report["caught"] is False
    assert report["leak_paths"] == []
    assert report["failures"][0] == "no leak verdict on hub within 8 s"
    assert "drill FAILED" not in result.stdout  # --json: the report is the only output


def test_unknown_scenario_is_a_usage_error_listing_the_valid_ones() -> None:
    result = CliRunner().invoke(main, ["drill", "xiaomi-2019"])
    assert result.exit_code == 2
    assert "unknown scenario 'xiaomi-2019'" in result.stderr
    for name in BUGS:
        assert name in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--paths", "doorbell", "unknown path 'doorbell'"), ("--profiles", "5g", "unknown profile")],
)
def test_unknown_path_or_profile_is_a_usage_error(option: str, value: str, message: str) -> None:
    result = CliRunner().invoke(main, ["drill", "clean", option, value])
    assert result.exit_code == 2
    assert message in result.stderr


def test_help_lists_every_scenario_with_its_path() -> None:
    result = CliRunner().invoke(main, ["drill", "--help"])
    assert result.exit_code == 0
    for bug in BUGS.values():
        assert bug.name in result.stdout
        if bug.path is not None:
            assert f"on path {bug.path}" in result.stdout
