"""Alerts for on-call engineers: incident facts, notifiers and their registry.

    base        Alert, the Notifier contract, NotifierError
    console     ConsoleNotifier (registered: needs no credentials)
    slack       SlackNotifier: slack-sdk Web API, the outbox's transport
    blocks      Block Kit for incident threads
    outbox      the durable outbox and its sender
    evidence    the encrypted evidence vault
    tables      the SQLAlchemy tables of the above (migration 0003)

``NOTIFIERS`` holds the notifiers a config's ``alerts:`` list may name: each is sent
every `Alert` as it happens. Slack is deliberately not one of them: it is configured
by the ``slack:`` section, and incidents reach it as threads (parent, updates,
replies) composed by the incident engine and delivered through the durable outbox,
with ``SlackNotifier`` as the outbox's `alerts.base.Transport`.

This package imports nothing else of camcanary's.
"""

from __future__ import annotations

from alerts.base import Alert, AlertKind, Notifier, NotifierError
from alerts.console import ConsoleNotifier
from alerts.slack import SlackNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    "console": ConsoleNotifier,
}


def build_notifier(kind: str) -> Notifier:
    """A new notifier of ``kind``; ValueError listing the valid kinds otherwise."""
    notifier = NOTIFIERS.get(kind)
    if notifier is None:
        raise ValueError(f"unknown alert kind {kind!r} (valid: {', '.join(NOTIFIERS)})")
    return notifier()


__all__ = [
    "NOTIFIERS",
    "Alert",
    "AlertKind",
    "ConsoleNotifier",
    "Notifier",
    "NotifierError",
    "SlackNotifier",
    "build_notifier",
]
