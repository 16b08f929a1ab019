"""Probe history for dashboards, the API and the benchmark.

Charts and the overview read ``probe_rollups`` (see ``store/rollups.py``) and
``probe_latest`` only, so their cost follows the window, not the raw row count. Raw
rows (pages, incident evidence, retention, rebuilds) are ``ProbeLog``'s, in
``store/probes.py``; value types live in ``store/views.py`` and are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, func, or_, select

from monitor.store import rollups
from monitor.store.models import CanaryRow, EventRow, PathRow, ProbeLatestRow, probe_rollups
from monitor.store.probes import ProbeLog
from monitor.store.rollups import HOUR, MINUTE, QUARTER, SIX_HOURS, bucket_start
from monitor.store.views import (
    EVENT_KINDS,
    WINDOWS,
    CanaryStatus,
    Cell,
    Event,
    Overview,
    PathHistory,
    Percentiles,
    Point,
    ProbePage,
    ProbeRecord,
    Series,
    utc,
)
from monitor.verdict import OUTCOMES, Verdict, outcome_of, worst

# window -> the rollup resolution it reads, which is its chart's bucket width:
# 60, 96, 168 and 120 points.
PLANS: dict[str, int] = {"1h": MINUTE, "24h": QUARTER, "7d": HOUR, "30d": SIX_HOURS}
LATEST = cast(Table, ProbeLatestRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
R = probe_rollups.c


class History(ProbeLog):
    """Read and maintain probe history on a migrated database (see ``Store.migrate``).

    Every call is its own short transaction; ``KeyError``/``ValueError`` carry a
    message fit for an API error body.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def overview(
        self, now: datetime, window_s: float = 900.0, profiles: Sequence[str] | None = None
    ) -> Overview:
        """Every registered path x profile over the last ``window_s`` (whole minutes)."""
        now = utc(now, "now")
        start = bucket_start(now - timedelta(seconds=window_s), MINUTE)
        with self.engine.connect() as conn:
            paths = list(conn.scalars(select(PathRow.name).order_by(PathRow.name)))
            counted = conn.execute(
                select(R.path, R.profile, R.verdict, func.sum(R.count))
                .where(R.resolution == MINUTE, R.bucket_start >= start)
                .where(R.bucket_start <= int(now.timestamp()))
                .group_by(R.path, R.profile, R.verdict)
            ).all()
            latest = conn.execute(
                select(LATEST.c.path, LATEST.c.profile, func.max(LATEST.c.last_at)).group_by(
                    LATEST.c.path, LATEST.c.profile
                )
            ).all()
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for path, profile, verdict, n in counted:
            counts.setdefault((path, profile), {})[verdict] = int(n)
        last = {(path, profile): at for path, profile, at in latest}
        if profiles is None:
            profiles = sorted({p for _, p in counts} | {p for path, p in last if path in paths})
        cells = [
            Cell(
                path=path,
                profile=profile,
                worst=worst(list(counts.get((path, profile), {}))),
                counts=counts.get((path, profile), {}),
                last_at=last.get((path, profile)),
            )
            for path in paths
            for profile in profiles
        ]
        return Overview(paths, list(profiles), cells, float(window_s), now)

    def path_history(
        self, path: str, window: str, now: datetime, profiles: Sequence[str] | None = None
    ) -> PathHistory:
        """Outcome series per profile, latency percentiles and events of one path."""
        if window not in PLANS:
            raise ValueError(f"unknown window {window!r}; choose one of {', '.join(WINDOWS)}")
        step = PLANS[window]
        now = utc(now, "now")
        last = bucket_start(now, step)
        n_points = int(WINDOWS[window].total_seconds()) // step
        first, until = last - (n_points - 1) * step, last + step
        where = (
            R.resolution == step,
            R.path == path,
            R.bucket_start >= first,
            R.bucket_start < until,
        )
        with self.engine.connect() as conn:
            if conn.scalar(select(PathRow.name).where(PathRow.name == path)) is None:
                known = ", ".join(conn.scalars(select(PathRow.name).order_by(PathRow.name)))
                raise KeyError(f"unknown path {path!r}; registered paths: {known or 'none'}")
            counted = conn.execute(
                select(R.bucket_start, R.profile, R.verdict, func.sum(R.count))
                .where(*where)
                .group_by(R.bucket_start, R.profile, R.verdict)
            ).all()
            hist = conn.execute(
                select(R.profile, *(func.sum(R[h]) for h in rollups.H_COLUMNS))
                .where(*where)
                .group_by(R.profile)
            ).all()
            seen = conn.scalars(select(LATEST.c.profile).where(LATEST.c.path == path)).all()
        if profiles is None:
            profiles = sorted({row.profile for row in counted} | set(seen))
        grid = {
            profile: [dict.fromkeys(OUTCOMES, 0) for _ in range(n_points)] for profile in profiles
        }
        for b, profile, verdict, n in counted:
            if profile in grid:
                grid[profile][(int(b) - first) // step][outcome_of(verdict)] += int(n)
        times = [datetime.fromtimestamp(first + i * step, UTC) for i in range(n_points)]
        series = [
            Series(profile, [Point(at, c) for at, c in zip(times, grid[profile], strict=True)])
            for profile in profiles
        ]
        latency = dict.fromkeys(profiles, Percentiles(None, None, None, 0))
        for profile, *buckets in hist:
            if profile in latency:
                counts = [int(x or 0) for x in buckets]
                p50, p95, p99 = rollups.percentiles(counts, (0.5, 0.95, 0.99))
                latency[profile] = Percentiles(p50, p95, p99, sum(counts))
        since_at, until_at = times[0], datetime.fromtimestamp(until, UTC)
        return PathHistory(
            path=path,
            window=window,
            bucket_s=step,
            since=since_at,
            until=until_at,
            series=series,
            latency=latency,
            events=self.events(since=since_at, until=until_at, path=path),
        )

    def canaries(self, now: datetime) -> list[CanaryStatus]:
        """Every registered canary with when it was last probed and last read as itself."""
        now = utc(now, "now")
        with self.engine.connect() as conn:
            fleet = conn.execute(select(CanaryRow.name, CanaryRow.camera_id).order_by("name"))
            latest = conn.execute(
                select(
                    LATEST.c.canary, LATEST.c.path, LATEST.c.verdict, func.max(LATEST.c.last_at)
                ).group_by(LATEST.c.canary, LATEST.c.path, LATEST.c.verdict)
            ).all()
            out = []
            for name, camera_id in fleet:
                mine = [row for row in latest if row[0] == name]
                last_probe = max((row[3] for row in mine), default=None)
                last_own = max((row[3] for row in mine if row[2] == Verdict.OWN), default=None)
                age = None if last_own is None else (now - last_own).total_seconds()
                paths = sorted({row[1] for row in mine})
                out.append(CanaryStatus(name, camera_id, paths, last_probe, last_own, age))
        return out

    def add_event(
        self,
        *,
        kind: str,
        title: str,
        at: datetime,
        path: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Event:
        """Record a change marker; ``ValueError`` for an unknown kind or a bad title."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; choose one of {', '.join(EVENT_KINDS)}")
        title = title.strip()
        if path is not None and not 0 < len(path) <= 63:
            raise ValueError("event path must be a path name of 1 to 63 characters")
        if not title or len(title) > 200:
            raise ValueError("event title must be 1 to 200 characters")
        details = dict(details or {})
        try:
            json.dumps(details)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event details must be JSON-serialisable: {exc}") from exc
        at = utc(at, "at")
        values = {"at": at, "kind": kind, "title": title, "path": path, "details": details}
        with self.engine.begin() as conn:
            key = conn.execute(EVENTS.insert().values(values)).inserted_primary_key
        assert key is not None
        return Event(int(key[0]), at, kind, title, path, details)

    def events(
        self, *, since: datetime, until: datetime, path: str | None = None, limit: int = 500
    ) -> list[Event]:
        """Events with ``since <= at <= until``, oldest first; a path also gets global ones."""
        query = (
            select(EVENTS)
            .where(EVENTS.c.at >= utc(since, "since"), EVENTS.c.at <= utc(until, "until"))
            .order_by(EVENTS.c.at, EVENTS.c.id)
            .limit(max(1, min(5000, limit)))
        )
        if path is not None:
            query = query.where(or_(EVENTS.c.path == path, EVENTS.c.path.is_(None)))
        with self.engine.connect() as conn:
            return [Event(**row) for row in conn.execute(query).mappings()]


__all__ = [
    "EVENT_KINDS",
    "WINDOWS",
    "CanaryStatus",
    "Cell",
    "Event",
    "History",
    "Overview",
    "PathHistory",
    "Percentiles",
    "Point",
    "ProbePage",
    "ProbeRecord",
    "Series",
]
