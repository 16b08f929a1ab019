"""store/ is the only place with SQL: no module of monitor/ outside monitor/store/
imports sqlalchemy (handlers, metrics and the service call store functions)."""

from __future__ import annotations

from pathlib import Path

import monitor
from tests.imports import imported

ROOT = Path(monitor.__file__).parent


def sqlalchemy_imports(module: Path) -> list[int]:
    """Line numbers of ``import sqlalchemy...`` / ``from sqlalchemy... import``."""
    return [line for line, name in imported(module) if name.split(".")[0] == "sqlalchemy"]


def test_the_scan_sees_the_store_import_sqlalchemy() -> None:
    assert sqlalchemy_imports(ROOT / "store" / "__init__.py")


def test_only_monitor_store_imports_sqlalchemy() -> None:
    offenders = []
    for module in sorted(ROOT.rglob("*.py")):
        relative = module.relative_to(ROOT).as_posix()
        if relative.startswith("store/"):
            continue
        offenders += [f"monitor/{relative}:{line}" for line in sqlalchemy_imports(module)]
    assert offenders == [], "SQL belongs in monitor/store: " + ", ".join(offenders)
