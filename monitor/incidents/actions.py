"""What people do to an incident (from Slack buttons or the web page).

Acknowledging is a compare-and-set on the incident itself: the first one wins, later
ones are refused, and reminders stop. It needs no Slack; with Slack the parent shows
who acknowledged and the thread hears of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.incidents.threads import Threads
from monitor.incidents.warnings import warnings_scope
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Incident
from monitor.store.incidents import IncidentStore, Tx


class Actions:
    def __init__(
        self,
        ledger: IncidentStore,
        threads: Threads,
        kill_switches: KillSwitchService,
        *,
        clock: Callable[[], datetime],
        wake: Callable[[], None],
    ) -> None:
        self._ledger = ledger
        self._threads = threads
        self._kill_switches = kill_switches
        self._clock = clock
        self._wake = wake

    def acknowledge(self, incident_id: int, user: str) -> bool:
        """Stop re-notification; False if already acknowledged (or unknown)."""
        now = self._clock()

        def tell(tx: Tx, incident: Incident) -> None:
            if not self._threads.enabled:
                return
            switch = self._kill_switches.state(incident.path)
            self._threads.refresh(tx, incident, switch, now)
            self._threads.reply_in(
                tx,
                incident_id,
                f"incident:{incident_id}:ack",
                f":eyes: acknowledged by <@{user}>; reminders stop.",
                now,
            )

        if not self._ledger.acknowledge(incident_id, user, now, tell):
            return False
        self._wake()
        return True

    def silence_warnings(self, path: str, user: str, hours: float = 1.0) -> datetime:
        """No warnings about ``path`` for ``hours`` (leaks still page); until when."""
        until = self._clock() + timedelta(hours=hours)
        self._ledger.silence(warnings_scope(path), until, user)
        return until
