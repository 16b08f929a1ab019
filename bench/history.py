"""Dashboard queries at scale: rollups against GROUP BY over the raw probe table.

    .venv/bin/python bench/history.py [--rows 10000000] [--sqlite PATH] [--postgres URL]

Bulk-loads N raw probe rows over 30 days (9 paths x 8 profiles x 4 canaries, mostly
``own``, a few percent stale/degraded/blank/error, 4 per mille leaks) in SQL
(SQLite: one INSERT .. SELECT from a recursive CTE; PostgreSQL: generate_series),
rebuilds the rollups, then times (median of several warm runs) ``History.overview``
and ``History.path_history`` per window, read from rollups, against the naive way of
computing the same answers with GROUP BY over the raw rows, and a deep page of
``History.probes`` (keyset, ``before_id``) against the same page by OFFSET. Every
pair is checked to give the same answer before it is timed. The two dashboard pages
(``/`` and ``/paths/hub?window=30d``) are then timed as a browser gets them: a GET over
loopback HTTP to the service's web app (queries, template and SVG charts).
SQLite runs always (a file under /tmp unless ``--sqlite``, removed afterwards);
PostgreSQL runs with ``--postgres`` in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.schema import CreateIndex

from monitor.config import CanaryConfig, PathConfig, WebConfig
from monitor.killswitch import RecordKillSwitch
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store
from monitor.store.history import PLANS, WINDOWS, History, PathHistory
from monitor.store.models import ProbeResultRow
from monitor.store.rollups import bucket_start, percentiles
from monitor.store.rollups import histogram_bucket as hbucket
from monitor.verdict import OUTCOMES, outcome_of
from monitor.web import create_app
from monitor.web.context import WebContext

PATHS = ["app", "hub", "web", "hls", "rtsp", "alexa", "google", "thumbs", "webrtc"]
PROFILES = ["good", "3g", "edge", "lossy", "satellite", "flaky", "wifi", "lte"]
CANARIES = ["lobby", "nursery", "garage", "porch"]
SPAN_S = 30 * 86400
# Verdict mix per mille: (upper bound, verdict), on a multiplicative hash of the row number.
MIX = [
    (900, "own"),
    (940, "own_stale"),
    (960, "degraded"),
    (975, "blank"),
    (996, "error"),
    (998, "foreign_canary"),
    (999, "spliced"),
    (1000, "foreign"),
]


def _names(items: list[str], index: str, dialect: str) -> str:
    if dialect == "postgresql":
        return "(ARRAY[" + ",".join(f"'{s}'" for s in items) + f"])[{index} + 1]"
    return (
        "CASE " + " ".join(f"WHEN {index} = {k} THEN '{s}'" for k, s in enumerate(items)) + " END"
    )


def _row_sql(dialect: str, n: int, t0: float) -> str:
    """The SELECT list of one raw row from the row number ``i`` (shared by both loaders)."""
    verdict = "CASE " + " ".join(f"WHEN h < {b} THEN '{v}'" for b, v in MIX) + " END"
    step = SPAN_S / n
    if dialect == "postgresql":
        started = f"to_timestamp({t0} + i * {step})"
    else:  # SQLAlchemy's SQLite storage form: 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
        started = f"strftime('%Y-%m-%d %H:%M:%f', {t0} + i * {step}, 'unixepoch') || '000'"
    duration = "0.05 + (d % 1000) / 1000.0 * (1 + d % 7)"  # 0.05 s .. ~7 s, skewed
    return (
        f"{started}, {duration}, {_names(CANARIES, '(i / 72) % 4', dialect)},"
        f" {_names(PATHS, 'i % 9', dialect)}, {_names(PROFILES, '(i / 9) % 8', dialect)},"
        f" {verdict}, NULL, NULL, NULL, 200, 20000, '', NULL"
    )


COLUMNS = (
    "started_at, duration_s, canary, path, profile, verdict, source_canary, distance,"
    " age_s, status, bytes_received, detail"
)


@contextmanager
def bulk_load_mode(engine: sa.Engine) -> Iterator[None]:
    """PostgreSQL: drop the raw table's indexes and foreign keys, put them back after.

    The usual bulk-load practice (PostgreSQL manual, "Populating a Database"): one
    index build and one validating join instead of 10M index updates and RI checks.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    inspector = sa.inspect(engine)
    fks = inspector.get_foreign_keys("probe_results")
    indexes = [i for i in typing.cast(sa.Table, ProbeResultRow.__table__).indexes if i.name]
    with engine.begin() as conn:
        for fk in fks:
            conn.exec_driver_sql(f"ALTER TABLE probe_results DROP CONSTRAINT {fk['name']}")
        for index in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
    yield
    with engine.begin() as conn:
        for index in indexes:
            conn.execute(CreateIndex(index))
        for fk in fks:
            conn.exec_driver_sql(
                f"ALTER TABLE probe_results ADD CONSTRAINT {fk['name']} FOREIGN KEY"
                f" ({', '.join(fk['constrained_columns'])}) REFERENCES {fk['referred_table']}"
                f" ({', '.join(fk['referred_columns'])})"
            )


def load(store: Store, n: int, t0: float) -> None:
    dialect = store.engine.dialect.name
    row = _row_sql(dialect, n, t0)
    hashes = "(i * 7919) % 1000 AS h, (i * 104729) % 100003 AS d"
    # The row numbers 0 .. n-1.
    if dialect == "postgresql":
        seq = f"generate_series(CAST(0 AS BIGINT), {n - 1}) AS i"
    else:
        seq = "(WITH RECURSIVE q(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM q WHERE i < "
        seq += str(n - 1) + ") SELECT i FROM q)"  # noqa: S608
    # Every piece of this SQL is generated here from numbers and constants: no input.
    sql = f"INSERT INTO probe_results ({COLUMNS}, incident_id) SELECT {row} FROM"
    sql += f" (SELECT i, {hashes} FROM {seq}) s"  # noqa: S608
    with bulk_load_mode(store.engine), store.engine.begin() as conn:
        if dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")  # 1 GB for the bulk load
        conn.execute(sa.text(sql))


def naive_overview(engine: sa.Engine, now: datetime, window_s: float) -> dict[Any, Any]:
    since = datetime.fromtimestamp(bucket_start(now - timedelta(seconds=window_s), 60), UTC)
    with engine.connect() as conn:
        counts = conn.execute(
            sa.text(
                "SELECT path, profile, verdict, COUNT(*) FROM probe_results"
                " WHERE started_at >= :since GROUP BY path, profile, verdict"
            ),
            {"since": _bind(engine, since)},
        ).all()
        last = conn.execute(
            sa.text(
                "SELECT path, profile, MAX(started_at) FROM probe_results GROUP BY path, profile"
            )
        ).all()
    out: dict[Any, Any] = {}
    for path, profile, verdict, n in counts:
        out.setdefault((path, profile), {})[verdict] = n
    return {"counts": out, "last": {(p, pr): _read(at) for p, pr, at in last}}


def naive_path_history(engine: sa.Engine, path: str, window: str, now: datetime) -> dict[Any, Any]:
    """The same series and exact percentiles, from the raw rows of the window."""
    step = PLANS[window]
    last = bucket_start(now, step)
    first = last - (int(WINDOWS[window].total_seconds()) // step - 1) * step
    epoch = (
        "CAST(strftime('%s', started_at) AS INTEGER)"
        if engine.dialect.name == "sqlite"
        else "CAST(floor(extract(epoch FROM started_at)) AS BIGINT)"
    )
    bounds = {
        "path": path,
        "since": _bind(engine, datetime.fromtimestamp(first, UTC)),
        "until": _bind(engine, datetime.fromtimestamp(last + step, UTC)),
    }
    where = "path = :path AND started_at >= :since AND started_at < :until"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT ({epoch}) / {step} * {step} AS b, profile, verdict, COUNT(*)"  # noqa: S608
                f" FROM probe_results WHERE {where} GROUP BY b, profile, verdict"
            ),
            bounds,
        ).all()
        durations: dict[str, list[float]] = {}
        for profile, duration in conn.execute(
            sa.text(f"SELECT profile, duration_s FROM probe_results WHERE {where}"),  # noqa: S608
            bounds,
        ):
            durations.setdefault(profile, []).append(duration)
    series: dict[tuple[str, int], dict[str, int]] = {}
    for b, profile, verdict, n in rows:
        cell = series.setdefault((profile, int(b)), dict.fromkeys(OUTCOMES, 0))
        cell[outcome_of(verdict)] += n
    exact = {p: _nearest_rank(d, (0.5, 0.95, 0.99)) for p, d in durations.items()}
    return {"series": series, "p50": {p: q[0] for p, q in exact.items()}, "durations": durations}


def _nearest_rank(values: list[float], qs: tuple[float, ...]) -> list[float]:
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in qs]


def _bind(engine: sa.Engine, at: datetime) -> Any:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") if engine.dialect.name == "sqlite" else at


def _read(value: Any) -> datetime:
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def check_path_history(got: PathHistory, naive: dict[Any, Any]) -> None:
    series = {
        (s.profile, int(p.at.timestamp())): p.counts
        for s in got.series
        for p in s.points
        if sum(p.counts.values())
    }
    assert series == naive["series"], "rollup series differ from GROUP BY over raw rows"
    for profile, durations in naive["durations"].items():
        histogram = [0] * 24
        for d in durations:
            histogram[hbucket(d)] += 1
        assert got.latency[profile].count == len(durations)
        assert got.latency[profile].p50 == percentiles(histogram, (0.5,))[0]
        if len(durations) >= 200:  # a handful of samples has no meaningful median
            true = naive["p50"][profile]
            assert true / 1.5 < (got.latency[profile].p50 or 0) < true * 1.5


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm the caches once: dashboards query a warm database
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    engine = sa.create_engine(base_url)
    schema = f"camcanary_bench_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


def prepare(store: Store, rows: int) -> datetime:
    """Schema, fleet, bulk load and rollup rebuild; returns the end of the loaded span."""
    store.migrate()
    store.register(
        [
            CanaryConfig(name=c, camera_id=f"cam-{c}", token="bench")  # noqa: S106 - never probed
            for c in CANARIES
        ],
        [PathConfig(name=p, kind="snapshot", url="http://cloud.test/{camera_id}") for p in PATHS],
    )
    now = datetime.now(UTC).replace(microsecond=0)
    t = time.perf_counter()
    load(store, rows, now.timestamp() - SPAN_S)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    written = History(store.engine).rebuild_rollups()
    rebuild_s = time.perf_counter() - t
    if store.engine.dialect.name == "postgresql":  # what autovacuum does after a load
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    print(
        f"# {store.engine.dialect.name}: loaded {rows:,} rows in {load_s:.0f} s,"
        f" rebuilt {written:,} rollup rows in {rebuild_s:.0f} s",
        flush=True,
    )
    return now


def naive_page(engine: sa.Engine, path: str, offset: int) -> list[int]:
    """The same page the OFFSET way: the database walks past every earlier row."""
    with engine.connect() as conn:
        return list(
            conn.scalars(
                sa.text(
                    "SELECT id FROM probe_results WHERE path = :path"
                    " ORDER BY id DESC LIMIT 50 OFFSET :offset"
                ),
                {"path": path, "offset": offset},
            )
        )


def render_ms(store: Store, now: datetime, route: str, runs: int) -> float:
    """Median ms for the dashboard page at ``route``: a real GET over loopback HTTP to
    the service's web app (rollup queries, Jinja template, server-side SVG charts)."""
    paths = [
        PathConfig(name=p, kind="snapshot", url="http://cloud.test/{camera_id}") for p in PATHS
    ]
    context = WebContext(
        store,
        KillSwitchService(store, RecordKillSwitch(), paths, profiles=PROFILES),
        history=History(store.engine),
        config=WebConfig(anonymous_viewer=True),
        clock=lambda: now,
        paths=tuple(PATHS),
        profiles=tuple(PROFILES),
        canaries=tuple(CANARIES),
    )

    async def timed() -> float:
        async with (
            TestServer(create_app(context), host="127.0.0.1") as server,
            httpx.AsyncClient(base_url=str(server.make_url("/"))) as client,
        ):

            async def get() -> None:
                response = await client.get(route)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {route}: HTTP {response.status_code}")

            await get()  # warm, as median_ms does
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                await get()
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times)

    return asyncio.run(timed())


def run(label: str, url: str, rows: int, runs: int) -> list[tuple[str, ...]]:
    store = Store(url)
    out: list[tuple[str, ...]] = []

    def row(query: str, fast: float, slow: float) -> None:
        out.append((label, f"{rows:,}", query, f"{fast:.1f}", f"{slow:.1f}", f"{slow / fast:.1f}x"))
        print("  ".join(out[-1]), flush=True)

    try:
        now = prepare(store, rows)
        history, engine = History(store.engine), store.engine
        got = history.overview(now, profiles=PROFILES)
        naive = naive_overview(engine, now, 900)
        assert {(c.path, c.profile): c.counts for c in got.cells if c.counts} == naive["counts"]
        assert {(c.path, c.profile): c.last_at for c in got.cells} == naive["last"]
        row(
            "overview 15 min",
            median_ms(partial(history.overview, now, profiles=PROFILES), runs),
            median_ms(partial(naive_overview, engine, now, 900), max(1, runs // 3)),
        )
        for window in ("1h", "24h", "7d", "30d"):
            check_path_history(
                history.path_history("hub", window, now, PROFILES),
                naive_path_history(engine, "hub", window, now),
            )
            row(
                f"path_history {window}",
                median_ms(partial(history.path_history, "hub", window, now, PROFILES), runs),
                median_ms(
                    partial(naive_path_history, engine, "hub", window, now), max(1, runs // 3)
                ),
            )
        for label_, route in (
            ("page / (overview)", "/"),
            ("page /paths/hub 30d", "/paths/hub?window=30d"),
        ):
            out.append(
                (label, f"{rows:,}", label_, f"{render_ms(store, now, route, runs):.1f}", "-", "-")
            )
            print("  ".join(out[-1]), flush=True)
        depth = min(rows // len(PATHS) - 50, 100_000)  # a deep page of one path's probes
        before = naive_page(engine, "hub", depth - 1)[0]
        keyset = partial(history.probes, path="hub", before_id=before, limit=50)
        assert [p.id for p in keyset().items] == naive_page(engine, "hub", depth)
        row(
            f"probes page at {depth:,} (vs OFFSET)",
            median_ms(keyset, runs),
            median_ms(partial(naive_page, engine, "hub", depth), max(1, runs // 3)),
        )
    finally:
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=9, help="timed runs per query (median)")
    parser.add_argument("--sqlite", default=None, help="SQLite file (default: under /tmp)")
    parser.add_argument("--postgres", default=None, help="SQLAlchemy URL; a schema is made")
    args = parser.parse_args()
    if args.sqlite and os.path.exists(args.sqlite):  # it is deleted afterwards
        parser.error(f"--sqlite {args.sqlite} exists; give a new file name")
    results = []
    with tempfile.TemporaryDirectory(prefix="camcanary-bench-") as tmp:
        path = args.sqlite or os.path.join(tmp, "history.db")
        try:
            results += run("sqlite", f"sqlite:///{path}", args.rows, args.runs)
        finally:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
    if args.postgres:
        with postgres_schema(args.postgres) as url:
            results += run("postgresql", url, args.rows, args.runs)
    header = ("backend", "rows", "query", "ours ms", "naive ms", "naive/ours")
    widths = [max(len(r[i]) for r in [header, *results]) for i in range(len(header))]
    for line in [header, *results]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
