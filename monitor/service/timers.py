"""The service's timers: re-notify open incidents, and the retention clocks (evidence
frames, raw probe rows and minute rollups)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.store.history import History

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0  # retention passes are hourly: a frame's clock is in days


def expire_history(history: History, config: Config, now: datetime) -> int:
    """Apply the store's retention to raw probe rows and minute rollups."""
    deleted = history.expire(
        now,
        config.store.raw_retention_s,
        minute_retention_s=config.store.minute_retention_s,
    )
    if deleted:
        log.info("expired %d raw probe rows", deleted)
    return deleted


async def run_timers(config: Config, engine: IncidentEngine, expire: Callable[[], int]) -> None:
    """Forever: re-notify what is due, and once an hour (and at start) purge."""
    every = min(60.0, config.incidents.renotify_s / 4)
    purged_at = float("-inf")  # the first pass runs at start
    while True:
        try:
            await asyncio.to_thread(engine.renotify_due)
            if time.monotonic() - purged_at > RETENTION_EVERY_S:
                await asyncio.to_thread(engine.purge_evidence)
                await asyncio.to_thread(expire)
                purged_at = time.monotonic()
        except Exception:  # a database hiccup must not end the timers
            log.exception("alert timers failed")
        await asyncio.sleep(every)
