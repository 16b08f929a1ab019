"""The Store on a real SQLite file and the real PostgreSQL: migrations, fleet,
probe history, incidents and kill switches."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from monitor.config import CanaryConfig
from monitor.results import ProbeResult
from monitor.store import MIGRATIONS, Store
from monitor.store.models import IncidentRow
from monitor.verdict import KillSwitchState, Verdict
from tests.fleet import TRIP, canaries, in_threads, probe_result, snapshot_paths, store_fixture

CANARIES = canaries("lobby", "nursery", "garage")
PATHS = snapshot_paths("app", "hub", hub=TRIP)
T0 = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)

store = store_fixture(CANARIES, PATHS)


def leak(
    path: str = "hub",
    canary: str = "lobby",
    source: str | None = "nursery",
    profile: str = "3g",
    verdict: Verdict = Verdict.FOREIGN_CANARY,
    at: datetime = T0,
) -> ProbeResult:
    facts = {"distance": 3, "status": 200, "bytes_received": 1234}
    return probe_result(
        verdict, at, canary=canary, path=path, profile=profile, source_canary=source,
        detail=f"frame carries {source}'s code", **facts,
    )  # fmt: skip


def head_revision() -> str:
    scripts = ScriptDirectory.from_config(_alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    return head


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_migrate_creates_the_schema_through_alembic(db_url: str) -> None:
    store = Store(db_url)
    try:
        store.migrate()
        tables = set(sa.inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        store.close()

    assert tables >= {
        "alembic_version",
        "canaries",
        "paths",
        "probe_results",
        "incidents",
        "kill_switches",
        "kill_switch_audit",
        "kill_switch_requests",
    }
    assert versions == [(head_revision(),)]


def test_migrating_twice_is_a_no_op(store: Store) -> None:
    store.record(leak(verdict=Verdict.OWN, source="lobby"))

    store.migrate()

    with store.engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert versions == [(head_revision(),)]
    assert len(store.results()) == 1


def test_register_arms_a_kill_switch_per_path_and_is_idempotent(store: Store) -> None:
    assert store.kill_switches() == {"app": KillSwitchState.ARMED, "hub": KillSwitchState.ARMED}
    assert store.set_kill_switch(
        "hub", KillSwitchState.TRIPPED, "drill", expect=KillSwitchState.ARMED
    )

    moved = CanaryConfig(name="lobby", camera_id="cam-lobby-2", token="t-lobby")
    store.register([moved], PATHS)
    store.register([moved], PATHS)

    assert store.kill_switches() == {
        "app": KillSwitchState.ARMED,
        "hub": KillSwitchState.TRIPPED,
    }  # not re-armed
    with store.engine.connect() as conn:
        canaries = conn.execute(sa.text("SELECT name, camera_id FROM canaries ORDER BY name"))
        assert canaries.all() == [
            ("garage", "cam-garage"),
            ("lobby", "cam-lobby-2"),
            ("nursery", "cam-nursery"),
        ]
        paths = conn.execute(sa.text("SELECT name, kind, on_leak FROM paths ORDER BY name"))
        assert paths.all() == [("app", "snapshot", "alert"), ("hub", "snapshot", "trip")]


def test_record_round_trips_a_probe_result_with_aware_utc_times(store: Store) -> None:
    # Given in UTC+2, it must come back as the same instant in UTC.
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    result = ProbeResult(
        canary="garage",
        path="app",
        profile="good",
        started_at=plus_two,
        duration_s=0.25,
        verdict=Verdict.OWN_STALE,
        source_canary="garage",
        distance=2,
        age_s=95.5,
        status=200,
        bytes_received=4321,
        detail="own frame, 95 s old",
    )

    row_id = store.record(result)

    [row] = store.results()
    assert row.id == row_id
    assert row.started_at == T0
    assert row.started_at.tzinfo is not None
    assert row.started_at.utcoffset() == timedelta(0)
    assert (
        row.canary,
        row.path,
        row.profile,
        row.verdict,
        row.source_canary,
        row.distance,
        row.age_s,
        row.status,
        row.bytes_received,
        row.detail,
        row.incident_id,
    ) == ("garage", "app", "good", "own_stale", "garage", 2, 95.5, 200, 4321, result.detail, None)
    assert row.duration_s == pytest.approx(0.25)


def test_record_refuses_naive_datetimes(store: Store) -> None:
    naive = leak(at=T0.replace(tzinfo=None))

    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.record(naive)


def test_first_leak_opens_an_incident_and_later_leaks_join_it(store: Store) -> None:
    first, opened = store.add_leak(leak())
    second, opened_again = store.add_leak(
        leak(canary="garage", source="lobby", profile="good", at=T0 + timedelta(seconds=5))
    )
    third, _ = store.add_leak(
        leak(verdict=Verdict.FOREIGN, source=None, at=T0 + timedelta(seconds=2))
    )

    assert opened is True
    assert opened_again is False
    assert first.id == second.id == third.id
    assert (first.hits, second.hits, third.hits) == (1, 2, 3)
    assert third.path == "hub"
    assert third.status == "open"
    assert third.first_seen == T0
    assert third.last_seen == T0 + timedelta(seconds=5)  # never moves backwards
    assert third.verdicts == {"foreign_canary": 2, "foreign": 1}
    assert third.canaries == ("lobby", "garage")
    assert third.sources == ("nursery", "lobby")
    assert third.profiles == ("3g", "good")
    assert store.open_incidents() == [third]


def test_leaks_on_different_paths_open_different_incidents(store: Store) -> None:
    hub, _ = store.add_leak(leak(path="hub"))
    app, opened = store.add_leak(leak(path="app"))

    assert opened is True
    assert hub.id != app.id
    assert {i.path for i in store.open_incidents()} == {"app", "hub"}


def test_a_leak_after_the_incident_is_resolved_opens_a_new_one(store: Store) -> None:
    old, _ = store.add_leak(leak())
    with store.session() as session, session.begin():
        row = session.get(IncidentRow, old.id)
        assert row is not None
        row.status, row.open_key = "resolved", None

    assert store.open_incidents() == []
    new, opened = store.add_leak(leak(at=T0 + timedelta(minutes=5)))

    assert opened is True
    assert new.id != old.id
    assert new.hits == 1
    assert [i.id for i in store.open_incidents()] == [new.id]


def test_concurrent_leaks_on_one_path_share_one_incident(store: Store) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    outcomes: list[tuple[int, bool]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            incident, opened = store.add_leak(leak(at=T0 + timedelta(seconds=n)))
            with lock:
                outcomes.append((incident.id, opened))
        except BaseException as exc:
            with lock:
                failures.append(exc)

    in_threads(worker, threads, timeout=30)

    assert failures == []
    assert len(outcomes) == threads
    assert sum(opened for _, opened in outcomes) == 1
    assert len({incident_id for incident_id, _ in outcomes}) == 1
    [incident] = store.open_incidents()
    assert incident.hits == threads
    assert incident.verdicts == {"foreign_canary": threads}
    assert incident.last_seen == T0 + timedelta(seconds=threads - 1)


def test_kill_switch_compare_and_set_lets_one_caller_win(store: Store) -> None:
    assert (
        store.set_kill_switch(
            "hub", KillSwitchState.TRIPPED, "incident #1", expect=KillSwitchState.ARMED
        )
        is True
    )
    assert (
        store.set_kill_switch(
            "hub", KillSwitchState.TRIPPED, "incident #1 again", expect=KillSwitchState.ARMED
        )
        is False
    )

    assert store.kill_switch("hub") == KillSwitchState.TRIPPED
    assert store.kill_switch("app") == KillSwitchState.ARMED
    with store.engine.connect() as conn:
        reason = conn.execute(sa.text("SELECT reason FROM kill_switches WHERE path = 'hub'"))
        assert reason.scalar_one() == "incident #1"

    assert (
        store.set_kill_switch("hub", KillSwitchState.ARMED, "fixed", expect=KillSwitchState.TRIPPED)
        is True
    )
    assert store.kill_switch("hub") == KillSwitchState.ARMED


def test_verdict_counts_group_by_path_profile_and_verdict(store: Store) -> None:
    store.record(leak(verdict=Verdict.OWN, source="lobby"))
    store.record(leak(verdict=Verdict.OWN, source="lobby", canary="garage"))
    store.record(leak(path="app", profile="good", verdict=Verdict.ERROR, source=None))
    store.record(leak(at=T0 - timedelta(hours=1)))

    assert store.verdict_counts() == {
        ("hub", "3g", "own"): 2,
        ("app", "good", "error"): 1,
        ("hub", "3g", "foreign_canary"): 1,
    }
    assert store.verdict_counts(since=T0) == {
        ("hub", "3g", "own"): 2,
        ("app", "good", "error"): 1,
    }


def test_a_warm_store_records_a_probe_without_compiling_sql(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Every probe result is recorded (raw row, four rollup buckets, the latest-seen
    # row). A statement with its rows written into it has no cache key, and compiling
    # it anew for each probe was most of the recording's CPU.
    own = Verdict.OWN
    store.record(leak(verdict=own, source=None, path="app", profile="good"))  # warm
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
        for k in range(3):
            at = T0 + timedelta(minutes=k, seconds=k)
            store.record(leak(verdict=own, source=None, path="app", profile="3g", at=at))
    # SQLAlchemy logs how it got each statement: "[cached since ...]", or "[generated
    # in ...]" (compiled now), or "[no key ...]" (uncacheable: compiled every time).
    how = [m.split("]")[0] + "]" for r in caplog.records if (m := r.getMessage()).startswith("[")]
    assert len(how) >= 9  # three statements a probe
    assert [m for m in how if not m.startswith("[cached since")] == []
    with store.engine.connect() as conn:
        counts = conn.execute(
            sa.text("SELECT count(*) FROM probe_rollups WHERE path = 'app' AND profile = '3g'")
        ).scalar_one()
    assert counts >= 4  # the probes did reach every resolution
