"""How long from a policy match to a tripped switch, per kill switch backend.

    .venv/bin/python bench/killswitch_latency.py [--runs N] [--db URL]

For each backend, N times: arm the hub's switch, then time
``KillSwitchService.on_leak`` (policy match → compare-and-set in the database +
audit row → backend call) until it returns. For ``builtin`` the clock runs on until
the testbed gateway, polling the flag endpoint every 0.5 s with ETags, refuses a
tenant's request to the hub (HTTP 503): that is what the platform feels. ``webhook``
posts to the testbed's signed endpoint; ``unleash`` to the fake Unleash admin API.
Everything runs on loopback in one process, against SQLite unless ``--db`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from monitor.config import CanaryConfig, KillSwitchConfig, PathConfig
from monitor.killswitch import build_kill_switch
from monitor.killswitch.machine import KillSwitchService
from monitor.results import ProbeResult
from monitor.store import Store
from monitor.verdict import KillSwitchState, Verdict
from monitor.web import WebServer, create_app
from monitor.web.context import WebContext
from testbed import TestbedCloud, TestbedServer
from testbed.fake_unleash import FakeUnleash

SWITCH_SECRET = secrets.token_hex(16)
TOKEN = secrets.token_urlsafe(16)
PATHS = tuple(
    PathConfig(name=n, kind="snapshot", url=f"http://cloud.test/{n}/{{camera_id}}", on_leak="trip")
    for n in ("app", "hub")
)
LEAK = ProbeResult(
    canary="a",
    path="hub",
    profile="3g",
    started_at=datetime.now(UTC),
    duration_s=0.1,
    verdict=Verdict.FOREIGN_CANARY,
    source_canary="b",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    store: Store,
    config: KillSwitchConfig,
    runs: int,
    refused: Callable[[], Awaitable[bool]] | None = None,
) -> tuple[list[float], list[float]]:
    backend = build_kill_switch(config)
    service = KillSwitchService(store, backend, PATHS)
    incident, _ = store.add_leak(LEAK)
    to_tripped, to_refused = [], []
    try:
        for _ in range(runs):
            store.set_kill_switch(
                "hub", KillSwitchState.ARMED, "bench: re-armed", expect=KillSwitchState.TRIPPED
            )
            await backend.apply("hub", KillSwitchState.ARMED, "bench: re-armed")
            if refused is not None:
                # The gateway must see armed before the next run; it is polled from outside.
                while await refused():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                # Leaks arrive at any phase of the gateway's poll interval.
                await asyncio.sleep(random.uniform(0, 0.5))
            began = time.perf_counter()
            transition = await service.on_leak(LEAK, incident.id)
            to_tripped.append(time.perf_counter() - began)
            if transition is None or transition.to_state != KillSwitchState.TRIPPED:
                raise RuntimeError(f"the bench expected a trip, got {transition}")
            if refused is not None:
                while not await refused():  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                to_refused.append(time.perf_counter() - began)
    finally:
        await backend.close()
    return to_tripped, to_refused


async def bench(runs: int, db_url: str) -> list[tuple[str, list[float], str]]:
    store = Store(db_url)
    store.migrate()
    tenant_token = secrets.token_urlsafe(8)
    store.register([CanaryConfig(name="a", camera_id="cam-a", token=tenant_token)], PATHS)
    cloud = TestbedCloud.create(
        secrets.token_bytes(16),
        ["a"],
        killswitch_secret=SWITCH_SECRET.encode(),
        admin_token=secrets.token_urlsafe(8),
    )
    rows: list[tuple[str, list[float], str]] = []
    try:
        for kind in ("record", "builtin"):
            tripped, _ = await measure(store, KillSwitchConfig(kind=kind), runs)
            rows.append((kind, tripped, "policy match → tripped in the database"))
        async with TestbedServer(cloud) as server:
            config = KillSwitchConfig(
                kind="webhook", url=server.url + "/admin/v1/killswitch", secret=SWITCH_SECRET
            )
            tripped, _ = await measure(store, config, runs)
            rows.append(("webhook", tripped, "… + signed POST accepted by the testbed"))
        async with FakeUnleash(TOKEN, {"default": {"hub": ["production"]}}) as fake:
            config = KillSwitchConfig(kind="unleash", url=fake.url, secret=TOKEN)
            tripped, _ = await measure(store, config, runs)
            rows.append(("unleash", tripped, "… + feature off at the fake Unleash"))
        service = KillSwitchService(store, build_kill_switch(KillSwitchConfig()), PATHS)
        async with (
            WebServer(create_app(WebContext(store, service)), port=0) as web,
            TestbedServer(cloud, killswitch_poll=web.url + "/api/v1/killswitch") as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            tenant = cloud.tenant("a")
            url = f"/hub/v1/cameras/{tenant.camera_id}/still"
            headers = {"Authorization": f"Bearer {tenant.token}"}

            async def hub_refused() -> bool:
                return (await client.get(url, headers=headers)).status_code == 503

            _, refused = await measure(
                store, KillSwitchConfig(kind="builtin"), max(5, runs // 10), hub_refused
            )
            rows.append(("builtin+gateway", refused, "… until the polling gateway answers 503"))
    finally:
        store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temp SQLite)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the testbed logs every switch change
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        rows = asyncio.run(bench(args.runs, db_url))
    print(f"kill switch latency, policy match → tripped ({platform.python_version()}, "
          f"{platform.machine()}, {db_url.split(':')[0]})")  # fmt: skip
    print(f"{'backend':<16}{'runs':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}  measured")
    for kind, values, what in rows:
        ms = [v * 1000 for v in values]
        print(
            f"{kind:<16}{len(ms):>6}{statistics.median(ms):>10.1f}"
            f"{percentile(ms, 0.95):>10.1f}{max(ms):>10.1f}  {what}"
        )


if __name__ == "__main__":
    main()
