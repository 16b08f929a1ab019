"""The layout of DESIGN.md, held: who may import whom, and modules small enough to read.

The rules (README, "Layout"): `canaries` and `alerts` import nothing of ours; `monitor`
imports `canaries` and `alerts` only (the product never imports its test doubles);
`drills` is the only package that imports both `monitor` and `testbed`; `testbed`
imports `canaries`, and its Toxiproxy imitation builds on `monitor.network`'s toxics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported

ROOT = Path(__file__).resolve().parents[1]
OURS = {"canaries", "alerts", "monitor", "drills", "testbed"}
MAY_IMPORT = {
    "canaries": {"canaries"},
    "alerts": {"alerts"},
    "monitor": {"monitor", "canaries", "alerts"},
    "drills": OURS - {"drills"} | {"drills"},
    "testbed": {"testbed", "canaries"},
}
# The one exception, with its reason: the Toxiproxy imitation serves Toxiproxy's API
# over the built-in proxy's own toxics, so both speak exactly the same toxic names.
EXCEPTIONS = {("testbed/toxiproxy_api.py", "monitor")}
MAX_LINES = 350


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(module: Path) -> set[str]:
    return {name.split(".")[0] for _, name in imported(module)} & OURS


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_what_the_design_allows(package: str) -> None:
    wrong = []
    for module in _modules(package):
        relative = module.relative_to(ROOT).as_posix()
        for other in _imported_packages(module) - MAY_IMPORT[package]:
            if (relative, other) not in EXCEPTIONS:
                wrong.append(f"{relative} imports {other}")
    assert wrong == []


def test_no_product_module_is_over_the_size_a_reader_holds() -> None:
    long = [
        f"{module.relative_to(ROOT)}: {n} lines"
        for package in sorted(OURS)
        for module in _modules(package)
        if (n := len(module.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_the_checks_see_the_packages() -> None:
    # a moved tree must not make the rules above pass vacuously
    assert all(len(_modules(package)) >= 5 for package in OURS)
    assert ("testbed/toxiproxy_api.py", "monitor") in {
        (m.relative_to(ROOT).as_posix(), p)
        for m in _modules("testbed")
        for p in _imported_packages(m)
    }
