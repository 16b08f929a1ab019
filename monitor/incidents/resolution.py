"""Clean rounds resolve an incident.

A round is complete once every configured profile of the incident's path returned a
clean verdict since the last round; after ``resolve_after_rounds`` rounds the
incident resolves (its parent edited, a resolve reply). A leak on the path starts
the count again (`monitor.store.Store.add_leak`). The count is the incident's own
(``incidents.clean_rounds``): resolving needs no Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from monitor.incidents.threads import Threads
from monitor.killswitch.machine import KillSwitchService
from monitor.results import ProbeResult
from monitor.store import Incident
from monitor.store.incidents import IncidentStore, Tx

log = logging.getLogger(__name__)


class Resolution:
    def __init__(
        self,
        ledger: IncidentStore,
        threads: Threads,
        kill_switches: KillSwitchService,
        *,
        profiles: frozenset[str],
        rounds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._ledger = ledger
        self._threads = threads
        self._kill_switches = kill_switches
        self._profiles = profiles
        self._rounds = rounds
        self._clock = clock

    def count_clean(self, result: ProbeResult) -> None:
        """Count a clean verdict towards the path's open incidents (other profiles than
        the configured ones do not count)."""
        if result.profile not in self._profiles:
            return
        self._ledger.count_clean(
            result.path, result.profile, self._profiles, self._rounds, self._resolved
        )

    def _resolved(self, tx: Tx, incident: Incident) -> None:
        rounds = self._rounds
        log.info(
            "incident #%d on %s resolved after %d clean rounds", incident.id, incident.path, rounds
        )
        if not self._threads.enabled:
            return
        now = self._clock()
        switch = self._kill_switches.state(incident.path)
        self._threads.refresh(tx, incident, switch, now)
        self._threads.reply_in(
            tx,
            incident.id,
            f"incident:{incident.id}:resolved",
            f":white_check_mark: resolved: {rounds} clean rounds across "
            f"{', '.join(sorted(self._profiles))} on `{incident.path}` "
            f"({incident.hits} hits in all; kill switch {switch}).",
            now,
        )
