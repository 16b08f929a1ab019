"""What the service's timers ask of the incidents: reminders and evidence retention.

An open leak incident nobody acknowledged is reminded in its thread every
``renotify_s`` (a compare-and-set claim on the thread's reminder count: one replica
reminds); evidence past retention is deleted unless an open incident holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from alerts.evidence import EvidenceVault
from monitor.incidents.threads import Threads
from monitor.store import Incident
from monitor.store.incidents import IncidentStore, Tx


class Timers:
    def __init__(
        self,
        ledger: IncidentStore,
        threads: Threads,
        vault: EvidenceVault | None,
        *,
        renotify_s: float,
        clock: Callable[[], datetime],
        wake: Callable[[], None],
    ) -> None:
        self._ledger = ledger
        self._threads = threads
        self._vault = vault
        self._renotify = timedelta(seconds=renotify_s)
        self._clock = clock
        self._wake = wake

    def renotify_due(self) -> int:
        """Remind the thread of every unacknowledged open leak incident that is due."""
        if not self._threads.enabled:
            return 0
        now = self._clock()

        def remind(tx: Tx, incident: Incident, count: int) -> None:
            self._threads.reply_in(
                tx,
                incident.id,
                f"incident:{incident.id}:renotify:{count}",
                f":rotating_light: still open and unacknowledged: {incident.hits} hits, "
                f"last seen {incident.last_seen:%H:%M:%S} UTC. Acknowledge to stop reminders.",
                now,
            )

        sent = self._ledger.remind_due(now - self._renotify, now, remind)
        if sent:
            self._wake()
        return sent

    def purge_evidence(self) -> int:
        """Delete evidence past retention, except what open incidents hold."""
        if self._vault is None:
            return 0
        return self._ledger.purge_evidence(self._vault, self._clock())
