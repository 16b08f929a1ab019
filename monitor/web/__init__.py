"""The monitor's HTTP side: the kill switch flag API (and Slack actions)."""

from __future__ import annotations

from monitor.web.app import WebServer, create_app

__all__ = ["WebServer", "create_app"]
