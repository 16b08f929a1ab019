"""The monitor service: APScheduler runs the probe matrix, results flow to the store
and the incident engine. One process, one event loop.

`monitor.service.compose` builds the parts, `monitor.service.scheduler` schedules the
probes, `monitor.service.timers` runs re-notify and retention; `Monitor` runs them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts import Notifier
from alerts.outbox import utcnow
from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.killswitch import KillSwitchBackend
from monitor.probe import ProbeSpec
from monitor.results import ProbeResult
from monitor.service.compose import compose, probe_matrix
from monitor.service.scheduler import start_scheduler
from monitor.service.timers import expire_history, run_timers
from monitor.web.context import WebContext

log = logging.getLogger(__name__)


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        notifiers: Sequence[Notifier] | None = None,
        kill_switch: KillSwitchBackend | None = None,
        on_result: Callable[[ProbeResult], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        outbox_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        parts = compose(
            config,
            notifiers=notifiers,
            kill_switch=kill_switch,
            clock=clock,
            outbox_options=outbox_options,
        )
        self.store, self.history, self.specs = parts.store, parts.history, parts.specs
        self.metrics = parts.metrics
        self._clock = clock or utcnow
        self._notifiers = parts.notifiers
        self._kill_switch = parts.kill_switch
        self._on_result = on_result
        self._pool, self._adapters = parts.pool, parts.adapters
        self._codebook, self._prober = parts.codebook, parts.prober
        self.kill_switches = parts.kill_switches
        self.slack, self.outbox, self.vault = parts.slack, parts.outbox, parts.vault
        self._engine = parts.engine
        self.slack_actions = parts.slack_actions
        self._background: list[asyncio.Task[None]] = []
        self._prepared = False
        self._semaphore = asyncio.Semaphore(config.schedule.concurrency)
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._stopping = False

    async def prepare(self) -> None:
        """Migrate the database and register the fleet."""
        await asyncio.to_thread(self.store.migrate)
        await asyncio.to_thread(self.store.register, self.config.canaries, self.config.paths)
        self._prepared = True

    async def start(self) -> None:
        """Prepare, then schedule every probe of the matrix with jitter."""
        await self.prepare()
        self._scheduler = start_scheduler(
            self.specs, self.config.schedule, self._scheduled_probe, self.metrics.observe_lag
        )
        self.start_alerting()
        log.info(
            "monitor started: %d probes every %gs", len(self.specs), self.config.schedule.interval_s
        )

    @property
    def engine(self) -> IncidentEngine:
        return self._engine

    def web_context(self) -> WebContext:
        """Everything the web app reads: see ``monitor.web.create_app``."""
        return WebContext(
            store=self.store,
            kill_switches=self.kill_switches,
            history=self.history,
            engine=self._engine,
            vault=self.vault,
            config=self.config.web,
            metrics=self.metrics,
            clock=self._clock,
            paths=tuple(path.name for path in self.config.paths),
            profiles=self.config.profiles,
            canaries=tuple(canary.name for canary in self.config.canaries),
            codebook=self._codebook,
        )

    def start_alerting(self) -> None:
        """Run the outbox sender and the re-notify / evidence-retention timer."""
        if self._background:
            return
        if self.outbox is not None:
            self._background.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        self._background.append(
            asyncio.create_task(
                run_timers(self.config, self._engine, self.expire_history), name="alert-timers"
            )
        )

    def expire_history(self) -> int:
        """Apply the store's retention to raw probe rows and minute rollups."""
        return expire_history(self.history, self.config, self._clock())

    async def flush_alerts(self, timeout_s: float = 5.0) -> int:
        """Deliver what the outbox holds now, within ``timeout_s``; returns what is left."""
        if self.outbox is None:
            return 0
        deadline = time.monotonic() + timeout_s
        while self.outbox.pending() and time.monotonic() < deadline:
            if not await self.outbox.deliver_due():
                await asyncio.sleep(0.1)
        return self.outbox.pending()

    async def _scheduled_probe(self, spec: ProbeSpec) -> None:
        # A job the scheduler launched just before stop() must not start a probe on
        # the proxies and store that stop() is closing.
        if not self._stopping:
            await self.run_probe(spec)

    async def run_probe(self, spec: ProbeSpec) -> ProbeResult:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        async with self._semaphore:
            result = await self._prober.probe(spec)
        self.metrics.observe(result)
        try:
            await self._engine.handle(result)
        except Exception:  # a store or alert failure must not stop the schedule
            log.exception("could not handle the result of %s", spec.key)
        if self._on_result is not None:
            self._on_result(result)
        return result

    async def run_round(self) -> list[ProbeResult]:
        """Run the whole matrix once, now (bounded by the configured concurrency)."""
        return list(await asyncio.gather(*(self.run_probe(spec) for spec in self.specs)))

    async def stop(self) -> None:
        """Stop scheduling, let running probes finish (each within its deadline), close."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.pause()
            # Job tasks the scheduler created before the pause take their first step on
            # the next loop iteration: let them, so each either sees _stopping and ends
            # or is already in _in_flight when we wait below.
            await asyncio.sleep(0)
            running = [t for t in self._in_flight if t is not asyncio.current_task()]
            if running:
                await asyncio.wait(running, timeout=self.config.probe.deadline_s + 5)
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self.outbox is not None and self._prepared:
            await self.flush_alerts(timeout_s=5)  # best effort: the outbox keeps the rest
            self.outbox.stop()  # ends after the message in flight, which is kept
        for task in self._background:
            if task.get_name() != "outbox" or not await _ended(task, timeout_s=5):
                task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self._pool.close()
        for adapter in self._adapters.values():
            await adapter.close()
        await asyncio.to_thread(self._engine.close)  # its last writes, then its thread
        await self._kill_switch.close()
        self.store.close()


async def _ended(task: asyncio.Task[None], *, timeout_s: float) -> bool:
    done, _ = await asyncio.wait([task], timeout=timeout_s)
    return bool(done)


__all__ = ["Monitor", "probe_matrix"]
