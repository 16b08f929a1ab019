"""Alerts for on-call engineers: incident facts, notifiers and their registry.

This package imports nothing else of camcanary's.
"""

from __future__ import annotations

from alerts.base import Alert, AlertKind, Notifier, NotifierError
from alerts.console import ConsoleNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "console": ConsoleNotifier,
}

__all__ = ["NOTIFIERS", "Alert", "AlertKind", "ConsoleNotifier", "Notifier", "NotifierError"]
