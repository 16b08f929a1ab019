"""The probe's hot path does no work that scales with the installation.

A module imported inside a function is cached once found, but a module that is not
installed is searched for on every ``sys.path`` entry again at each attempt. httpcore
tries ``import sniffio`` for every lock and event it sets up; without sniffio
installed that search cost 8 imports per snapshot probe, about half of its CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from monitor.verdict import Verdict

Testbed = Callable[..., None]


class RecordingFinder(MetaPathFinder):
    """First on ``sys.meta_path``: notes every module looked for, finds none itself."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        self.searched.append(fullname)
        return None


def test_warm_http_probes_search_for_no_module(testbed: Testbed) -> None:
    finder = RecordingFinder()

    async def scenario(bench: Any) -> None:
        for path in ("app", "mjpeg", "events"):  # warm: first use may import lazily
            assert (await bench.probe(path, "3g", "lobby")).verdict is Verdict.OWN
        sys.meta_path.insert(0, finder)
        try:
            for path in ("app", "mjpeg", "events"):
                for profile in ("good", "3g"):
                    result = await bench.probe(path, profile, "lobby")
                    assert result.verdict is Verdict.OWN, result.detail
        finally:
            sys.meta_path.remove(finder)

    testbed(["app", "mjpeg", "events"], scenario)
    assert finder.searched == []
