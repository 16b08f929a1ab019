"""One vocabulary, declared once (`monitor.verdict`): its orders and sets, and that no
other module of the product declares them again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from monitor.verdict import (
    CLEAN,
    LEAKS,
    OUTCOMES,
    SEVERITY,
    WARNINGS,
    KillSwitchState,
    Verdict,
    outcome_of,
    severity,
    worst,
)

ROOT = Path(__file__).resolve().parents[2]
VOCABULARY = {"SEVERITY", "CLEAN", "WARNINGS", "LEAKS", "OUTCOMES", "ARMED", "TRIPPED"}
VOCABULARY |= {"VERIFYING", "STATES"}


def test_severity_ranks_every_verdict_leaks_first_then_stale_then_evidence_over_absence() -> None:
    assert set(SEVERITY) == set(Verdict)
    leaks = [v for v in SEVERITY if v.is_leak]
    assert SEVERITY[: len(leaks)] == tuple(leaks)
    assert SEVERITY[0] is Verdict.FOREIGN
    assert SEVERITY[len(leaks)] is Verdict.OWN_STALE
    assert severity("degraded") < severity("blank") < severity("error") < severity("own")
    assert severity("not a verdict") == len(SEVERITY)
    assert worst(["own", "error", "degraded"]) == "degraded"
    assert worst(["own", "spliced", "foreign_canary"]) == "spliced"
    assert worst([]) is None


def test_outcomes_cover_every_verdict_and_leaks_share_one() -> None:
    assert {outcome_of(v) for v in Verdict} == set(OUTCOMES)
    assert outcome_of("own_stale") == "stale"
    assert {outcome_of(v) for v in LEAKS} == {"leak"}
    with pytest.raises(ValueError, match="unknown verdict"):
        outcome_of("fine")


def test_clean_warnings_and_leaks_never_overlap_a_leak() -> None:
    assert not (CLEAN | WARNINGS) & LEAKS
    assert Verdict.OWN in CLEAN
    assert Verdict.OWN_STALE not in CLEAN
    assert {s.value for s in KillSwitchState} == {"armed", "tripped", "verifying"}


def _declared(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    names.add(name.id)
    return names


def test_no_other_product_module_declares_the_vocabulary() -> None:
    offenders = []
    for package in ("monitor", "drills", "alerts"):
        for module in sorted((ROOT / package).rglob("*.py")):
            if module == ROOT / "monitor" / "verdict.py" or "migrations" in module.parts:
                continue  # (migrations are frozen history)
            again = _declared(ast.parse(module.read_text())) & VOCABULARY
            if again:
                offenders.append(f"{module.relative_to(ROOT)}: {', '.join(sorted(again))}")
    assert offenders == []
