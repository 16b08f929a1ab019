"""store/ is the only place with SQL: no module of monitor/ outside monitor/store/
imports sqlalchemy (handlers, metrics and the service call store functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import monitor

ROOT = Path(monitor.__file__).parent


def sqlalchemy_imports(module: Path) -> list[int]:
    """Line numbers of ``import sqlalchemy...`` / ``from sqlalchemy... import``."""
    lines = []
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
            lines.append(node.lineno)
    return lines


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
