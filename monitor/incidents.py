"""The incident engine: a leak verdict opens (or joins) its path's incident, alerts
on-call once, and trips the path's kill switch when the path's policy says so.

Availability noise (error, degraded, blank, own_stale) never opens an incident.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerts import Alert, AlertKind, Notifier, NotifierError
from monitor.config import PathConfig
from monitor.errors import KillSwitchError
from monitor.killswitch import KillSwitchBackend
from monitor.results import ProbeResult
from monitor.store import ARMED, TRIPPED, Incident, Store

log = logging.getLogger(__name__)


class IncidentEngine:
    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        kill_switch: KillSwitchBackend,
        paths: Sequence[PathConfig],
    ) -> None:
        self._store = store
        self._notifiers = tuple(notifiers)
        self._kill_switch = kill_switch
        self._policy = {path.name: path.on_leak for path in paths}

    async def handle(self, result: ProbeResult) -> int | None:
        """Record ``result``; returns the incident id it joined, if it is a leak."""
        if not result.verdict.is_leak:
            self._store.record(result)
            return None
        incident, opened = self._store.add_leak(result)
        self._store.record(result, incident.id)
        if opened:
            await self._notify(AlertKind.INCIDENT_OPENED, incident, result)
        if self._policy.get(result.path) == "trip":
            await self._trip(incident, result)
        return incident.id

    async def _trip(self, incident: Incident, result: ProbeResult) -> None:
        reason = f"incident #{incident.id}: {result.verdict} seen by {result.canary}"
        # Compare-and-set: of many leak results racing here, one trips the switch.
        if not self._store.set_kill_switch(result.path, TRIPPED, reason, expect=ARMED):
            return
        try:
            await self._kill_switch.apply(result.path, TRIPPED, reason)
        except KillSwitchError as exc:
            log.error("kill switch for %s failed: %s", result.path, exc)
            self._store.set_kill_switch(result.path, ARMED, f"trip failed: {exc}", expect=TRIPPED)
            await self._notify(AlertKind.KILL_SWITCH_FAILED, incident, result, detail=str(exc))
            return
        await self._notify(AlertKind.KILL_SWITCH_TRIPPED, incident, result)

    async def _notify(
        self, kind: AlertKind, incident: Incident, result: ProbeResult, detail: str = ""
    ) -> None:
        alert = Alert(
            kind=kind,
            incident_id=incident.id,
            path=incident.path,
            verdict=str(result.verdict),
            canary=result.canary,
            source=result.source_canary,
            profile=result.profile,
            hits=incident.hits,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            kill_switch=self._store.kill_switch(incident.path),
            detail=detail,
        )
        for notifier in self._notifiers:
            try:
                await notifier.send(alert)
            except NotifierError as exc:
                # The durable outbox that retries these is the Slack issue's; until then
                # a failed send is logged loudly and the incident stays in the database.
                log.error(
                    "notifier %s failed for incident #%s: %s",
                    type(notifier).__name__,
                    incident.id,
                    exc,
                )
