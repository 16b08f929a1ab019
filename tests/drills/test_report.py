"""Judging a drill: which findings pass a scenario and which fail it, on real results."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest

from drills.report import Tracker, evaluate, progress_line, render_summary
from monitor.results import ProbeResult
from monitor.verdict import Verdict
from testbed import BUGS

CELLS = [(path, profile) for path in ("app", "hub") for profile in ("good", "3g")]
ARMED = {"app": "armed", "hub": "armed"}


def result(path: str, profile: str, verdict: Verdict, *, canary: str = "lobby") -> ProbeResult:
    return ProbeResult(
        canary=canary,
        path=path,
        profile=profile,
        started_at=datetime.now(UTC),
        duration_s=0.1,
        verdict=verdict,
        source_canary="garage" if verdict.is_leak else canary,
    )


def drilled(scenario: str, before: list[ProbeResult], after: list[ProbeResult]) -> Tracker:
    tracker = Tracker(BUGS[scenario], CELLS)
    for item in before:
        tracker.add(item)
    time.sleep(0.002)  # results below start after the deployment instant
    tracker.deployed()
    for item in after:
        tracker.add(
            ProbeResult(**{**item.__dict__, "started_at": datetime.now(UTC) + timedelta(0, 0.01)})
        )
    return tracker


def everywhere(verdict: Verdict) -> list[ProbeResult]:
    return [result(path, profile, verdict) for path, profile in CELLS]


def test_leak_on_the_bugs_path_with_its_switch_tripped_passes() -> None:
    tracker = drilled(
        "xiaomi-2020",
        everywhere(Verdict.OWN),
        [*everywhere(Verdict.OWN), result("hub", "3g", Verdict.FOREIGN_CANARY)],
    )
    report = evaluate(tracker, {"app": "armed", "hub": "tripped"}, budget_s=60, coverage=1)
    assert report["passed"], report["failures"]
    assert report["caught"] is True
    assert (report["leak_paths"], report["false_leak_paths"]) == (["hub"], [])
    assert report["profiles"] == ["3g"]
    assert report["first_finding"]["source_canary"] == "garage"
    assert 0 <= report["seconds_to_detect"] < 5
    assert report["probes"] == 9


def test_a_leak_on_another_path_fails_the_drill_even_when_the_bug_was_caught() -> None:
    tracker = drilled(
        "xiaomi-2020",
        everywhere(Verdict.OWN),
        [
            *everywhere(Verdict.OWN),
            result("hub", "3g", Verdict.FOREIGN_CANARY),
            result("app", "good", Verdict.SPLICED),
        ],
    )
    report = evaluate(tracker, {"app": "tripped", "hub": "tripped"}, budget_s=60, coverage=1)
    assert not report["passed"]
    assert report["caught"] is True
    assert report["false_leak_paths"] == ["app"]
    assert any("no leak was deployed: app" in f for f in report["failures"])
    assert any("kill switch of app is tripped, expected armed" in f for f in report["failures"])


def test_missing_finding_untripped_switch_and_baseline_leak_each_fail() -> None:
    tracker = drilled(
        "xiaomi-2020",
        [*everywhere(Verdict.OWN), result("hub", "3g", Verdict.FOREIGN)],
        everywhere(Verdict.OWN),
    )
    report = evaluate(tracker, ARMED, budget_s=60, coverage=1)
    assert not report["passed"]
    assert report["caught"] is False
    assert report["seconds_to_detect"] is None  # the baseline leak is not the bug's finding
    failures = " | ".join(report["failures"])
    assert "no leak verdict on hub within 60 s" in failures
    assert "before the deployment: hub/3g" in failures
    assert "kill switch of hub is armed, expected tripped" in failures


def test_stale_scenario_is_caught_by_own_stale_and_needs_no_leak_anywhere() -> None:
    stale = result("app", "good", Verdict.OWN_STALE)
    tracker = drilled("stale-cache", everywhere(Verdict.OWN), [*everywhere(Verdict.OWN), stale])
    report = evaluate(tracker, ARMED, budget_s=60, coverage=1)
    assert report["passed"], report["failures"]
    assert (report["caught"], report["stale_paths"], report["leak_paths"]) == (True, ["app"], [])
    leaking = drilled(
        "stale-cache",
        everywhere(Verdict.OWN),
        [*everywhere(Verdict.OWN), stale, result("hub", "good", Verdict.FOREIGN_CANARY)],
    )
    report = evaluate(leaking, ARMED, budget_s=60, coverage=1)
    assert not report["passed"]
    assert report["false_leak_paths"] == ["hub"]


def test_clean_passes_without_findings_and_fails_on_a_cell_never_probed_after_deploy() -> None:
    report = evaluate(
        drilled("clean", everywhere(Verdict.OWN), everywhere(Verdict.OWN) * 2),
        ARMED,
        budget_s=30,
        coverage=2,
    )
    assert report["passed"], report["failures"]
    assert (report["caught"], report["leak_paths"], report["coverage"]) == (False, [], 2)
    partial = drilled("clean", everywhere(Verdict.OWN), everywhere(Verdict.OWN)[:-1])
    report = evaluate(partial, ARMED, budget_s=30, coverage=2)
    assert report["failures"] == ["never probed after the deployment: hub/3g"]


@pytest.mark.parametrize("passed", [True, False])
def test_summary_and_progress_name_the_paths_verdicts_and_outcome(passed: bool) -> None:
    after = [*everywhere(Verdict.OWN), result("hub", "3g", Verdict.FOREIGN_CANARY)]
    tracker = drilled("xiaomi-2020", everywhere(Verdict.OWN), after)
    switches = {"app": "armed", "hub": "tripped" if passed else "armed"}
    report = evaluate(tracker, switches, budget_s=60, coverage=1)
    report["wall_s"] = 1.0
    out = io.StringIO()
    render_summary(report, out)
    text = out.getvalue()
    assert "expected leak on hub" in text
    assert "found: foreign_canary on hub/3g (lobby's probe, garage's frame)" in text
    assert ("drill PASSED" in text) is passed
    line = progress_line(tracker, switches, 12.0, "watching")
    assert "leaks: hub (3g)" in line
    assert ("tripped: hub" in line) is passed


def test_a_cell_with_only_errors_after_the_deployment_is_reported_blind_not_failed() -> None:
    after = [*everywhere(Verdict.OWN)[:-1], result("hub", "3g", Verdict.ERROR)]
    report = evaluate(
        drilled("clean", everywhere(Verdict.OWN), after), ARMED, budget_s=30, coverage=1
    )
    assert report["passed"], report["failures"]
    assert report["blind_cells"] == ["hub/3g"]
