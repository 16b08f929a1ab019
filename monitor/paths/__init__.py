"""Integration path adapters, one module per kind, and their registry."""

from __future__ import annotations

from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.snapshot import SnapshotPath

PATH_KINDS: dict[str, type[IntegrationPath]] = {
    "snapshot": SnapshotPath,
}

__all__ = ["PATH_KINDS", "Capture", "CaptureFailure", "IntegrationPath", "Router", "SnapshotPath"]
