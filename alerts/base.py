"""What an alert says, and the notifier contract.

An alert carries facts about an incident (path, verdicts, which canary saw whose
code, counts, times, the kill switch), never a frame: the foreign frame is somebody's
private image and is not the notifiers' to see.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class AlertKind(StrEnum):
    INCIDENT_OPENED = "incident_opened"
    KILL_SWITCH_TRIPPED = "kill_switch_tripped"
    KILL_SWITCH_FAILED = "kill_switch_failed"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    incident_id: int
    path: str
    verdict: str  # the verdict of the probe that raised this alert
    canary: str  # the canary whose probe saw it
    source: str | None  # whose code the returned frame carried, if anyone's
    profile: str
    hits: int
    first_seen: datetime
    last_seen: datetime
    kill_switch: str  # "armed" / "tripped"
    detail: str = ""

    @property
    def summary(self) -> str:
        whose = f"{self.source}'s frame" if self.source else "a frame with no canary code"
        return {
            AlertKind.INCIDENT_OPENED: (
                f"LEAK on path {self.path}: {self.canary} received {whose} "
                f"({self.verdict}, profile {self.profile})"
            ),
            AlertKind.KILL_SWITCH_TRIPPED: f"kill switch TRIPPED for path {self.path}",
            AlertKind.KILL_SWITCH_FAILED: (
                f"kill switch for path {self.path} could NOT be tripped: {self.detail}"
            ),
        }[self.kind]


class NotifierError(Exception):
    """The notifier could not deliver; ``retryable`` says whether to try again later,
    ``retry_after_s`` how long the service asked us to wait (a 429's Retry-After)."""

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Notifier(ABC):
    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver one alert, or raise NotifierError. Must not block the event loop."""


class Transport(Protocol):
    """Where the outbox (``alerts.outbox``) delivers: Slack's three calls. Each raises
    NotifierError when it could not deliver; a 5xx or a dropped connection is not
    retried inside the call (the outbox retries, looking the message up first)."""

    async def post(
        self, channel: str, payload: dict[str, Any], *, key: str, thread_ts: str | None = None
    ) -> str:
        """Post ``payload``'s ``text`` and ``blocks`` (a reply with ``thread_ts``) under
        idempotency ``key``; returns the message's ts."""
        ...

    async def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        """Replace message ``ts``'s text and blocks."""
        ...

    async def find(self, channel: str, key: str, *, thread_ts: str | None = None) -> str | None:
        """The ts of a recent message posted under ``key``, or None."""
        ...
