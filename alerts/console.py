"""``console``: alerts as single lines on a text stream (stderr by default)."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.base import Alert, Notifier, NotifierError


class ConsoleNotifier(Notifier):
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, alert: Alert) -> None:
        stream = self._stream or sys.stderr
        line = (
            f"[camcanary] {alert.last_seen:%H:%M:%S} incident #{alert.incident_id}: "
            f"{alert.summary} (hits {alert.hits}, kill switch {alert.kill_switch})"
        )
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError) as exc:
            raise NotifierError(f"console write failed: {exc}") from exc
