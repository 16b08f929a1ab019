"""The monitor service: APScheduler runs the probe matrix, results flow to the store
and the incident engine. One process, one event loop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts import NOTIFIERS, Notifier
from alerts.evidence import EvidenceVault
from alerts.outbox import OutboxSender, utcnow
from alerts.slack import SlackNotifier
from canaries import Codebook, Reader
from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.killswitch import KillSwitchBackend, build_kill_switch
from monitor.killswitch.machine import KillSwitchService
from monitor.network import open_backend
from monitor.paths import PATH_KINDS, IntegrationPath
from monitor.probe import Prober, ProbeSpec
from monitor.results import ProbeResult
from monitor.service.metrics import Metrics
from monitor.store import Store
from monitor.store.history import History
from monitor.web.context import WebContext
from monitor.web.slack_actions import SlackActions

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
        clock: Callable[[], datetime] | None = None,
        outbox_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.store = Store(config.store.url)
        self.history = History(self.store.engine)
        self.specs = probe_matrix(config)
        self.metrics = Metrics(
            self.store.engine, [path.name for path in config.paths], config.profiles
        )
        self._clock = clock or utcnow
        self._notifiers = (
            list(notifiers)
            if notifiers is not None
            else [NOTIFIERS[n.kind]() for n in config.alerts]
        )
        self._kill_switch = kill_switch or build_kill_switch(config.killswitch)
        self._on_result = on_result
        self._pool = open_backend(
            config.network.backend, toxiproxy_url=config.network.toxiproxy_url
        )
        self._adapters: dict[str, IntegrationPath] = {
            path.name: PATH_KINDS[path.kind](path) for path in config.paths
        }
        book = Codebook(config.deployment.secret.get_secret_value().encode())
        self._codebook = book
        self._prober = Prober(
            Reader(book, [canary.name for canary in config.canaries]),
            self._adapters,
            self._pool,
            deadline_s=config.probe.deadline_s,
            stale_after_s=config.probe.stale_after_s,
        )
        self.kill_switches = KillSwitchService(
            self.store,
            self._kill_switch,
            config.paths,
            profiles=config.profiles,
            clean_rounds=config.killswitch.clean_rounds,
        )
        # Slack: every message goes through the durable outbox (alerts.outbox).
        self.slack: SlackNotifier | None = None
        self.outbox: OutboxSender | None = None
        slack = config.slack
        if slack.enabled and slack.bot_token is not None:
            self.slack = SlackNotifier(
                slack.bot_token.get_secret_value(),
                channel=slack.channel or "",
                base_url=slack.api_url,
                min_interval_s=slack.min_interval_s,
            )
            self.outbox = OutboxSender(
                self.store.engine, self.slack, clock=clock or utcnow, **(outbox_options or {})
            )
        self.vault = vault = EvidenceVault(
            config.evidence.key_bytes, retention=timedelta(seconds=config.evidence.retention_s)
        )
        self._engine = IncidentEngine(
            self.store,
            self._notifiers,
            self._kill_switch,
            config.paths,
            kill_switches=self.kill_switches,
            slack=slack,
            incidents=config.incidents,
            vault=vault,
            profiles=config.profiles,
            wake=self.outbox.wake if self.outbox is not None else None,
            clock=clock or utcnow,
        )
        self._background: list[asyncio.Task[None]] = []
        self._prepared = False
        # The incident buttons' endpoint, for the web app (needs the signing secret).
        self.slack_actions: SlackActions | None = None
        if self.slack is not None and slack.signing_secret is not None:
            self.slack_actions = SlackActions(
                self._engine,
                self.kill_switches,
                signing_secret=slack.signing_secret.get_secret_value(),
                oncall=slack.oncall,
            )
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
        scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        scheduler.start()
        self._scheduler = scheduler
        self.start_alerting()
        log.info("monitor started: %d probes every %gs", len(self.specs), schedule.interval_s)

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

    def _submitted(self, event: JobSubmissionEvent) -> None:
        # Scheduler lag: how late the job was handed to the loop after its planned
        # (jittered) time; an overloaded loop or a misfire shows up here.
        planned = min(event.scheduled_run_times, default=None)
        if planned is not None:
            self.metrics.observe_lag((datetime.now(UTC) - planned).total_seconds())

    def start_alerting(self) -> None:
        """Run the outbox sender and the re-notify / evidence-retention timer."""
        if self._background:
            return
        if self.outbox is not None:
            self._background.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        self._background.append(asyncio.create_task(self._timers(), name="alert-timers"))

    async def _timers(self) -> None:
        every = min(60.0, self.config.incidents.renotify_s / 4)
        purged_at = float("-inf")  # the first pass runs at start
        while True:
            try:
                await asyncio.to_thread(self._engine.renotify_due)
                if time.monotonic() - purged_at > 3600:
                    await asyncio.to_thread(self._engine.purge_evidence)
                    await asyncio.to_thread(self.expire_history)
                    purged_at = time.monotonic()
            except Exception:  # a database hiccup must not end the timers
                log.exception("alert timers failed")
            await asyncio.sleep(every)

    def expire_history(self) -> int:
        """Apply the store's retention to raw probe rows and minute rollups."""
        deleted = self.history.expire(
            self._clock(),
            self.config.store.raw_retention_s,
            minute_retention_s=self.config.store.minute_retention_s,
        )
        if deleted:
            log.info("expired %d raw probe rows", deleted)
        return deleted

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
