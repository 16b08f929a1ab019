"""A three-tenant loopback testbed and a Prober whose routes go through a real ProxyPool.

``testbed(names, scenario)`` serves a fresh cloud, configures the manifest paths
``names`` on it, and runs ``await scenario(bench)`` in a new event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, Config, parse_config
from monitor.network import PROFILES, ProxyPool
from monitor.paths import PATH_KINDS, Capture, CaptureFailure, IntegrationPath
from monitor.probe import Prober, ProbeSpec
from monitor.results import ProbeResult
from testbed import TestbedCloud, TestbedServer
from testbed.manifest import path_config, server_facts

SECRET = "monitor paths tests: deployment secret"
ADMIN = "paths-tests-admin"
TENANTS = ["lobby", "nursery", "garage"]


@dataclass
class Bench:
    server: TestbedServer
    cloud: TestbedCloud
    config: Config
    pool: ProxyPool
    prober: Prober
    adapters: dict[str, IntegrationPath]

    def canary(self, name: str) -> CanaryConfig:
        [canary] = [c for c in self.config.canaries if c.name == name]
        return canary

    async def probe(self, path: str, profile: str, canary: str) -> ProbeResult:
        [path_config] = [p for p in self.config.paths if p.name == path]
        return await self.prober.probe(ProbeSpec(self.canary(canary), path_config, profile))

    async def capture(
        self, path: str, canary: CanaryConfig | str, profile: str = "good"
    ) -> Capture | CaptureFailure:
        """The adapter alone, routed through the pool (no judging, no deadline)."""
        account = self.canary(canary) if isinstance(canary, str) else canary

        async def router(host: str, port: int) -> tuple[str, int]:
            return await self.pool.route(host, port, PROFILES[profile])

        return await self.adapters[path].capture(account, profile, router)

    async def admin(self, method: str, route: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.server.url, trust_env=False) as client:
            response = await client.request(
                method, route, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs
            )
            response.raise_for_status()
            return response.json()


Scenario = Callable[[Bench], Awaitable[None]]
Testbed = Callable[..., None]


@pytest.fixture
def testbed() -> Testbed:
    def run(
        names: list[str],
        scenario: Scenario,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
        deadline_s: float = 20.0,
        cloud: TestbedCloud | None = None,
        manifest_aliases: dict[str, str] | None = None,
    ) -> None:
        """``manifest_aliases``: path name -> the manifest entry it is a copy of."""
        aliases = manifest_aliases or {}
        cloud = cloud or TestbedCloud.create(
            SECRET.encode(), TENANTS, killswitch_secret=b"paths switch", admin_token=ADMIN
        )

        async def main() -> None:
            async with TestbedServer(cloud) as server:
                facts = server_facts(server)
                paths = [
                    {
                        **path_config(
                            aliases.get(n, n),
                            server.url,
                            facts=facts,
                            **(overrides or {}).get(n, {}),
                        ),
                        "name": n,
                    }
                    for n in names
                ]
                canaries = [
                    {"name": t.canary, "camera_id": t.camera_id, "token": t.token}
                    for t in cloud.tenants
                ]
                config = parse_config(
                    {
                        "deployment": {"secret": SECRET},
                        "canaries": canaries,
                        "paths": paths,
                        "probe": {"deadline_s": deadline_s, "stale_after_s": 60},
                    },
                    environ={},
                )
                adapters = {p.name: PATH_KINDS[p.kind](p) for p in config.paths}
                async with ProxyPool() as pool:
                    prober = Prober(
                        Reader(Codebook(SECRET.encode()), TENANTS),
                        adapters,
                        pool,
                        deadline_s=deadline_s,
                        stale_after_s=60,
                    )
                    try:
                        await scenario(Bench(server, cloud, config, pool, prober, adapters))
                    finally:
                        for adapter in adapters.values():
                            await adapter.close()

        asyncio.run(main())

    return run


def processes_in_session(sid: int) -> list[int]:
    """Live pids whose session id is ``sid`` (a Chromium launched by monitor.paths.chromium)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state ppid pgrp session ...; zombies are gone for good.
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def session_processes() -> Callable[[int], list[int]]:
    return processes_in_session
