"""The testbed gateway honouring camcanary's flag endpoint: trips reach it within a
second; it fails safe when the endpoint is away."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from monitor.config import CanaryConfig
from monitor.killswitch import BuiltinKillSwitch
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store
from monitor.web import WebServer, create_app
from monitor.web.context import WebContext
from testbed import TestbedCloud, TestbedServer
from tests.fleet import canaries, snapshot_paths, store_fixture
from tests.harness import app_and_hub_statuses

PATHS = snapshot_paths("app", "hub")

store = store_fixture(canaries("a", token="t"), PATHS, databases="sqlite")


@pytest.fixture
def service(store: Store) -> KillSwitchService:
    return KillSwitchService(store, BuiltinKillSwitch(), PATHS)


async def statuses(client: httpx.AsyncClient, cloud: TestbedCloud) -> tuple[int, int]:
    return await app_and_hub_statuses(client, cloud, "a")


def test_the_polling_gateway_refuses_a_tripped_path_within_a_second_and_follows_reenable(
    cloud: TestbedCloud, service: KillSwitchService, store: Store
) -> None:
    async def go() -> tuple[list[tuple[int, int]], float]:
        seen = []
        async with WebServer(create_app(WebContext(store, service)), port=0) as web:
            flags = web.url + "/api/v1/killswitch"
            async with (
                TestbedServer(cloud, killswitch_poll=flags) as server,
                httpx.AsyncClient(base_url=server.url, timeout=10) as client,
            ):
                seen.append(await statuses(client, cloud))
                await service.trip("hub", actor="carol", reason="drill")
                began = time.monotonic()
                while (await statuses(client, cloud))[1] != 503:
                    assert time.monotonic() - began < 3, "the gateway did not follow the trip"
                    await asyncio.sleep(0.02)
                refused_after = time.monotonic() - began
                seen.append(await statuses(client, cloud))
                await service.request_reenable("hub", actor="alice", reason="fixed")
                await service.approve("hub", actor="bob")
                await asyncio.sleep(1.2)
                seen.append(await statuses(client, cloud))  # verifying: canaries only
                verifying = cloud.killswitch("hub").state
        assert verifying == "verifying"
        return seen, refused_after

    seen, refused_after = asyncio.run(go())

    assert seen == [(200, 200), (200, 503), (200, 200)]
    assert refused_after < 1.5  # one 0.5 s poll interval plus slack


def test_the_gateway_keeps_its_last_state_while_the_endpoint_is_away(
    cloud: TestbedCloud, service: KillSwitchService, store: Store
) -> None:
    async def go() -> dict[str, str]:
        web = WebServer(create_app(WebContext(store, service)), port=0)
        await web.start()
        flags = web.url + "/api/v1/killswitch"
        await service.trip("hub", actor="carol", reason="drill")
        async with TestbedServer(cloud, killswitch_poll=flags) as server:
            assert server.poller is not None
            await web.stop()  # the monitor goes away
            polls = server.poller.polls
            await asyncio.sleep(1.2)  # two poll intervals and more
            assert server.poller.polls >= polls + 2
            return {path: cloud.killswitch(path).state for path in ("app", "hub")}

    assert asyncio.run(go()) == {"app": "armed", "hub": "tripped"}


def test_a_gateway_that_never_heard_the_endpoint_stays_closed(cloud: TestbedCloud) -> None:
    async def go() -> dict[str, str]:
        async with TestbedServer(cloud, killswitch_poll="http://127.0.0.1:9/api/v1/killswitch"):
            return {path: cloud.killswitch(path).state for path in ("app", "hub")}

    assert asyncio.run(go()) == {"app": "tripped", "hub": "tripped"}


def test_a_path_the_monitor_does_not_know_is_refused(cloud: TestbedCloud, sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.migrate()
    store.register([CanaryConfig(name="a", camera_id="cam-a", token="t")], PATHS[:1])
    only_app = KillSwitchService(store, BuiltinKillSwitch(), PATHS[:1])

    async def go() -> dict[str, str]:
        async with (
            WebServer(create_app(WebContext(store, only_app)), port=0) as web,
            TestbedServer(cloud, killswitch_poll=web.url + "/api/v1/killswitch"),
        ):
            return {path: cloud.killswitch(path).state for path in ("app", "hub")}

    try:
        assert asyncio.run(go()) == {"app": "armed", "hub": "tripped"}
    finally:
        store.close()
