"""The incident engine with a real SQLite store, a recording notifier, and kill
switches that call a real loopback testbed cloud."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web

from alerts import Alert, AlertKind, Notifier, NotifierError
from alerts.tables import threads
from monitor.config import PathConfig
from monitor.errors import KillSwitchError
from monitor.incidents import IncidentEngine
from monitor.killswitch import KillSwitchBackend, RecordKillSwitch, WebhookKillSwitch
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.store.models import IncidentRow
from monitor.verdict import KillSwitchState, Verdict
from testbed import TestbedCloud, TestbedServer
from tests.fleet import T0, canaries, leak, snapshot_paths, store_fixture

SECRET = b"incident engine: deployment secret"
SWITCH_SECRET = b"incident engine: kill switch secret"
ADMIN = "incident-engine-admin"
CANARIES = canaries("lobby", "nursery", token="t{n}")


OnLeak = Literal["alert", "trip"]


def paths(hub_on_leak: OnLeak = "trip") -> tuple[PathConfig, ...]:
    return snapshot_paths("app", "hub", hub={"on_leak": hub_on_leak})


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)

    @property
    def kinds(self) -> list[AlertKind]:
        return [alert.kind for alert in self.alerts]


class BrokenNotifier(Notifier):
    async def send(self, alert: Alert) -> None:
        raise NotifierError("workspace unreachable")


store = store_fixture(CANARIES, paths(), databases="sqlite")


def result(verdict: Verdict = Verdict.FOREIGN_CANARY, **fields: Any) -> ProbeResult:
    """A `leak` (``path``, ``canary``, ``source``, ``profile``, ``seconds``) of lobby's code."""
    return leak(verdict, detail="frame carries lobby's code", **fields)


def engine_for(
    store: Store,
    notifier: Notifier,
    kill_switch: KillSwitchBackend | None = None,
    hub_on_leak: OnLeak = "trip",
    *extra: Notifier,
) -> IncidentEngine:
    return IncidentEngine(
        store, [notifier, *extra], kill_switch or RecordKillSwitch(), paths(hub_on_leak)
    )


@contextlib.asynccontextmanager
async def serve_testbed() -> AsyncIterator[tuple[TestbedServer, TestbedCloud]]:
    cloud = TestbedCloud.create(
        SECRET, ["lobby", "nursery"], killswitch_secret=SWITCH_SECRET, admin_token=ADMIN
    )
    async with TestbedServer(cloud) as server:
        yield server, cloud


async def fetch_statuses(server: TestbedServer, cloud: TestbedCloud) -> dict[str, int]:
    token = cloud.tenant("lobby").token
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, trust_env=False
    ) as client:
        hub = await client.get("/hub/v1/cameras/cam-lobby/still")
        app = await client.get("/app/v1/cameras/cam-lobby/snapshot")
        return {"hub": hub.status_code, "app": app.status_code}


async def switches_at_testbed(server: TestbedServer) -> dict[str, str]:
    """The testbed's switches of the two paths these tests configure (app and hub)."""
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        response = await client.get("/admin/v1/state", headers={"Authorization": f"Bearer {ADMIN}"})
        response.raise_for_status()
        switches = response.json()["killswitches"]
        return {path: switches[path]["state"] for path in ("app", "hub")}


# -- incidents and alerts ---------------------------------------------------------------


def test_first_leak_opens_an_incident_and_alerts_once(store: Store) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier, hub_on_leak="alert")

    incident_id = asyncio.run(engine.handle(result()))

    [incident] = store.open_incidents()
    assert incident_id == incident.id
    assert incident.hits == 1
    [alert] = notifier.alerts
    assert alert == Alert(
        kind=AlertKind.INCIDENT_OPENED,
        incident_id=incident.id,
        path="hub",
        verdict="foreign_canary",
        canary="nursery",
        source="lobby",
        profile="3g",
        hits=1,
        first_seen=T0,
        last_seen=T0,
        kill_switch=KillSwitchState.ARMED,
    )
    assert alert.summary == (
        "LEAK on path hub: nursery received lobby's frame (foreign_canary, profile 3g)"
    )
    [row] = store.results()
    assert (row.verdict, row.incident_id) == ("foreign_canary", incident.id)


def test_second_leak_of_the_same_kind_on_the_same_path_joins_without_a_new_alert(
    store: Store,
) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier, hub_on_leak="alert")

    async def scenario() -> tuple[int | None, int | None]:
        first = await engine.handle(result())
        second = await engine.handle(
            result(canary="lobby", source="nursery", profile="good", seconds=30)
        )
        return first, second

    first, second = asyncio.run(scenario())

    assert first == second
    [incident] = store.open_incidents()
    assert incident.hits == 2
    assert incident.verdicts == {"foreign_canary": 2}
    assert incident.canaries == ("nursery", "lobby")
    assert incident.sources == ("lobby", "nursery")
    assert incident.profiles == ("3g", "good")
    assert incident.last_seen == T0 + timedelta(seconds=30)
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED]
    assert [row.incident_id for row in store.results()] == [first, first]


def test_another_leak_kind_on_the_same_path_opens_its_own_incident(store: Store) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier, hub_on_leak="alert")

    async def scenario() -> tuple[int | None, int | None]:
        first = await engine.handle(result())
        second = await engine.handle(result(Verdict.FOREIGN, source=None, seconds=30))
        return first, second

    first, second = asyncio.run(scenario())

    assert first != second
    incidents = sorted(store.open_incidents(), key=lambda i: i.id)
    assert [i.verdicts for i in incidents] == [{"foreign_canary": 1}, {"foreign": 1}]
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.INCIDENT_OPENED]


def test_leak_on_another_path_opens_its_own_incident(store: Store) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier, hub_on_leak="alert")

    async def scenario() -> None:
        await engine.handle(result(path="hub"))
        await engine.handle(result(Verdict.SPLICED, path="app"))

    asyncio.run(scenario())

    assert sorted(i.path for i in store.open_incidents()) == ["app", "hub"]
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.INCIDENT_OPENED]
    assert [a.path for a in notifier.alerts] == ["hub", "app"]


@pytest.mark.parametrize(
    "verdict",
    [Verdict.OWN, Verdict.OWN_STALE, Verdict.DEGRADED, Verdict.BLANK, Verdict.ERROR],
)
def test_non_leak_verdicts_are_recorded_without_an_incident(store: Store, verdict: Verdict) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier)

    incident_id = asyncio.run(engine.handle(result(verdict, source=None)))

    assert incident_id is None
    assert store.open_incidents() == []
    assert notifier.alerts == []
    assert store.kill_switches() == {"app": KillSwitchState.ARMED, "hub": KillSwitchState.ARMED}
    [row] = store.results()
    assert (row.verdict, row.incident_id) == (str(verdict), None)


def test_without_slack_an_incident_is_acknowledged_and_resolves_with_no_slack_row(
    store: Store,
) -> None:
    engine = engine_for(store, RecordingNotifier())
    open_after: list[int] = []

    async def scenario() -> int | None:
        incident_id = await engine.handle(result(path="app"))
        assert incident_id is not None
        assert engine.acknowledge(incident_id, "U-OLGA")
        assert not engine.acknowledge(incident_id, "U-OTTO")  # the first one wins
        for n in range(3):  # resolve_after_rounds: 3 rounds over both profiles
            for profile in ("good", "3g"):
                clean = result(Verdict.OWN, path="app", source=None, profile=profile, seconds=n)
                await engine.handle(clean)
            open_after.append(len(store.open_incidents()))
        return incident_id

    incident_id = asyncio.run(scenario())

    assert open_after == [1, 1, 0]
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        assert (row.status, row.acked_by, row.clean_rounds) == ("resolved", "U-OLGA", 3)
        assert session.scalar(sa.select(sa.func.count()).select_from(threads)) == 0


def test_a_failing_notifier_does_not_stop_the_others(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, BrokenNotifier(), None, "alert", notifier)

    with caplog.at_level(logging.ERROR, logger="monitor.incidents"):
        asyncio.run(engine.handle(result()))

    assert notifier.kinds == [AlertKind.INCIDENT_OPENED]
    assert "notifier BrokenNotifier failed for incident #1: workspace unreachable" in caplog.text


def test_alerts_carry_text_and_numbers_never_image_bytes(store: Store) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier)

    asyncio.run(engine.handle(result()))

    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.KILL_SWITCH_TRIPPED]
    allowed = (str, int, datetime, type(None))
    for field in dataclasses.fields(Alert):
        assert "bytes" not in str(field.type), field
    for alert in notifier.alerts:
        for field in dataclasses.fields(alert):
            value = getattr(alert, field.name)
            assert isinstance(value, allowed), (field.name, type(value))
            assert not isinstance(value, bytes | bytearray | memoryview)


# -- kill switch policy ------------------------------------------------------------------


def test_trip_policy_switches_off_only_the_leaking_path_at_the_testbed(store: Store) -> None:
    notifier = RecordingNotifier()

    async def scenario() -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
        async with serve_testbed() as (server, cloud):
            kill_switch = WebhookKillSwitch(server.url + "/admin/v1/killswitch", SWITCH_SECRET)
            try:
                engine = engine_for(store, notifier, kill_switch)
                before = await fetch_statuses(server, cloud)
                await engine.handle(result())
                after = await fetch_statuses(server, cloud)
                return before, after, await switches_at_testbed(server)
            finally:
                await kill_switch.close()

    before, after, switches = asyncio.run(scenario())

    assert before == {"hub": 200, "app": 200}
    assert after == {"hub": 503, "app": 200}
    assert switches == {"app": "armed", "hub": "tripped"}
    assert store.kill_switches() == {"app": KillSwitchState.ARMED, "hub": KillSwitchState.TRIPPED}
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.KILL_SWITCH_TRIPPED]
    opened, tripped = notifier.alerts
    assert opened.kill_switch == KillSwitchState.ARMED  # sent before the trip
    assert tripped.kill_switch == KillSwitchState.TRIPPED
    assert tripped.summary == "kill switch TRIPPED for path hub"


def test_further_leaks_after_a_trip_neither_retrip_nor_alert(store: Store) -> None:
    notifier = RecordingNotifier()
    engine = engine_for(store, notifier)

    async def scenario() -> None:
        for n in range(3):
            await engine.handle(result(seconds=n))

    asyncio.run(scenario())

    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.KILL_SWITCH_TRIPPED]
    assert store.kill_switch("hub") == KillSwitchState.TRIPPED
    [incident] = store.open_incidents()
    assert incident.hits == 3


def test_alert_policy_leaves_the_switch_armed(store: Store) -> None:
    notifier = RecordingNotifier()

    async def scenario() -> tuple[dict[str, int], dict[str, str]]:
        async with serve_testbed() as (server, cloud):
            kill_switch = WebhookKillSwitch(server.url + "/admin/v1/killswitch", SWITCH_SECRET)
            try:
                engine = engine_for(store, notifier, kill_switch, hub_on_leak="alert")
                await engine.handle(result())
                return await fetch_statuses(server, cloud), await switches_at_testbed(server)
            finally:
                await kill_switch.close()

    statuses, switches = asyncio.run(scenario())

    assert statuses == {"hub": 200, "app": 200}
    assert switches == {"app": "armed", "hub": "armed"}
    assert store.kill_switches() == {"app": KillSwitchState.ARMED, "hub": KillSwitchState.ARMED}
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED]


def test_refused_webhook_rearms_the_switch_and_alerts_the_failure(store: Store) -> None:
    notifier = RecordingNotifier()

    async def scenario() -> tuple[str, dict[str, int], dict[str, str]]:
        async with serve_testbed() as (server, cloud):
            url = server.url + "/admin/v1/killswitch"
            kill_switch = WebhookKillSwitch(url, b"not the switch secret")
            try:
                engine = engine_for(store, notifier, kill_switch)
                await engine.handle(result())
                return url, await fetch_statuses(server, cloud), await switches_at_testbed(server)
            finally:
                await kill_switch.close()

    url, statuses, switches = asyncio.run(scenario())

    assert statuses == {"hub": 200, "app": 200}
    assert switches == {"app": "armed", "hub": "armed"}
    assert store.kill_switches() == {"app": KillSwitchState.ARMED, "hub": KillSwitchState.ARMED}
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.KILL_SWITCH_FAILED]
    failed = notifier.alerts[1]
    assert failed.kill_switch == KillSwitchState.ARMED
    assert failed.detail == (
        f'{url} refused: HTTP 401: {{"error": "bad signature or stale timestamp"}}'
    )
    assert failed.summary == f"kill switch for path hub could NOT be tripped: {failed.detail}"


def test_after_a_failed_trip_the_next_leak_tries_again(store: Store) -> None:
    notifier = RecordingNotifier()

    async def scenario() -> None:
        async with serve_testbed() as (server, _):
            kill_switch = WebhookKillSwitch(server.url + "/admin/v1/killswitch", b"wrong")
            try:
                engine = engine_for(store, notifier, kill_switch)
                await engine.handle(result())
                await engine.handle(result(seconds=5))
            finally:
                await kill_switch.close()

    asyncio.run(scenario())

    assert notifier.kinds == [
        AlertKind.INCIDENT_OPENED,
        AlertKind.KILL_SWITCH_FAILED,
        AlertKind.KILL_SWITCH_FAILED,
    ]
    assert store.kill_switch("hub") == KillSwitchState.ARMED


def test_webhook_refusal_is_permanent_and_not_retried() -> None:
    async def scenario() -> tuple[KillSwitchError, float]:
        async with serve_testbed() as (server, _):
            kill_switch = WebhookKillSwitch(server.url + "/admin/v1/killswitch", b"wrong")
            began = time.monotonic()
            try:
                with pytest.raises(KillSwitchError) as caught:
                    await kill_switch.apply("hub", KillSwitchState.TRIPPED, "drill")
                return caught.value, time.monotonic() - began
            finally:
                await kill_switch.close()

    error, elapsed = asyncio.run(scenario())

    assert error.permanent is True
    assert elapsed < 0.5  # no backoff for a refusal


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_webhook_fails_after_retries_and_rearms(store: Store) -> None:
    notifier = RecordingNotifier()
    url = f"http://127.0.0.1:{free_port()}/admin/v1/killswitch"

    async def scenario() -> float:
        kill_switch = WebhookKillSwitch(url, SWITCH_SECRET, timeout_s=1.0)
        try:
            engine = engine_for(store, notifier, kill_switch)
            began = time.monotonic()
            await engine.handle(result())
            return time.monotonic() - began
        finally:
            await kill_switch.close()

    elapsed = asyncio.run(scenario())

    assert store.kill_switches() == {"app": KillSwitchState.ARMED, "hub": KillSwitchState.ARMED}
    assert notifier.kinds == [AlertKind.INCIDENT_OPENED, AlertKind.KILL_SWITCH_FAILED]
    assert notifier.alerts[1].detail == (
        f"{url} unreachable after 3 attempts: ConnectError: All connection attempts failed"
    )
    # Backoff 0.5 s + 1 s between three tries, and no pause after the last one.
    assert 1.4 < elapsed < 3.0


@contextlib.asynccontextmanager
async def failing_gateway(status: int, hits: list[dict[str, Any]]) -> AsyncIterator[str]:
    routes = web.RouteTableDef()

    @routes.post("/killswitch")
    async def killswitch(request: web.Request) -> web.Response:
        hits.append(await request.json())
        return web.json_response({"error": "busy"}, status=status)

    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/killswitch"
    finally:
        await runner.cleanup()


def test_webhook_retries_a_busy_gateway_three_times_then_gives_up_temporarily() -> None:
    hits: list[dict[str, Any]] = []

    async def scenario() -> tuple[str, KillSwitchError]:
        async with failing_gateway(503, hits) as url:
            kill_switch = WebhookKillSwitch(url, SWITCH_SECRET)
            try:
                with pytest.raises(KillSwitchError) as caught:
                    await kill_switch.apply("hub", KillSwitchState.TRIPPED, "incident #1")
                return url, caught.value
            finally:
                await kill_switch.close()

    url, error = asyncio.run(scenario())

    assert error.permanent is False
    assert str(error) == f'{url} unreachable after 3 attempts: HTTP 503: {{"error": "busy"}}'
    assert hits == [{"path": "hub", "state": "tripped", "reason": "incident #1"}] * 3
