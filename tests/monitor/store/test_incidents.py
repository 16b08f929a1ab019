"""The incident engine's SQL (`monitor.store.incidents`) on SQLite and PostgreSQL:
clean rounds on the incident, compare-and-set acknowledgement and reminders."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from monitor.config import CanaryConfig, PathConfig
from monitor.results import ProbeResult
from monitor.store import Incident, Store
from monitor.store.incidents import IncidentStore, Tx
from monitor.verdict import Verdict
from tests.fleet import store_fixture

CANARIES = (CanaryConfig(name="lobby", camera_id="cam-lobby", token="t-lobby"),)
PATHS = (PathConfig(name="hub", kind="snapshot", url="http://cloud.test/hub/{camera_id}"),)
PROFILES = frozenset({"good", "3g"})
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


store = store_fixture(CANARIES, PATHS)


def leak(seconds: float = 0) -> ProbeResult:
    return ProbeResult(
        canary="lobby",
        path="hub",
        profile="3g",
        started_at=T0 + timedelta(seconds=seconds),
        duration_s=0.5,
        verdict=Verdict.FOREIGN_CANARY,
        source_canary="nursery",
    )


def open_incident(ledger: IncidentStore, key: str = "hub/foreign_canary") -> Incident:
    def thread(tx: Tx, incident: Incident, opened: bool) -> None:
        if opened:
            tx.open_thread(incident.id, "C-LEAKS", {"text": "leak"}, T0)

    incident, _ = ledger.add_leak(leak(), key, thread)
    return incident


def test_rounds_count_over_all_profiles_a_leak_restarts_them_and_k_rounds_resolve(
    store: Store,
) -> None:
    ledger = IncidentStore(store)
    incident = open_incident(ledger)
    resolved: list[Incident] = []

    def clean(profile: str) -> list[Incident]:
        ledger.count_clean("hub", profile, PROFILES, 2, lambda _tx, i: resolved.append(i))
        return store.open_incidents()

    assert clean("good") == clean("good") == [incident]  # no round yet: 3g is missing
    clean("3g")  # round 1
    ledger.add_leak(leak(seconds=5), "hub/foreign_canary", lambda _tx, _i, _o: None)
    clean("good")
    clean("3g")  # round 1 again, not 2
    assert resolved == []
    clean("3g")
    assert clean("good") == []  # round 2

    [done] = resolved
    assert (done.id, done.status, done.hits) == (incident.id, "resolved", 2)


def test_the_first_acknowledgement_wins_across_threads(store: Store) -> None:
    ledger = IncidentStore(store)
    incident = open_incident(ledger)
    workers, barrier = 6, threading.Barrier(6)
    won: list[str] = []
    told: list[str] = []
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        user = f"U-{n}"
        try:
            barrier.wait(timeout=10)
            if ledger.acknowledge(incident.id, user, T0, lambda _tx, i: told.append(i.acked_by)):
                won.append(user)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert len(won) == 1
    assert told == won  # the winner's messages see its own acknowledgement
    [acked] = store.open_incidents()
    assert (acked.acked_by, acked.acked_at) == (won[0], T0)
    assert not ledger.acknowledge(incident.id, "U-late", T0, lambda _tx, _i: None)


def test_a_due_reminder_is_claimed_once_and_an_acknowledged_incident_is_not_reminded(
    store: Store,
) -> None:
    ledger = IncidentStore(store)
    quiet, acked = open_incident(ledger, "hub/one"), open_incident(ledger, "hub/two")
    ledger.acknowledge(acked.id, "U-OLGA", T0, lambda _tx, _i: None)
    reminded: list[tuple[int, int]] = []

    def remind(_tx: Tx, incident: Incident, count: int) -> None:
        reminded.append((incident.id, count))

    later = T0 + timedelta(minutes=20)
    assert ledger.remind_due(T0, later, remind) == 1
    assert ledger.remind_due(T0, later, remind) == 0  # told at ``later``: not due again
    assert ledger.remind_due(later, later + timedelta(minutes=20), remind) == 1

    assert reminded == [(quiet.id, 1), (quiet.id, 2)]
