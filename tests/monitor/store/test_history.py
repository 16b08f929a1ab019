"""Probe history on a real SQLite file and the real PostgreSQL: rollups written by
``Store.record``, charts, percentiles, pagination, events, retention, rebuild."""

from __future__ import annotations

import itertools
import random
import statistics
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from monitor.results import ProbeResult
from monitor.store import MIGRATIONS, Store
from monitor.store.history import History
from monitor.store.models import ProbeResultRow, probe_rollups
from monitor.store.rollups import EDGES, RESOLUTIONS, bucket_start, histogram_bucket
from monitor.verdict import OUTCOMES, Verdict
from tests.fleet import canaries, in_threads, probe_result, snapshot_paths, store_fixture

CANARIES = canaries("lobby", "garage")
PATHS = snapshot_paths("app", "hub", "web")
NOW = datetime(2026, 11, 22, 12, 30, 17, 250000, tzinfo=UTC)

store = store_fixture(CANARIES, PATHS)


def probe(
    at: datetime,
    *,
    path: str = "hub",
    profile: str = "3g",
    verdict: Verdict = Verdict.OWN,
    canary: str = "lobby",
    duration_s: float = 0.5,
) -> ProbeResult:
    source = canary if verdict in (Verdict.OWN, Verdict.OWN_STALE) else None
    return probe_result(
        verdict, at, canary=canary, path=path, profile=profile, duration_s=duration_s,
        source_canary=source, detail=f"{verdict} at {at:%H:%M:%S}",
    )  # fmt: skip


def random_probes(n: int, seed: int, span: timedelta) -> list[ProbeResult]:
    rng = random.Random(seed)
    verdicts = list(Verdict)
    weights = [20, 3, 1, 1, 1, 3, 2, 4]
    durations = [*EDGES[:5], 0.0, 80.0]  # exact edges: SQL and Python must bucket alike
    return [
        probe(
            NOW - span * rng.random(),
            path=rng.choice(["app", "hub", "web"]),
            profile=rng.choice(["good", "3g", "edge"]),
            verdict=rng.choices(verdicts, weights)[0],
            canary=rng.choice(["lobby", "garage"]),
            duration_s=rng.choice(durations) if rng.random() < 0.2 else rng.lognormvariate(0, 1),
        )
        for _ in range(n)
    ]


def rollup_table(store: Store) -> dict[tuple[object, ...], tuple[object, ...]]:
    c = probe_rollups.c
    key = [c.resolution, c.path, c.bucket_start, c.profile, c.verdict]
    hs = [c[f"h{k:02d}"] for k in range(24)]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*key, c.count, c.duration_sum, *hs)).all()
    return {tuple(r[:5]): (r[5], round(r[6], 6), *r[7:]) for r in rows}


def expected_rollups(results: list[ProbeResult]) -> dict[tuple[object, ...], tuple[object, ...]]:
    acc: dict[tuple[object, ...], list[float]] = {}
    for r in results:
        for res in RESOLUTIONS:
            key = (res, r.path, bucket_start(r.started_at, res), r.profile, str(r.verdict))
            row = acc.setdefault(key, [0, 0.0] + [0] * 24)
            row[0] += 1
            row[1] += r.duration_s
            row[2 + histogram_bucket(r.duration_s)] += 1
    return {k: (v[0], round(v[1], 6), *v[2:]) for k, v in acc.items()}


def test_record_keeps_rollups_equal_to_the_raw_rows(store: Store) -> None:
    results = random_probes(120, seed=1, span=timedelta(hours=3))
    for result in results:
        store.record(result)

    assert rollup_table(store) == expected_rollups(results)
    # The minute rollups sum to the same counts as a GROUP BY over the raw table.
    c = probe_rollups.c
    with store.engine.connect() as conn:
        summed = conn.execute(
            sa.select(c.path, c.profile, c.verdict, sa.func.sum(c.count))
            .where(c.resolution == 60)
            .group_by(c.path, c.profile, c.verdict)
        ).all()
    assert {(p, pr, v): n for p, pr, v, n in summed} == store.verdict_counts()


def test_rebuild_rollups_reproduces_the_incremental_ones(store: Store) -> None:
    results = random_probes(150, seed=2, span=timedelta(days=2))
    for result in results:
        store.record(result)
    incremental = rollup_table(store)
    history = History(store.engine)

    written = history.rebuild_rollups()
    assert rollup_table(store) == incremental
    assert written == len(incremental)

    # A partial rebuild replaces buckets from ``since`` (down to 6 h) on, and only those.
    since = NOW - timedelta(hours=5, minutes=20)
    with store.engine.begin() as conn:
        conn.execute(sa.update(probe_rollups).values(count=999))
    history.rebuild_rollups(since)
    after = rollup_table(store)
    cut = bucket_start(since, 6 * 3600)
    for key, row in incremental.items():
        bucket = key[2]
        assert isinstance(bucket, int)
        assert after[key][0] == (row[0] if bucket >= cut else 999)


def test_overview_shows_the_worst_verdict_per_cell_in_the_window(store: Store) -> None:
    for verdict in (Verdict.OWN, Verdict.OWN, Verdict.OWN_STALE, Verdict.FOREIGN_CANARY):
        store.record(probe(NOW - timedelta(minutes=3), verdict=verdict))
    store.record(probe(NOW - timedelta(minutes=2), path="app", verdict=Verdict.ERROR))
    store.record(probe(NOW - timedelta(minutes=1), path="app", verdict=Verdict.BLANK))
    old = NOW - timedelta(hours=2)
    store.record(probe(old, path="app", profile="good", verdict=Verdict.FOREIGN))

    view = History(store.engine).overview(NOW, window_s=900)

    assert view.paths == ["app", "hub", "web"]
    assert view.profiles == ["3g", "good"]
    assert len(view.cells) == 6
    hub = view.cell("hub", "3g")
    assert hub.worst == "foreign_canary"
    assert hub.counts == {"own": 2, "own_stale": 1, "foreign_canary": 1}
    assert hub.last_at == NOW - timedelta(minutes=3)
    # one order everywhere (monitor.verdict.SEVERITY): a returned frame outranks none
    assert view.cell("app", "3g").worst == "blank"
    quiet = view.cell("app", "good")  # its leak is older than the window
    assert (quiet.worst, quiet.counts, quiet.last_at) == (None, {}, old)
    assert view.cell("web", "3g").last_at is None
    fixed = History(store.engine).overview(NOW, profiles=["good", "3g", "edge"])
    assert fixed.profiles == ["good", "3g", "edge"]
    assert [c.profile for c in fixed.cells[:3]] == ["good", "3g", "edge"]
    with pytest.raises(KeyError, match="no cell"):
        view.cell("hub", "edge")


def test_path_history_series_are_bucketed_and_zero_filled(store: Store) -> None:
    store.record(probe(NOW - timedelta(minutes=10, seconds=5), verdict=Verdict.FOREIGN))
    store.record(probe(NOW - timedelta(minutes=10, seconds=30), verdict=Verdict.OWN))
    store.record(probe(NOW - timedelta(seconds=1), profile="good", verdict=Verdict.OWN_STALE))
    store.record(probe(NOW - timedelta(days=20), verdict=Verdict.ERROR))
    store.record(probe(NOW - timedelta(minutes=5), path="app", verdict=Verdict.ERROR))
    history = History(store.engine)

    hour = history.path_history("hub", "1h", NOW)
    assert hour.bucket_s == 60
    assert [s.profile for s in hour.series] == ["3g", "good"]
    points = hour.series[0].points
    assert len(points) == 60
    assert all(b.at - a.at == timedelta(minutes=1) for a, b in itertools.pairwise(points))
    assert points[-1].at == datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
    assert hour.since == points[0].at
    assert hour.until == points[-1].at + timedelta(minutes=1)
    assert all(set(p.counts) == set(OUTCOMES) for p in points)
    busy = {p.at: p.counts for p in points if sum(p.counts.values())}
    assert busy == {
        datetime(2026, 11, 22, 12, 20, tzinfo=UTC): {**dict.fromkeys(OUTCOMES, 0), "leak": 1},
        datetime(2026, 11, 22, 12, 19, tzinfo=UTC): {**dict.fromkeys(OUTCOMES, 0), "own": 1},
    }
    assert hour.series[1].points[-1].counts["stale"] == 1

    month = history.path_history("hub", "30d", NOW, profiles=["3g", "edge"])
    assert month.bucket_s == 6 * 3600
    assert len(month.series[0].points) == 120
    assert [s.profile for s in month.series] == ["3g", "edge"]
    totals = Counter[str]()
    for point in month.series[0].points:
        totals.update(point.counts)
    assert (totals["error"], totals["leak"], totals["own"]) == (1, 1, 1)
    assert all(sum(p.counts.values()) == 0 for p in month.series[1].points)
    assert month.series[0].points[-1].at == datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert len(history.path_history("hub", "24h", NOW).series[0].points) == 96
    assert len(history.path_history("hub", "7d", NOW).series[0].points) == 168


def test_latency_percentiles_come_close_to_the_true_ones(store: Store) -> None:
    rng = random.Random(7)
    durations = [rng.lognormvariate(0.3, 0.8) for _ in range(400)]
    for i, duration in enumerate(durations):
        store.record(probe(NOW - timedelta(seconds=5 * i), duration_s=duration))

    history = History(store.engine).path_history("hub", "24h", NOW, profiles=["3g", "good"])

    got = history.latency["3g"]
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    assert got.count == 400
    for estimate, true in ((got.p50, cuts[49]), (got.p95, cuts[94]), (got.p99, cuts[98])):
        assert estimate is not None
        assert true / 1.25 < estimate < true * 1.25  # one 1.5x-wide bucket, interpolated
    assert history.latency["good"].count == 0
    assert history.latency["good"].p50 is None


def test_probes_pages_newest_first_under_each_filter(store: Store) -> None:
    results = random_probes(60, seed=3, span=timedelta(hours=6))
    ids = [store.record(result) for result in results]
    history = History(store.engine)
    by_id = dict(zip(ids, results, strict=True))
    mid = NOW - timedelta(hours=3)
    cases: list[tuple[dict[str, Any], Callable[[ProbeResult], bool]]] = [
        ({}, lambda r: True),
        ({"path": "hub"}, lambda r: r.path == "hub"),
        ({"profile": "edge"}, lambda r: r.profile == "edge"),
        ({"canary": "garage"}, lambda r: r.canary == "garage"),
        ({"verdict": "own"}, lambda r: r.verdict == "own"),
        ({"outcome": "leak"}, lambda r: r.verdict.is_leak),
        ({"since": mid}, lambda r: r.started_at >= mid),
        ({"until": mid, "path": "app"}, lambda r: r.started_at < mid and r.path == "app"),
    ]
    for filters, keep in cases:
        want = sorted((i for i, r in by_id.items() if keep(r)), reverse=True)
        got: list[int] = []
        before: int | None = None
        for _ in range(100):
            page = history.probes(limit=7, before_id=before, **filters)
            got += [item.id for item in page.items]
            assert len(page.items) <= 7
            before = page.next_before_id
            if before is None:
                break
        assert got == want, filters
        assert 0 < len(want) < 60 or not filters

    one = history.probe(ids[0])
    assert one is not None
    assert (one.path, one.verdict, one.started_at) == (
        results[0].path,
        str(results[0].verdict),
        results[0].started_at,
    )
    assert history.probe(10**9) is None
    assert len(history.probes(limit=10_000).items) == 60  # clamped to 500
    assert len(history.probes(limit=0).items) == 1
    with pytest.raises(ValueError, match="unknown verdict 'leaky'"):
        history.probes(verdict="leaky")


def test_events_in_a_window_include_global_ones_for_a_path(store: Store) -> None:
    history = History(store.engine)
    deploy = history.add_event(
        kind="deploy",
        title="hub cache v2",
        at=NOW - timedelta(hours=1),
        path="hub",
        details={"version": "2.0"},
    )
    config = history.add_event(kind="config", title="new profile", at=NOW - timedelta(hours=2))
    history.add_event(kind="cache_update", title="app cache", at=NOW, path="app")
    history.add_event(kind="other", title="too old", at=NOW - timedelta(days=2))

    since = NOW - timedelta(days=1)
    assert history.events(since=since, until=NOW, path="hub") == [config, deploy]
    assert [e.title for e in history.events(since=since, until=NOW)] == [
        "new profile",
        "hub cache v2",
        "app cache",
    ]
    assert deploy.details == {"version": "2.0"}
    assert deploy.at == NOW - timedelta(hours=1)
    assert history.path_history("hub", "24h", NOW).events == [config, deploy]
    with pytest.raises(ValueError, match="unknown event kind 'release'"):
        history.add_event(kind="release", title="x", at=NOW)
    with pytest.raises(ValueError, match="title"):
        history.add_event(kind="deploy", title="  ", at=NOW)


def test_expire_keeps_incident_evidence_and_rollups(store: Store) -> None:
    old = NOW - timedelta(days=10)
    leak = probe(old, verdict=Verdict.FOREIGN_CANARY)
    incident, _ = store.add_leak(leak)
    kept = store.record(leak, incident_id=incident.id)
    for i in range(30):
        store.record(probe(old + timedelta(minutes=i), path=["app", "hub"][i % 2]))
    fresh = store.record(probe(NOW - timedelta(hours=1)))
    history = History(store.engine)
    hour_rollups = {k: v for k, v in rollup_table(store).items() if k[0] != 60}

    deleted = history.expire(NOW, raw_retention_s=7 * 86400)

    assert deleted == 30
    assert {r.id for r in store.results()} == {kept, fresh}
    assert [r.id for r in history.incident_hits(incident.id)] == [kept]
    after = rollup_table(store)
    assert {k: v for k, v in after.items() if k[0] != 60} == hour_rollups
    assert {k[2] for k in after if k[0] == 60} == {bucket_start(NOW - timedelta(hours=1), 60)}
    month = history.path_history("hub", "30d", NOW)
    assert sum(p.counts["own"] for s in month.series for p in s.points) == 16
    assert history.expire(NOW, raw_retention_s=7 * 86400) == 0


def test_canaries_report_last_probe_and_last_own_frame(store: Store) -> None:
    store.record(probe(NOW - timedelta(minutes=9), verdict=Verdict.OWN))
    store.record(probe(NOW - timedelta(minutes=2), path="app", verdict=Verdict.ERROR))
    store.record(probe(NOW - timedelta(minutes=30), path="web", verdict=Verdict.OWN))

    garage, lobby = History(store.engine).canaries(NOW)  # by name

    assert (garage.name, garage.camera_id, garage.paths) == ("garage", "cam-garage", [])
    assert garage.last_probe_at is None
    assert garage.last_own_age_s is None
    assert lobby.name == "lobby"
    assert lobby.paths == ["app", "hub", "web"]
    assert lobby.last_probe_at == NOW - timedelta(minutes=2)
    assert lobby.last_own_at == NOW - timedelta(minutes=9)
    assert lobby.last_own_age_s == pytest.approx(540.0)


def test_unknown_window_or_path_is_a_clear_error(store: Store) -> None:
    history = History(store.engine)
    with pytest.raises(ValueError, match=r"unknown window '2h'; choose one of 1h, 24h, 7d, 30d"):
        history.path_history("hub", "2h", NOW)
    with pytest.raises(KeyError, match=r"unknown path 'tv'; registered paths: app, hub, web"):
        history.path_history("tv", "1h", NOW)
    with pytest.raises(ValueError, match="aware"):
        history.overview(NOW.replace(tzinfo=None))


def test_migration_0004_rolls_up_rows_recorded_before_it(db_url: str) -> None:
    store = Store(db_url)
    try:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
        store.register(CANARIES, PATHS)
        results = random_probes(40, seed=4, span=timedelta(days=3))
        with store.session() as session, session.begin():
            for r in results:  # what Store.record wrote before 0004: raw rows only
                session.add(
                    ProbeResultRow(
                        started_at=r.started_at,
                        duration_s=r.duration_s,
                        canary=r.canary,
                        path=r.path,
                        profile=r.profile,
                        verdict=str(r.verdict),
                        bytes_received=0,
                        detail="",
                    )
                )

        store.migrate()

        assert rollup_table(store) == expected_rollups(results)
        [lobby] = [c for c in History(store.engine).canaries(NOW) if c.name == "lobby"]
        assert lobby.last_probe_at == max(r.started_at for r in results if r.canary == "lobby")
    finally:
        store.close()


def test_concurrent_records_lose_no_count(store: Store) -> None:
    threads, each = 6, 10
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(each):  # every thread hits the same rollup rows
                verdict = Verdict.OWN if i % 2 else Verdict.ERROR
                store.record(probe(NOW - timedelta(seconds=n + i), verdict=verdict))
        except BaseException as exc:
            failures.append(exc)

    in_threads(worker, threads, timeout=60)

    assert failures == []
    counts = History(store.engine).overview(NOW, window_s=600).cell("hub", "3g").counts
    assert counts == {"own": threads * each // 2, "error": threads * each // 2}
    month = History(store.engine).path_history("hub", "30d", NOW).latency["3g"]
    assert month.count == threads * each
