"""The scheduler loop: APScheduler runs every probe of the matrix on an interval."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import ScheduleConfig
from monitor.probe import ProbeSpec


def start_scheduler(
    specs: Sequence[ProbeSpec],
    schedule: ScheduleConfig,
    job: Callable[[ProbeSpec], Awaitable[None]],
    on_lag: Callable[[float], None],
) -> AsyncIOScheduler:
    """Schedule ``job(spec)`` for every spec with jitter, start, and report each job's
    lag (how late it was handed to the loop) to ``on_lag``."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)
    for spec in specs:
        scheduler.add_job(
            job,
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

    def submitted(event: JobSubmissionEvent) -> None:
        # Scheduler lag: how late the job was handed to the loop after its planned
        # (jittered) time; an overloaded loop or a misfire shows up here.
        planned = min(event.scheduled_run_times, default=None)
        if planned is not None:
            on_lag((datetime.now(UTC) - planned).total_seconds())

    scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    scheduler.start()
    return scheduler
