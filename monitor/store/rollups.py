"""Probe rollups: per-bucket verdict counts and duration histograms, kept next to raw rows.

``probe_rollups`` holds, per (resolution, path, bucket, profile, verdict), the number
of probes, their summed duration and a fixed log-spaced duration histogram, at minute,
15-minute, hour and 6-hour resolution. ``Store.record`` upserts all four (and
``probe_latest``) in the transaction that inserts the raw row, so rollups never
disagree with what was recorded; ``rebuild`` recomputes them from raw rows in SQL
(after a bulk load or the 0004 migration). Dashboards read rollups only, so their cost
depends on the window, not on how many raw rows exist.

Histogram bucket 0 holds durations below ``EDGES[0]``, bucket k durations in
``[EDGES[k-1], EDGES[k])`` and bucket 23 everything from ``EDGES[-1]`` (~75 s) up.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import typing
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Table,
    case,
    cast,
    delete,
    extract,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.store.models import (
    HISTOGRAM_BUCKETS,
    ProbeLatestRow,
    ProbeResultRow,
    probe_rollups,
)

MINUTE, QUARTER, HOUR, SIX_HOURS = 60, 900, 3600, 21600
# One per chart window (1h, 24h, 7d, 30d), so no chart re-buckets rollups in SQL.
RESOLUTIONS = (MINUTE, QUARTER, HOUR, SIX_HOURS)
# 10 ms growing by 1.5x: 23 edges up to ~75 s, so a bucket is at most 1.5x wide.
EDGES: tuple[float, ...] = tuple(0.01 * 1.5**k for k in range(HISTOGRAM_BUCKETS - 1))
H_COLUMNS = tuple(f"h{k:02d}" for k in range(HISTOGRAM_BUCKETS))
KEY = ("resolution", "path", "bucket_start", "profile", "verdict")


def histogram_bucket(duration_s: float) -> int:
    return bisect.bisect_right(EDGES, duration_s)


def bucket_start(at: datetime, resolution: int) -> int:
    seconds = int(at.timestamp() // 1)
    return seconds - seconds % resolution


# Both dialects have ``INSERT ... ON CONFLICT DO UPDATE``.
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _dialect(executor: Session | Connection) -> str:
    """The executor's dialect name, if the rollups support it (SQLite or PostgreSQL)."""
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    name = bind.dialect.name
    if name not in _INSERTS:
        raise NotImplementedError(f"probe rollups need SQLite or PostgreSQL, not {name}")
    return name


def _insert(executor: Session | Connection) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both backends."""
    return _INSERTS[_dialect(executor)]


def add_probe(
    executor: Session | Connection,
    *,
    canary: str,
    path: str,
    profile: str,
    verdict: str,
    started_at: datetime,
    duration_s: float,
) -> None:
    """Count one probe into every resolution and ``probe_latest``, in the caller's transaction.

    Rows are upserted in one fixed order (resolutions ascending, then latest), so
    concurrent writers on PostgreSQL queue instead of deadlocking.
    """
    counts, latest = _probe_upserts(_dialect(executor))
    hit = H_COLUMNS[histogram_bucket(duration_s)]
    histogram = {column: int(column == hit) for column in H_COLUMNS}
    rows = [
        {
            "resolution": resolution,
            "path": path,
            "bucket_start": bucket_start(started_at, resolution),
            "profile": profile,
            "verdict": verdict,
            "count": 1,
            "duration_sum": duration_s,
            **histogram,
        }
        for resolution in RESOLUTIONS
    ]
    executor.execute(counts, rows)
    seen = (canary, path, profile, verdict, started_at)
    executor.execute(latest, dict(zip(LATEST, seen, strict=True)))


@functools.cache
def _probe_upserts(dialect: str) -> tuple[Any, Any]:
    """The two upserts of `add_probe`, built once per dialect with their values as bound
    parameters: a statement with its rows in it (``.values([...])``) has no cache key,
    so SQLAlchemy compiled both anew for every probe (most of a probe's recording CPU)."""
    insert = _INSERTS[dialect]
    counts = insert(probe_rollups)
    c = probe_rollups.c
    counts = counts.on_conflict_do_update(
        index_elements=list(KEY),
        set_={
            "count": c.count + counts.excluded.count,
            "duration_sum": c.duration_sum + counts.excluded.duration_sum,
            **{h: c[h] + counts.excluded[h] for h in H_COLUMNS},
        },
    )
    return counts, _latest_upsert(insert(typing.cast(Table, ProbeLatestRow.__table__)))


LATEST = ("canary", "path", "profile", "verdict", "last_at")


def _upsert_latest(
    executor: Session | Connection, insert: Any, rows: Sequence[tuple[Any, ...]]
) -> None:
    latest = typing.cast(Table, ProbeLatestRow.__table__)
    stmt = insert(latest).values([dict(zip(LATEST, row, strict=True)) for row in rows])
    executor.execute(_latest_upsert(stmt))


def _latest_upsert(stmt: Any) -> Any:
    latest = typing.cast(Table, ProbeLatestRow.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["canary", "path", "profile", "verdict"],
        # Probes finish out of order: keep the later time (portable, no GREATEST).
        set_={
            "last_at": case(
                (stmt.excluded.last_at > latest.c.last_at, stmt.excluded.last_at),
                else_=latest.c.last_at,
            )
        },
    )


def epoch_of(column: ColumnElement[datetime], dialect: str) -> ColumnElement[int]:
    """Whole Unix seconds of a stored UTC time, in SQL."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(extract("epoch", column)), BigInteger)


def histogram_bucket_sql(duration: ColumnElement[float]) -> ColumnElement[int]:
    """``histogram_bucket`` in SQL (the same float edges, so both agree exactly)."""
    whens = [(duration < edge, k) for k, edge in enumerate(EDGES)]
    return case(*whens, else_=HISTOGRAM_BUCKETS - 1)


def rebuild(connection: Connection, since: datetime | None) -> int:
    """Recompute rollups from raw rows in SQL; returns the number of rollup rows written.

    ``since`` is rounded down to 6 hours (UTC) and every bucket from there on is replaced;
    ``None`` replaces all rollups. Raw rows expired before ``since`` are gone, so only
    rebuild a range whose raw rows are all present (a bulk load, a migration).
    ``probe_latest`` is merged, never lowered.
    """
    start = 0 if since is None else bucket_start(since, RESOLUTIONS[-1])
    since_at = datetime.fromtimestamp(start, UTC)
    connection.execute(delete(probe_rollups).where(probe_rollups.c.bucket_start >= start))
    raw = typing.cast(Table, ProbeResultRow.__table__).c
    inner = (
        select(
            raw.path,
            raw.profile,
            raw.verdict,
            raw.duration_s,
            epoch_of(raw.started_at, connection.dialect.name).label("ep"),
            histogram_bucket_sql(raw.duration_s).label("hb"),
        )
        .where(raw.started_at >= since_at)
        .subquery("raw")
    )
    bucket = (inner.c.ep - inner.c.ep % MINUTE).label("b")
    minute = select(
        literal(MINUTE),
        inner.c.path,
        bucket,
        inner.c.profile,
        inner.c.verdict,
        func.count(),
        func.sum(inner.c.duration_s),
        *(func.sum(case((inner.c.hb == k, 1), else_=0)) for k in range(HISTOGRAM_BUCKETS)),
    ).group_by(inner.c.path, bucket, inner.c.profile, inner.c.verdict)
    columns = [*KEY, "count", "duration_sum", *H_COLUMNS]
    connection.execute(probe_rollups.insert().from_select(columns, minute))
    r = probe_rollups.c
    # Each resolution from the next finer one (each divides the next): fewer rows to read.
    for finer, resolution in itertools.pairwise(RESOLUTIONS):
        coarse = (r.bucket_start - r.bucket_start % resolution).label("b")
        query = (
            select(
                literal(resolution),
                r.path,
                coarse,
                r.profile,
                r.verdict,
                func.sum(r.count),
                func.sum(r.duration_sum),
                *(func.sum(r[h]) for h in H_COLUMNS),
            )
            .where(r.resolution == finer, r.bucket_start >= start)
            .group_by(r.path, coarse, r.profile, r.verdict)
        )
        connection.execute(probe_rollups.insert().from_select(columns, query))
    grouped = connection.execute(
        select(raw.canary, raw.path, raw.profile, raw.verdict, func.max(raw.started_at))
        .where(raw.started_at >= since_at)
        .group_by(raw.canary, raw.path, raw.profile, raw.verdict)
    ).all()
    insert = _insert(connection)
    for chunk in range(0, len(grouped), 1000):  # stay under SQLite's bound-parameter limit
        _upsert_latest(connection, insert, [tuple(row) for row in grouped[chunk : chunk + 1000]])
    # Counted afterwards: psycopg reports no rowcount for INSERT .. SELECT.
    written = select(func.count()).where(r.bucket_start >= start)
    return int(connection.scalar(written) or 0)


def percentiles(histogram: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    """Estimate quantiles from a duration histogram (geometric interpolation in a bucket)."""
    total = sum(histogram)
    if total == 0:
        return [None for _ in qs]
    out: list[float | None] = []
    for q in qs:
        rank = q * total
        seen = 0
        for k, n in enumerate(histogram):
            if n and seen + n >= rank:
                frac = (rank - seen) / n
                out.append(_interpolate(k, frac))
                break
            seen += n
    return out


def _interpolate(k: int, frac: float) -> float:
    if k == 0:
        return EDGES[0] * frac
    low = EDGES[k - 1]
    high = EDGES[k] if k < len(EDGES) else low * 1.5
    return float(low * (high / low) ** frac)
