"""A shortened drill with the built-in backend: the monitor trips the hub through its
state machine and the testbed's polling gateway refuses the hub, nothing else."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from monitor.config import parse_config
from monitor.service import Monitor
from monitor.web import WebServer, create_app
from testbed import TestbedCloud, TestbedServer
from testbed.gateway import KillSwitchPoller
from tests.fleet import TRIP
from tests.harness import app_and_hub, fleet_of, service_config

SECRET = "drill: deployment secret"
ADMIN = "drill-admin"


def config(url: str, db_url: str) -> dict[str, Any]:
    return service_config(
        SECRET, [], app_and_hub(url, app=TRIP, hub=TRIP), db_url,
        schedule={"interval_s": 1.0, "jitter_s": 0.2, "concurrency": 12},
        probe={"deadline_s": 8, "stale_after_s": 30},
        killswitch={"kind": "builtin"}, web={"port": 0},
    )  # fmt: skip


@pytest.mark.slow
def test_drill_with_the_builtin_backend_ends_with_the_hub_refused(sqlite_url: str) -> None:
    cloud = TestbedCloud.create(
        SECRET.encode(),
        ["lobby", "nursery", "garage"],
        killswitch_secret=b"unused: the gateway polls",
        admin_token=ADMIN,
    )

    async def go() -> tuple[dict[str, str], dict[str, str], list[tuple[str, str]], float]:
        async with TestbedServer(cloud) as server:
            data = config(server.url, sqlite_url)
            data["canaries"] = fleet_of(cloud)
            monitor = Monitor(parse_config(data, environ={}))
            await monitor.prepare()
            web = WebServer(create_app(monitor.web_context()), port=0)
            await web.start()
            poller = KillSwitchPoller(cloud, web.url + "/api/v1/killswitch")
            await poller.start()
            await monitor.start()
            try:
                async with httpx.AsyncClient(trust_env=False) as client:
                    await asyncio.sleep(2)
                    deployed = time.monotonic()
                    response = await client.post(
                        f"{server.url}/admin/v1/bugs",
                        json={"bug": "xiaomi-2020", "enabled": True},
                        headers={"Authorization": f"Bearer {ADMIN}"},
                    )
                    response.raise_for_status()
                # The gateway's own view is what counts: poll it like an outsider would.
                while not cloud.is_tripped("hub") and time.monotonic() - deployed < 30:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                refused_after = time.monotonic() - deployed
            finally:
                await monitor.stop()
                await poller.stop()
                await web.stop()
            gateway = {path: cloud.killswitch(path).state for path in ("app", "hub")}
            audit = [(r.action, r.actor) for r in monitor.kill_switches.audit("hub")]
            return gateway, monitor.store.kill_switches(), audit, refused_after

    gateway, stored, audit, refused_after = asyncio.run(go())

    assert gateway == {"app": "armed", "hub": "tripped"}
    assert stored == {"app": "armed", "hub": "tripped"}
    assert audit == [("trip", "policy")]
    assert refused_after < 30
