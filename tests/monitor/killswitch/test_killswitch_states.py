"""The kill switch state machine on real SQLite and PostgreSQL: transitions, four
eyes, trips that nothing blocks, clean rounds, dry runs, the append-only audit and
compare-and-set across threads and services."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from monitor.errors import KillSwitchError, KillSwitchStateError
from monitor.killswitch import KillSwitchBackend, RecordKillSwitch
from monitor.killswitch.machine import KillSwitchService, Transition
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.verdict import Verdict
from tests.fleet import TRIP, canaries, probe_result, snapshot_paths, store_fixture

CANARIES = canaries("lobby", "nursery")
PATHS = snapshot_paths(
    "app", "hub", "web", hub=TRIP, web={**TRIP, "trip_on": ("foreign",), "dry_run": True}
)
PROFILES = ("good", "3g")
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class RecordingBackend(KillSwitchBackend):
    def __init__(self, fail: bool = False) -> None:
        self.applied: list[tuple[str, str]] = []
        self.fail = fail

    async def apply(self, path: str, state: str, reason: str) -> None:
        if self.fail:
            raise KillSwitchError("gateway said no", permanent=True)
        self.applied.append((path, state))


store = store_fixture(CANARIES, PATHS)


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def service(store: Store, backend: RecordingBackend) -> KillSwitchService:
    return KillSwitchService(store, backend, PATHS, profiles=PROFILES, clean_rounds=3)


def probe(
    verdict: Verdict = Verdict.FOREIGN_CANARY, *, path: str = "hub", profile: str = "3g"
) -> ProbeResult:
    source = "lobby" if verdict.is_leak else None
    return probe_result(
        verdict, T0, canary="nursery", path=path, profile=profile, duration_s=0.2,
        source_canary=source, distance=3, frame=b"somebody's private image",
    )  # fmt: skip


def incident(store: Store, path: str = "hub") -> int:
    opened, _ = store.add_leak(probe(path=path))
    return opened.id


def reenable(service: KillSwitchService, path: str = "hub") -> Transition:
    async def go() -> Transition:
        await service.request_reenable(path, actor="alice", reason="fix deployed")
        return await service.approve(path, actor="bob")

    return asyncio.run(go())


# -- transitions --------------------------------------------------------------------------


def test_a_leak_under_a_trip_policy_trips_the_switch_and_the_backend(
    store: Store, service: KillSwitchService, backend: RecordingBackend
) -> None:
    incident_id = incident(store)
    transition = asyncio.run(service.on_leak(probe(), incident_id))

    assert transition is not None
    assert (transition.path, transition.from_state, transition.to_state) == (
        "hub",
        "armed",
        "tripped",
    )
    assert transition.actor == "policy"
    assert transition.reason == f"incident #{incident_id}: foreign_canary seen by nursery"
    assert transition.dry_run is False
    assert service.state("hub") == "tripped"
    assert service.state("app") == "armed"
    assert backend.applied == [("hub", "tripped")]
    [record] = service.audit("hub")
    assert (record.action, record.from_state, record.to_state) == ("trip", "armed", "tripped")
    assert record.incident_id == incident_id
    assert record.evidence is not None
    assert record.evidence["source_canary"] == "lobby"
    assert "private" not in repr(record.evidence)  # the frame never reaches the audit


def test_alert_policy_and_verdicts_outside_trip_on_leave_the_switch_armed(
    store: Store, service: KillSwitchService, backend: RecordingBackend
) -> None:
    assert asyncio.run(service.on_leak(probe(path="app"), incident(store, "app"))) is None
    assert service.state("app") == "armed"
    assert service.audit("app") == []
    assert backend.applied == []


def test_further_leaks_on_a_tripped_path_change_nothing(
    store: Store, service: KillSwitchService, backend: RecordingBackend
) -> None:
    incident_id = incident(store)

    async def go() -> list[Transition | None]:
        return [await service.on_leak(probe(), incident_id) for _ in range(3)]

    first, *rest = asyncio.run(go())
    assert first is not None
    assert rest == [None, None]
    assert len(service.audit("hub")) == 1
    assert backend.applied == [("hub", "tripped")]


def test_four_eyes_the_requester_cannot_approve_but_a_second_operator_can(
    service: KillSwitchService, backend: RecordingBackend
) -> None:
    async def go() -> Transition:
        await service.trip("hub", actor="carol", reason="drill")
        await service.request_reenable("hub", actor="alice", reason="fix deployed")
        with pytest.raises(KillSwitchStateError) as refused:
            await service.approve("hub", actor="alice")
        assert str(refused.value) == (
            "hub: alice requested this re-enable and cannot approve it too "
            "(four eyes: another operator must approve)"
        )
        assert service.state("hub") == "tripped"
        return await service.approve("hub", actor="bob")

    approved = asyncio.run(go())

    assert (approved.from_state, approved.to_state, approved.actor) == (
        "tripped",
        "verifying",
        "bob",
    )
    assert approved.reason == "approved alice's request: fix deployed"
    assert service.state("hub") == "verifying"
    assert backend.applied == [("hub", "tripped"), ("hub", "verifying")]
    assert [(r.action, r.actor, r.to_state) for r in service.audit("hub")] == [
        ("trip", "carol", "tripped"),
        ("request-reenable", "alice", "tripped"),
        ("approve", "bob", "verifying"),
    ]


def test_refused_transitions_say_why(service: KillSwitchService) -> None:
    async def go() -> list[str]:
        messages = []
        for call in (
            service.request_reenable("hub", actor="alice", reason="early"),
            service.approve("hub", actor="bob"),
            service.trip("nowhere", actor="bob", reason="typo"),
        ):
            try:
                await call
            except KillSwitchStateError as exc:
                messages.append(str(exc))
        await service.trip("hub", actor="bob", reason="drill")
        await service.request_reenable("hub", actor="alice", reason="fixed")
        try:
            await service.request_reenable("hub", actor="dave", reason="me too")
        except KillSwitchStateError as exc:
            messages.append(str(exc))
        return messages

    assert asyncio.run(go()) == [
        "hub is armed, not tripped: there is nothing to re-enable",
        "hub is armed and has no pending re-enable request to approve",
        "unknown path 'nowhere'",
        "hub: a re-enable request by alice is already pending; approve it as another operator",
    ]


def test_trip_is_idempotent_when_already_tripped(
    service: KillSwitchService, backend: RecordingBackend
) -> None:
    async def go() -> Transition:
        await service.trip("hub", actor="alice", reason="drill")
        return await service.trip("hub", actor="bob", reason="again")

    again = asyncio.run(go())

    assert (again.from_state, again.to_state) == ("tripped", "tripped")
    assert len(service.audit("hub")) == 1
    assert backend.applied == [("hub", "tripped")]


def test_trip_is_not_blocked_by_a_pending_request_and_cancels_it(
    service: KillSwitchService,
) -> None:
    async def go() -> Transition:
        await service.trip("hub", actor="carol", reason="drill")
        await service.request_reenable("hub", actor="alice", reason="fixed")
        tripped = await service.trip("hub", actor="dave", reason="still leaking")
        with pytest.raises(KillSwitchStateError):
            await service.approve("hub", actor="bob")  # the request is gone
        return tripped

    tripped = asyncio.run(go())

    assert tripped.to_state == "tripped"
    assert tripped.reason == "still leaking (cancels the re-enable request by alice)"
    assert service.status("hub").pending_by is None
    assert [r.action for r in service.audit("hub")] == ["trip", "request-reenable", "trip"]


def test_trip_is_not_blocked_while_verifying(
    service: KillSwitchService, backend: RecordingBackend
) -> None:
    asyncio.run(service.trip("hub", actor="carol", reason="drill"))
    reenable(service)
    tripped = asyncio.run(service.trip("hub", actor="dave", reason="customer report"))

    assert (tripped.from_state, tripped.to_state) == ("verifying", "tripped")
    assert service.state("hub") == "tripped"
    assert backend.applied[-1] == ("hub", "tripped")


# -- verifying ----------------------------------------------------------------------------


def test_verifying_rearms_after_n_clean_rounds_across_all_profiles(
    service: KillSwitchService, backend: RecordingBackend
) -> None:
    asyncio.run(service.trip("hub", actor="carol", reason="drill"))
    reenable(service)

    async def go() -> list[Transition | None]:
        seen = []
        for round_ in range(3):
            # Noise neither counts nor resets; another path's results do not count.
            seen.append(await service.on_result(probe(Verdict.ERROR, profile="3g")))
            seen.append(await service.on_result(probe(Verdict.OWN, path="app", profile="3g")))
            seen.append(await service.on_result(probe(Verdict.OWN, profile="good")))
            seen.append(await service.on_result(probe(Verdict.OWN, profile="good")))
            if round_ < 2:
                assert service.state("hub") == "verifying"
            seen.append(await service.on_result(probe(Verdict.DEGRADED, profile="3g")))
        return seen

    seen = asyncio.run(go())

    assert [t for t in seen if t is not None] == [seen[-1]]
    final = seen[-1]
    assert final is not None
    assert (final.from_state, final.to_state, final.actor) == ("verifying", "armed", "policy")
    assert final.reason == "3 clean rounds across 3g, good"
    assert service.state("hub") == "armed"
    assert backend.applied[-1] == ("hub", "armed")
    assert [r.action for r in service.audit("hub")][-1] == "verified"


def test_a_leak_while_verifying_trips_again_and_restarts_the_count(
    service: KillSwitchService,
) -> None:
    asyncio.run(service.trip("hub", actor="carol", reason="drill"))
    reenable(service)

    async def go() -> Transition | None:
        await service.on_result(probe(Verdict.OWN, profile="good"))
        await service.on_result(probe(Verdict.OWN, profile="3g"))
        return await service.on_result(probe(Verdict.SPLICED, profile="3g"))

    tripped = asyncio.run(go())

    assert tripped is not None
    assert (tripped.from_state, tripped.to_state) == ("verifying", "tripped")
    assert tripped.reason == "spliced seen by nursery while verifying"
    assert service.status("hub").clean_rounds == 0


def test_clean_results_never_rearm_a_tripped_or_armed_switch(service: KillSwitchService) -> None:
    async def go() -> list[Transition | None]:
        results = [await service.on_result(probe(Verdict.OWN, profile=p)) for p in PROFILES * 4]
        await service.trip("hub", actor="carol", reason="drill")
        results += [await service.on_result(probe(Verdict.OWN, profile=p)) for p in PROFILES * 4]
        return results

    assert set(asyncio.run(go())) == {None}
    assert service.state("hub") == "tripped"  # no automatic reset


# -- dry run, failures, audit ----------------------------------------------------------------


def test_dry_run_is_audited_once_per_incident_and_changes_nothing(
    store: Store, service: KillSwitchService, backend: RecordingBackend
) -> None:
    incident_id = incident(store, "web")
    leak = probe(Verdict.FOREIGN, path="web")

    async def go() -> list[Transition | None]:
        return [
            await service.on_leak(probe(path="web"), incident_id),  # not in trip_on
            await service.on_leak(leak, incident_id),
            await service.on_leak(leak, incident_id),
        ]

    outside, would, again = asyncio.run(go())

    assert outside is None
    assert again is None
    assert would is not None
    assert (would.from_state, would.to_state, would.dry_run) == ("armed", "tripped", True)
    assert service.state("web") == "armed"
    assert backend.applied == []
    [record] = service.audit("web")
    assert record.dry_run is True
    assert record.incident_id == incident_id


def test_a_refusing_backend_puts_the_switch_back_and_audits_it(
    store: Store, service: KillSwitchService
) -> None:
    failing = KillSwitchService(store, RecordingBackend(fail=True), PATHS, profiles=PROFILES)
    with pytest.raises(KillSwitchError, match="gateway said no"):
        asyncio.run(failing.trip("hub", actor="carol", reason="drill"))

    assert service.state("hub") == "armed"
    assert [(r.action, r.from_state, r.to_state) for r in service.audit("hub")] == [
        ("trip", "armed", "tripped"),
        ("revert", "tripped", "armed"),
    ]


def test_the_audit_is_append_only_in_the_database(store: Store, service: KillSwitchService) -> None:
    asyncio.run(service.trip("hub", actor="carol", reason="drill"))

    for statement in (
        "UPDATE kill_switch_audit SET actor = 'mallory'",
        "DELETE FROM kill_switch_audit",
    ):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))

    [record] = service.audit("hub")
    assert record.actor == "carol"


def test_the_audit_is_complete_over_a_whole_cycle(service: KillSwitchService) -> None:
    asyncio.run(service.trip("hub", actor="carol", reason="drill"))
    reenable(service)

    async def go() -> None:
        for _ in range(3):
            for profile in PROFILES:
                await service.on_result(probe(Verdict.OWN, profile=profile))

    asyncio.run(go())

    records = service.audit("hub")
    assert [(r.action, r.actor, r.from_state, r.to_state) for r in records] == [
        ("trip", "carol", "armed", "tripped"),
        ("request-reenable", "alice", "tripped", "tripped"),
        ("approve", "bob", "tripped", "verifying"),
        ("verified", "policy", "verifying", "armed"),
    ]
    assert [r.id for r in records] == sorted(r.id for r in records)
    assert all(r.at.tzinfo is not None and not r.dry_run for r in records)


# -- compare-and-set ------------------------------------------------------------------------


def test_concurrent_trips_from_threads_and_services_make_one_transition(
    db_url: str, store: Store
) -> None:
    backends = [RecordingBackend() for _ in range(8)]
    stores = [Store(db_url) for _ in range(8)]  # separate engines: separate "replicas"
    incident_id = incident(store)
    barrier = threading.Barrier(8)
    results: list[Transition | None] = []

    def replica(n: int) -> None:
        service = KillSwitchService(stores[n], backends[n], PATHS, profiles=PROFILES)
        barrier.wait()
        results.append(asyncio.run(service.on_leak(probe(), incident_id)))

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for each in stores:
            each.close()

    assert len(results) == 8
    assert len([r for r in results if r is not None]) == 1
    assert sum(len(b.applied) for b in backends) == 1
    audit = KillSwitchService(store, RecordKillSwitch(), PATHS).audit("hub")
    assert [(r.action, r.to_state) for r in audit] == [("trip", "tripped")]
