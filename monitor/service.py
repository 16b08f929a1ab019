"""The monitor service: APScheduler runs the probe matrix, results flow to the store
and the incident engine. One process, one event loop."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts import NOTIFIERS, Notifier
from canaries import Codebook, Reader
from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.killswitch import KillSwitchBackend, build_kill_switch
from monitor.network import ProxyPool
from monitor.paths import PATH_KINDS, IntegrationPath
from monitor.probe import Prober, ProbeSpec
from monitor.results import ProbeResult
from monitor.store import Store

log = logging.getLogger(__name__)


def probe_matrix(config: Config) -> list[ProbeSpec]:
    """Every canary x path x profile, in a stable order."""
    return [
        ProbeSpec(canary, path, profile)
        for path in config.paths
        for profile in config.profiles
        for canary in config.canaries
    ]


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        notifiers: Sequence[Notifier] | None = None,
        kill_switch: KillSwitchBackend | None = None,
        on_result: Callable[[ProbeResult], None] | None = None,
    ) -> None:
        self.config = config
        self.store = Store(config.store.url)
        self.specs = probe_matrix(config)
        self._notifiers = (
            list(notifiers)
            if notifiers is not None
            else [NOTIFIERS[n.kind]() for n in config.alerts]
        )
        self._kill_switch = kill_switch or build_kill_switch(config.killswitch)
        self._on_result = on_result
        self._pool = ProxyPool()
        self._adapters: dict[str, IntegrationPath] = {
            path.name: PATH_KINDS[path.kind](path) for path in config.paths
        }
        book = Codebook(config.deployment.secret.get_secret_value().encode())
        self._prober = Prober(
            Reader(book, [canary.name for canary in config.canaries]),
            self._adapters,
            self._pool,
            deadline_s=config.probe.deadline_s,
            stale_after_s=config.probe.stale_after_s,
        )
        self._engine = IncidentEngine(self.store, self._notifiers, self._kill_switch, config.paths)
        self._semaphore = asyncio.Semaphore(config.schedule.concurrency)
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._stopping = False

    async def prepare(self) -> None:
        """Migrate the database and register the fleet."""
        await asyncio.to_thread(self.store.migrate)
        await asyncio.to_thread(self.store.register, self.config.canaries, self.config.paths)

    async def start(self) -> None:
        """Prepare, then schedule every probe of the matrix with jitter."""
        await self.prepare()
        schedule = self.config.schedule
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for spec in self.specs:
            scheduler.add_job(
                self._scheduled_probe,
                "interval",
                args=[spec],
                id=spec.key,
                seconds=schedule.interval_s,
                jitter=schedule.jitter_s,
                max_instances=1,  # a slow probe is skipped, not stacked
                coalesce=True,
                misfire_grace_time=max(1, int(schedule.interval_s)),
                # Spread first runs over one interval so probes do not start in lockstep.
                next_run_time=now + timedelta(seconds=random.uniform(0, schedule.interval_s)),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("monitor started: %d probes every %gs", len(self.specs), schedule.interval_s)

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
        await self._pool.close()
        for adapter in self._adapters.values():
            await adapter.close()
        await self._kill_switch.close()
        self.store.close()
