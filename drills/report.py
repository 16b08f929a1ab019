"""What a fire drill saw, whether that matches its bug, and how it is shown.

`Tracker` counts every probe result of the drill; `evaluate` turns it into the report
(``camcanary drill --json`` prints it as its last line); `progress_line` and
`render_summary` are the human views. A report never holds a frame, only verdicts,
names and counts.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.results import ProbeResult
from monitor.verdict import LEAKS, Verdict
from testbed import Bug

COLUMNS = (
    ("own", (Verdict.OWN,)),
    ("stale", (Verdict.OWN_STALE,)),
    ("LEAK", (Verdict.FOREIGN_CANARY, Verdict.FOREIGN, Verdict.SPLICED)),
    ("degraded", (Verdict.DEGRADED,)),
    ("blank", (Verdict.BLANK,)),
    ("error", (Verdict.ERROR,)),
)
Cell = tuple[str, str]  # (path, profile)


class Tracker:
    """Results of one drill by cell, before and after the deployment, and the finding."""

    def __init__(self, bug: Bug, cells: list[Cell]) -> None:
        self.bug = bug
        self.cells = sorted(set(cells))
        self.counts: Counter[tuple[str, str, Verdict]] = Counter()
        self.before: Counter[Cell] = Counter()
        self.after: Counter[Cell] = Counter()  # results of probes started after the deploy
        self.framed_after: Counter[Cell] = Counter()  # ... of them with a frame judged
        self.baseline_leaks: Counter[Cell] = Counter()
        self.deployed_at: datetime | None = None
        self.deployed_mono: float = 0.0
        self.found: ProbeResult | None = None
        self.found_mono: float | None = None

    def deployed(self) -> None:
        self.deployed_at, self.deployed_mono = datetime.now(UTC), time.monotonic()

    def is_finding(self, result: ProbeResult) -> bool:
        """The symptom the bug must cause, on any path."""
        if self.bug.symptom == "leak":
            return result.verdict.is_leak
        return self.bug.symptom == "stale" and result.verdict == Verdict.OWN_STALE

    def add(self, result: ProbeResult) -> None:
        cell = (result.path, result.profile)
        self.counts[(result.path, result.profile, result.verdict)] += 1
        if self.deployed_at is not None and result.started_at >= self.deployed_at:
            self.after[cell] += 1
            self.framed_after[cell] += result.verdict != Verdict.ERROR
        else:
            self.before[cell] += 1
        if self.deployed_at is None:
            if result.verdict.is_leak:
                self.baseline_leaks[cell] += 1
        elif self.found is None and result.path == self.bug.path and self.is_finding(result):
            self.found, self.found_mono = result, time.monotonic()

    def min_results(self, *, after_deploy: bool | None = None, path: str | None = None) -> int:
        """The fewest results any cell (of ``path``) has: after the deployment (True),
        before it (False) or in all (None)."""
        counts = {True: self.after, False: self.before, None: self.before + self.after}
        chosen = counts[after_deploy]
        cells = [cell for cell in self.cells if path is None or cell[0] == path]
        return min((chosen[cell] for cell in cells), default=0)

    def paths_with(self, verdicts: tuple[Verdict, ...]) -> dict[str, list[str]]:
        """Path -> sorted profiles where any of ``verdicts`` was seen."""
        found: defaultdict[str, set[str]] = defaultdict(set)
        for (path, profile, verdict), n in self.counts.items():
            if n and verdict in verdicts:
                found[path].add(profile)
        return {path: sorted(profiles) for path, profiles in sorted(found.items())}


def evaluate(
    tracker: Tracker, switches: dict[str, str], *, budget_s: float, coverage: int
) -> dict[str, Any]:
    """The drill's report; ``passed`` is True when the findings match the bug exactly."""
    bug = tracker.bug
    leaks, stale = tracker.paths_with(tuple(LEAKS)), tracker.paths_with((Verdict.OWN_STALE,))
    expected_leak = bug.path if bug.symptom == "leak" else None
    false_leaks = [path for path in leaks if path != expected_leak]
    seconds = None
    if tracker.found_mono is not None:
        seconds = round(tracker.found_mono - tracker.deployed_mono, 2)
    caught = seconds is not None and seconds <= budget_s
    failures = []
    if bug.symptom != "none" and not caught:
        failures.append(f"no {bug.symptom} verdict on {bug.path} within {budget_s:g} s")
    if false_leaks:
        failures.append(f"leak verdicts where no leak was deployed: {', '.join(false_leaks)}")
    if tracker.baseline_leaks:
        cells = sorted(f"{p}/{pr}" for p, pr in tracker.baseline_leaks)
        failures.append(f"leak verdicts before the deployment: {', '.join(cells)}")
    expected_switches = {p: "tripped" if p == expected_leak else "armed" for p in switches}
    for path, state in sorted(switches.items()):
        if state != expected_switches[path]:
            failures.append(f"kill switch of {path} is {state}, expected {expected_switches[path]}")
    unprobed = [f"{p}/{pr}" for p, pr in tracker.cells if not tracker.after[(p, pr)]]
    # Probed but never a frame: no leak could show there. Reported, not failed: an
    # impairment may rightly make a path unusable (a cut connection, a stalled page).
    blind = [
        f"{p}/{pr}"
        for p, pr in tracker.cells
        if tracker.after[(p, pr)] and not tracker.framed_after[(p, pr)]
    ]
    if unprobed:
        failures.append(f"never probed after the deployment: {', '.join(unprobed)}")
    verdicts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for (path, _, verdict), n in tracker.counts.items():
        verdicts[path][str(verdict)] += n
    first = tracker.found
    return {
        "scenario": bug.name,
        "incident": bug.incident,
        "expected_path": bug.path,
        "expected_symptom": bug.symptom,
        "passed": not failures,
        "caught": caught,
        "leak_paths": sorted(leaks),
        "false_leak_paths": false_leaks,
        "stale_paths": sorted(stale),
        "seconds_to_detect": seconds,
        "probes": sum(tracker.counts.values()),
        "profiles": leaks.get(bug.path or "", [])
        if bug.symptom == "leak"
        else stale.get(bug.path or "", [])
        if bug.symptom == "stale"
        else [],
        "leak_profiles": leaks,
        "stale_profiles": stale,
        "verdicts": {path: dict(sorted(c.items())) for path, c in sorted(verdicts.items())},
        "kill_switches": dict(sorted(switches.items())),
        "first_finding": finding(first),
        "paths": sorted({path for path, _ in tracker.cells}),
        "cells": len(tracker.cells),
        "coverage": tracker.min_results(after_deploy=True),
        "results_per_cell": tracker.min_results(),
        "coverage_target": coverage,
        "blind_cells": blind,
        "baseline_leaks": sum(tracker.baseline_leaks.values()),
        "failures": failures,
    }


def finding(result: ProbeResult | None) -> dict[str, str | None] | None:
    """What a report says of one probe result: where, as whom, what, from whom."""
    if result is None:
        return None
    return {
        "path": result.path,
        "profile": result.profile,
        "canary": result.canary,
        "verdict": str(result.verdict),
        "source_canary": result.source_canary,
    }


def progress_line(tracker: Tracker, switches: dict[str, str], elapsed: float, phase: str) -> str:
    after = tracker.deployed_at is not None
    counts = tracker.after if after else tracker.before
    seen = sum(1 for cell in tracker.cells if counts[cell])
    leaks = tracker.paths_with(tuple(LEAKS))
    stale = tracker.paths_with((Verdict.OWN_STALE,))
    tripped = [path for path, state in sorted(switches.items()) if state != "armed"]
    return (
        f"  t+{elapsed:5.1f}s {phase:<9} {sum(tracker.counts.values()):>5} probes, "
        f"{seen}/{len(tracker.cells)} cells {'since the deployment' if after else 'seen'} | "
        f"leaks: {_paths(leaks)} | stale: {_paths(stale)} | "
        f"tripped: {', '.join(tripped) or '-'}"
    )


def _paths(found: dict[str, list[str]]) -> str:
    return ", ".join(f"{p} ({'/'.join(profiles)})" for p, profiles in found.items()) or "-"


def render_summary(report: dict[str, Any], out: TextIO) -> None:
    """The per-path table, the finding and the verdict, for people."""
    symptom, path = report["expected_symptom"], report["expected_path"]
    expect = "nothing" if symptom == "none" else f"{symptom} on {path}"
    lines = [f"\ndrill {report['scenario']} ({report['incident']}): expected {expect}"]
    lines.append(
        f"  {'path':<10}{'probes':>7}"
        + "".join(f"{name:>9}" for name, _ in COLUMNS)
        + f"  {'kill switch':<12}finding profiles"
    )
    finding_profiles = {**report["stale_profiles"], **report["leak_profiles"]}
    for path in report["paths"]:
        counts = report["verdicts"].get(path, {})
        cells = [sum(counts.get(str(v), 0) for v in verdicts) for _, verdicts in COLUMNS]
        profiles = ", ".join(finding_profiles.get(path, [])) or "-"
        lines.append(
            f"  {path:<10}{sum(cells):>7}"
            + "".join(f"{n:>9}" for n in cells)
            + f"  {report['kill_switches'].get(path, '?'):<12}{profiles}"
        )
    first = report["first_finding"]
    if first is not None:
        leaked = first["source_canary"] and first["verdict"] != "own_stale"
        source = f", {first['source_canary']}'s frame" if leaked else ""
        lines.append(
            f"found: {first['verdict']} on {first['path']}/{first['profile']} "
            f"({first['canary']}'s probe{source}) {report['seconds_to_detect']} s after "
            "the deployment"
        )
    if report["blind_cells"]:
        lines.append(
            f"no frame after the deployment (errors only): {', '.join(report['blind_cells'])}"
        )
    for failure in report["failures"]:
        lines.append(f"  FAILED: {failure}")
    outcome = "PASSED" if report["passed"] else "FAILED"
    lines.append(
        f"drill {outcome}: {report['probes']} probes over {report['cells']} cells "
        f"(at least {report['coverage']} each after the deployment) in {report['wall_s']} s"
    )
    print("\n".join(lines), file=out, flush=True)
