"""No kill switch changes without its audit row: every public entry point that moves a
switch leaves exactly one append-only audit row, written in the same transaction."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import monitor
from monitor.config import CanaryConfig, PathConfig
from monitor.errors import KillSwitchError
from monitor.killswitch import KillSwitchBackend
from monitor.killswitch.machine import KillSwitchService
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.verdict import KillSwitchState, Verdict
from tests.fleet import store_fixture

PATHS = (
    PathConfig(
        name="hub", kind="snapshot", url="http://cloud.test/hub/{camera_id}", on_leak="trip"
    ),
)
CANARIES = (CanaryConfig(name="lobby", camera_id="cam-lobby", token="t-lobby"),)
PROFILES = ("good",)
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class Backend(KillSwitchBackend):
    def __init__(self) -> None:
        self.refuse = False

    async def apply(self, path: str, state: str, reason: str) -> None:
        if self.refuse:
            raise KillSwitchError("gateway said no", permanent=True)


store = store_fixture(CANARIES, PATHS)


def probe(verdict: Verdict) -> ProbeResult:
    return ProbeResult(
        canary="lobby",
        path="hub",
        profile="good",
        started_at=T0,
        duration_s=0.1,
        verdict=verdict,
        source_canary="lobby" if verdict.is_leak else None,
    )


def set_tripped(store: Store, service: KillSwitchService) -> None:
    assert store.set_kill_switch("hub", "tripped", "drill", expect="armed")


def trip(store: Store, service: KillSwitchService) -> None:
    asyncio.run(service.trip("hub", actor="carol", reason="drill"))


def trip_on_leak(store: Store, service: KillSwitchService) -> None:
    incident, _ = store.add_leak(probe(Verdict.FOREIGN_CANARY))
    asyncio.run(service.on_leak(probe(Verdict.FOREIGN_CANARY), incident.id))


def request(store: Store, service: KillSwitchService) -> None:
    asyncio.run(service.request_reenable("hub", actor="alice", reason="fixed"))


def approve(store: Store, service: KillSwitchService) -> None:
    asyncio.run(service.approve("hub", actor="bob"))


def clean_result(store: Store, service: KillSwitchService) -> None:
    asyncio.run(service.on_result(probe(Verdict.OWN)))


def leak_result(store: Store, service: KillSwitchService) -> None:
    asyncio.run(service.on_result(probe(Verdict.FOREIGN)))


def refused_trip(store: Store, service: KillSwitchService) -> None:
    backend = service._backend
    assert isinstance(backend, Backend)
    backend.refuse = True
    with pytest.raises(KillSwitchError):
        trip(store, service)


Step = Callable[[Store, KillSwitchService], None]

# entry point -> (the steps before, the change, (action, from, to) of each new audit row)
ENTRY_POINTS: dict[str, tuple[tuple[Step, ...], Step, list[tuple[str, str, str]]]] = {
    "Store.set_kill_switch": ((), set_tripped, [("set", "armed", "tripped")]),
    "KillSwitchService.trip": ((), trip, [("trip", "armed", "tripped")]),
    "KillSwitchService.on_leak": ((), trip_on_leak, [("trip", "armed", "tripped")]),
    "KillSwitchService.request_reenable": (
        (set_tripped,),
        request,
        [("request-reenable", "tripped", "tripped")],
    ),
    "KillSwitchService.approve": (
        (set_tripped, request),
        approve,
        [("approve", "tripped", "verifying")],
    ),
    "KillSwitchService.on_result (verified)": (
        (set_tripped, request, approve),
        clean_result,
        [("verified", "verifying", "armed")],
    ),
    "KillSwitchService.on_result (leak while verifying)": (
        (set_tripped, request, approve),
        leak_result,
        [("trip", "verifying", "tripped")],
    ),
    "a refused backend reverts": (
        (),
        refused_trip,
        [("trip", "armed", "tripped"), ("revert", "tripped", "armed")],
    ),
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_every_kill_switch_change_leaves_its_audit_row(store: Store, name: str) -> None:
    steps, change, expected = ENTRY_POINTS[name]
    service = KillSwitchService(store, Backend(), PATHS, profiles=PROFILES, clean_rounds=1)
    for step in steps:
        step(store, service)
    before = len(service.audit("hub"))

    change(store, service)

    added = service.audit("hub")[before:]
    assert [(a.action, a.from_state, a.to_state) for a in added] == expected
    assert service.state("hub") == expected[-1][2]
    assert store.kill_switch("hub") == expected[-1][2]


def test_a_lost_compare_and_set_changes_nothing_and_audits_nothing(store: Store) -> None:
    service = KillSwitchService(store, Backend(), PATHS, profiles=PROFILES)

    assert not store.set_kill_switch("hub", KillSwitchState.ARMED, "x", expect="tripped")
    assert not store.set_kill_switch("nowhere", KillSwitchState.ARMED, "x", expect="armed")

    assert service.audit("hub") == []
    assert store.kill_switch("hub") == KillSwitchState.ARMED


def test_only_the_ledger_updates_kill_switch_rows() -> None:
    """An UPDATE of the switch table elsewhere could change a state without auditing it:
    `records.cas` (audited by every caller) and the clean-round count own them."""
    root = Path(monitor.__file__).parent
    allowed = {root / "store/killswitch/records.py", root / "store/killswitch/ledger.py"}
    found = set()
    for module in root.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name | ast.Attribute)
                and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
                == "update"
                and any(
                    isinstance(arg, ast.Name) and arg.id == "KillSwitchRow" for arg in node.args
                )
            ):
                found.add(module)
    assert found, "the scan found no compare-and-set at all: it is broken"
    assert found <= allowed, sorted(str(m.relative_to(root)) for m in found - allowed)
