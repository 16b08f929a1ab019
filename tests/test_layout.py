"""The layout of DESIGN.md, held: who may import whom, and modules small enough to read.

The rules (README, "Layout"): `canaries` and `alerts` import nothing of ours; `monitor`
imports `canaries` and `alerts` only (the product never imports its test doubles);
`drills` is the only package that imports both `monitor` and `testbed`; `testbed`
imports `canaries`, and its Toxiproxy imitation builds on `monitor.network`'s toxics.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_what_the_design_allows(package: str) -> None:
    wrong = []
    for module in _modules(package):
        relative = module.relative_to(ROOT).as_posix()
        for imported in _imported_packages(module) - MAY_IMPORT[package]:
            if (relative, imported) not in EXCEPTIONS:
                wrong.append(f"{relative} imports {imported}")
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
