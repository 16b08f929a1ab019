"""`IncidentEngine`: what each probe result means for on-call (the policy).

A leak opens or joins the incident of its path and leak kind, seals the frame (the
first `EVIDENCE_PER_INCIDENT` of an incident) and runs the path's kill switch
policy; anything else counts towards resolving (`resolution`) or warning
(`warnings`). The notifiers hear of openings, trips and failed trips at once; Slack
through its outbox (`threads`), which is durable where they are not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from alerts import Alert, AlertKind, Notifier, NotifierError
from alerts.evidence import EvidenceVault
from monitor.config import IncidentsConfig, PathConfig, SlackConfig
from monitor.errors import KillSwitchError
from monitor.incidents.actions import Actions
from monitor.incidents.resolution import Resolution
from monitor.incidents.threads import Threads
from monitor.incidents.timers import Timers
from monitor.incidents.warnings import Warnings, probe_side
from monitor.killswitch import KillSwitchBackend
from monitor.killswitch.machine import KillSwitchService, Transition
from monitor.results import ProbeResult
from monitor.store import Incident, Store
from monitor.store.incidents import IncidentStore, Tx
from monitor.verdict import CLEAN, WARNINGS, KillSwitchState

log = logging.getLogger(__name__)
T = TypeVar("T")

EVIDENCE_PER_INCIDENT = 3  # frames kept per incident: enough to show, not a collection


def utcnow() -> datetime:
    return datetime.now(UTC)


class IncidentEngine:
    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        kill_switch: KillSwitchBackend,
        paths: Sequence[PathConfig],
        *,
        kill_switches: KillSwitchService | None = None,
        slack: SlackConfig | None = None,
        incidents: IncidentsConfig | None = None,
        vault: EvidenceVault | None = None,
        profiles: Sequence[str] = ("good", "3g"),
        wake: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._ledger = IncidentStore(store)
        self._notifiers = tuple(notifiers)
        self._kill_switches = kill_switches or KillSwitchService(
            store, kill_switch, paths, profiles=profiles
        )
        config = incidents or IncidentsConfig()
        self._vault = vault
        self._wake = wake or (lambda: None)
        self._clock = clock
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="incidents-db")
        switches, every = self._kill_switches, config.warning_every_s
        on = slack if slack is not None and slack.enabled else None
        self._threads = Threads(
            self._ledger, on, switches, warning_every_s=every, clock=clock, wake=self._wake
        )
        self._resolution = Resolution(
            self._ledger,
            self._threads,
            switches,
            profiles=frozenset(profiles),
            rounds=config.resolve_after_rounds,
            clock=clock,
        )
        self._warnings = Warnings(store, self._ledger, self._threads, switches, config, clock=clock)
        self._actions = Actions(self._ledger, self._threads, switches, clock=clock, wake=self._wake)
        self._timers = Timers(
            self._ledger,
            self._threads,
            vault,
            renotify_s=config.renotify_s,
            clock=clock,
            wake=self._wake,
        )

    @property
    def store(self) -> Store:
        return self._store

    # -- probe results -------------------------------------------------------------

    async def handle(self, result: ProbeResult) -> int | None:
        """Record ``result``; returns the incident id it joined, if it is a leak.

        Its database work runs on the engine's own thread, one call at a time and in
        the order asked: off the event loop (milliseconds a result, which the probes
        in flight would otherwise wait out), and serial, as it was on the loop.
        """
        incident_id = None
        if result.verdict.is_leak:
            incident_id = await self._leak(result)
        else:
            await self._in_db(self._record_clean, result)
        try:
            transition = await self._kill_switches.on_result(result)
        except KillSwitchError as exc:
            log.error("kill switch could not count the result for %s: %s", result.path, exc)
            transition = None
        if transition is not None:
            await self._in_db(self.announce, transition)
        self._wake()
        return incident_id

    def close(self) -> None:
        """End the engine's database thread, after the work already asked of it."""
        self._db.shutdown(wait=True)

    async def _in_db(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, call, *args)

    def _record_clean(self, result: ProbeResult) -> None:
        self._store.record(result)
        if probe_side(result):
            self._warnings.inconclusive(result)
            return
        if result.verdict in CLEAN:
            self._resolution.count_clean(result)
        if result.verdict in WARNINGS:
            self._warnings.warn(result)

    async def _leak(self, result: ProbeResult) -> int:
        key = f"{result.path}/{result.verdict}"
        incident, opened, switch = await self._in_db(self._record_leak, result, key)
        self._wake()
        if opened:
            await self._notify(AlertKind.INCIDENT_OPENED, incident, result, switch)
        try:
            transition = await self._kill_switches.on_leak(result, incident.id)
        except KillSwitchError as exc:  # the switch was put back: the next leak retries
            await self._notify(
                AlertKind.KILL_SWITCH_FAILED, incident, result, switch, detail=str(exc)
            )
            await self._in_db(
                self.reply,
                incident.id,
                f"incident:{incident.id}:ks-failed:{incident.hits}",
                f":warning: kill switch for `{result.path}` could NOT be tripped: {exc}",
            )
            return incident.id
        if transition is not None:
            if not transition.dry_run and transition.to_state == KillSwitchState.TRIPPED:
                await self._notify(
                    AlertKind.KILL_SWITCH_TRIPPED, incident, result, KillSwitchState.TRIPPED
                )
            await self._in_db(self.announce, transition, incident.id)
        return incident.id

    def _record_leak(self, result: ProbeResult, key: str) -> tuple[Incident, bool, str]:
        """The incident joined (or opened), whether it was opened, the switch's state."""
        switch = self._kill_switches.state(result.path)

        def within(tx: Tx, incident: Incident, opened: bool) -> None:
            now, record = self._clock(), None
            if self._vault is not None and result.frame and incident.hits <= EVIDENCE_PER_INCIDENT:
                record = tx.seal(self._vault, result.frame, incident.id, now)
            self._threads.on_leak(tx, incident, opened, switch, record, result.distance, now)

        incident, opened = self._ledger.add_leak(result, key, within)
        self._store.record(result, incident.id)
        return incident, opened, switch

    async def _notify(
        self,
        kind: AlertKind,
        incident: Incident,
        result: ProbeResult,
        switch: str,
        detail: str = "",
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
            kill_switch=switch,
            detail=detail,
        )
        for notifier in self._notifiers:
            try:
                await notifier.send(alert)
            except NotifierError as exc:  # Slack has its own durable outbox
                log.error(
                    "notifier %s failed for incident #%s: %s",
                    type(notifier).__name__,
                    incident.id,
                    exc,
                )

    # -- timers, people, announcements (see their modules) ---------------------------

    def renotify_due(self) -> int:
        return self._timers.renotify_due()

    def purge_evidence(self) -> int:
        return self._timers.purge_evidence()

    def acknowledge(self, incident_id: int, user: str) -> bool:
        return self._actions.acknowledge(incident_id, user)

    def silence_warnings(self, path: str, user: str, hours: float = 1.0) -> datetime:
        return self._actions.silence_warnings(path, user, hours)

    def silenced(self, scope: str) -> bool:
        return self._warnings.silenced(scope)

    def announce(self, transition: Transition, incident_id: int | None = None) -> int:
        return self._threads.announce(transition, incident_id)

    def reply(self, incident_id: int, key: str, text: str, *, approve_path: str = "") -> None:
        """A reply in an incident's thread (``approve_path``: with an approve button)."""
        self._threads.reply(incident_id, key, text, approve_path=approve_path)
