"""Warnings: what is not a leak but still worth a look, never a page.

``own_stale``, ``degraded`` and availability ``error`` are counted over the last
``warning_window`` probes of a path ("X of the last Y"); from ``warning_threshold``
on, the channel hears of it (at most once per ``warning_every_s``), unless someone
silenced the path's warnings or its kill switch is off (a switched-off path is
expected to fail). Probe-side failures (the prober's own network, proxy or code)
say nothing of the path and go to the probe-health channel.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from alerts.blocks import escape
from monitor.config import IncidentsConfig
from monitor.incidents.threads import Threads
from monitor.killswitch.machine import KillSwitchService
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.store.incidents import IncidentStore
from monitor.verdict import WARNINGS, KillSwitchState, Verdict


def probe_side(result: ProbeResult) -> bool:
    """An ``error`` caused by the prober itself: inconclusive, says nothing of the path."""
    return result.verdict is Verdict.ERROR and result.prober_fault


def warnings_scope(path: str) -> str:
    return f"warnings:{path}"


class Warnings:
    def __init__(
        self,
        store: Store,
        ledger: IncidentStore,
        threads: Threads,
        kill_switches: KillSwitchService,
        config: IncidentsConfig,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._threads = threads
        self._kill_switches = kill_switches
        self._config = config
        self._clock = clock

    def inconclusive(self, result: ProbeResult) -> None:
        self._threads.post(
            self._threads.health_channel,
            f"inconclusive:{result.path}",
            f":grey_question: inconclusive probe on `{result.path}/{result.profile}` "
            f"({result.canary}): {escape(result.detail)}. The prober, not the path, failed; "
            "leaks are still checked on every other probe.",
        )

    def warn(self, result: ProbeResult) -> None:
        window, threshold = self._config.warning_window, self._config.warning_threshold
        recent = self._store.results(path=result.path, limit=window)
        counts = Counter(row.verdict for row in recent)
        noisy = sum(counts[str(v)] for v in WARNINGS)
        if noisy < threshold or self.silenced(warnings_scope(result.path)):
            return
        if self._kill_switches.state(result.path) != KillSwitchState.ARMED:
            return  # a switched-off path is expected to fail: not news
        detail = ", ".join(f"{counts[str(v)]} {v}" for v in sorted(WARNINGS) if counts[str(v)])
        self._threads.post(
            self._threads.channel,
            f"warning:{result.path}",
            f":large_yellow_circle: warning (not a leak): `{result.path}` returned "
            f"{noisy} of the last {len(recent)} probes stale, degraded or failed ({detail}).",
        )

    def silenced(self, scope: str) -> bool:
        until = self._ledger.silenced_until(scope)
        return until is not None and until > self._clock()
