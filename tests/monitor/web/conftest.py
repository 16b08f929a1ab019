"""The dashboard page tests' seeded database: a private copy of the session's seed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitor.web.dashboard_seed import Seeded, seeded_copy


@pytest.fixture
def seeded(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Seeded]:
    seeded = seeded_copy(tmp_path_factory, tmp_path)
    yield seeded
    seeded.close()
