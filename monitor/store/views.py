"""The value types of probe history (``store/history.py``): what dashboards receive.

All are frozen; times are aware UTC datetimes.

Severity, worst first (the verdict a cell shows when it saw several): the leak kinds
(``foreign`` highest, DESIGN.md), then ``own_stale`` (a cache replaying old frames:
the failure class that precedes leaks), ``error`` (no frame at all), ``blank``,
``degraded`` (own code, damaged), and ``own``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
EVENT_KINDS = ("deploy", "cache_update", "config", "other")


@dataclass(frozen=True)
class Cell:
    path: str
    profile: str
    worst: str | None  # the most severe verdict in the window, None without probes
    counts: dict[str, int]  # verdict -> probes in the window (non-zero ones only)
    last_at: datetime | None  # the last probe of this path and profile, ever

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Overview:
    paths: list[str]
    profiles: list[str]
    cells: list[Cell]  # one per (path, profile), path-major in the order above
    window_s: float
    generated_at: datetime

    def cell(self, path: str, profile: str) -> Cell:
        for cell in self.cells:
            if cell.path == path and cell.profile == profile:
                return cell
        raise KeyError(f"no cell for path {path!r} and profile {profile!r}")


@dataclass(frozen=True)
class Point:
    at: datetime  # bucket start
    counts: dict[str, int]  # outcome -> probes; every OUTCOMES key present


@dataclass(frozen=True)
class Series:
    profile: str
    points: list[Point]  # contiguous buckets, oldest first, zeros filled


@dataclass(frozen=True)
class Percentiles:
    """Probe duration quantiles in seconds, estimated from the rollup histograms."""

    p50: float | None
    p95: float | None
    p99: float | None
    count: int


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    kind: str
    title: str
    path: str | None  # None: a global event (shown on every path's chart)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PathHistory:
    path: str
    window: str
    bucket_s: int
    since: datetime  # start of the first bucket
    until: datetime  # end of the last bucket (the one holding ``now``)
    series: list[Series]
    latency: dict[str, Percentiles]  # per profile, over the whole window
    events: list[Event]


@dataclass(frozen=True)
class ProbeRecord:
    id: int
    started_at: datetime
    duration_s: float
    canary: str
    path: str
    profile: str
    verdict: str
    source_canary: str | None
    distance: int | None
    age_s: float | None
    status: int | None
    bytes_received: int
    detail: str
    incident_id: int | None


@dataclass(frozen=True)
class ProbePage:
    items: list[ProbeRecord]  # newest id first
    next_before_id: int | None  # pass as ``before_id`` for the next page; None at the end


@dataclass(frozen=True)
class CanaryStatus:
    name: str
    camera_id: str
    paths: list[str]  # paths this canary has been probed on
    last_probe_at: datetime | None
    last_own_at: datetime | None
    last_own_age_s: float | None  # seconds since it last read as its own self


def utc(at: datetime, name: str = "time") -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{name} must be an aware UTC datetime, got a naive one")
    return at.astimezone(UTC)
