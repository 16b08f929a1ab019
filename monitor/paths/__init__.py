"""Integration path adapters, one module per kind, and their registry."""

from __future__ import annotations

from monitor.paths.alexa import AlexaPath
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.browser import BrowserPath
from monitor.paths.google_home import GoogleHomePath
from monitor.paths.hls import HlsPath
from monitor.paths.mjpeg import MjpegPath
from monitor.paths.rtsp import RtspPath
from monitor.paths.snapshot import SnapshotPath
from monitor.paths.thumbnails import ThumbnailsPath

# Each adapter takes its kind's option model, monitor.config.PATH_OPTIONS[kind];
# tests/monitor/test_config_registries.py keeps the two registries' kinds one list.
PATH_KINDS: dict[str, type[IntegrationPath]] = {
    "snapshot": SnapshotPath,
    "mjpeg": MjpegPath,
    "hls": HlsPath,
    "rtsp": RtspPath,
    "browser": BrowserPath,
    "google_home": GoogleHomePath,
    "alexa": AlexaPath,
    "thumbnails": ThumbnailsPath,
}

__all__ = ["PATH_KINDS", "Capture", "CaptureFailure", "IntegrationPath", "Router", "SnapshotPath"]
