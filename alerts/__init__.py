"""Alerts for on-call engineers: incident facts, notifiers and their registry.

    base        Alert, the Notifier contract, NotifierError
    console     ConsoleNotifier (registered: needs no credentials)
    slack       SlackNotifier: slack-sdk Web API, the outbox's transport (built from
                the ``slack:`` config section, not from NOTIFIERS)
    blocks      Block Kit for incident threads
    outbox      the durable outbox and its sender
    evidence    the encrypted evidence vault
    tables      the SQLAlchemy tables of the above (migration 0003)

This package imports nothing else of camcanary's.
"""

from __future__ import annotations

from alerts.base import Alert, AlertKind, Notifier, NotifierError
from alerts.console import ConsoleNotifier
from alerts.slack import SlackNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "console": ConsoleNotifier,
}

__all__ = [
    "NOTIFIERS",
    "Alert",
    "AlertKind",
    "ConsoleNotifier",
    "Notifier",
    "NotifierError",
    "SlackNotifier",
]
