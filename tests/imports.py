"""What a module imports, read from its syntax tree (not by importing it)."""

from __future__ import annotations

import ast
from pathlib import Path


def imported(module: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every absolute import in ``module``, nested ones too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found
