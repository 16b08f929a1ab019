"""Fixtures of the path tests.

``testbed(names, scenario)`` serves a fresh three-tenant cloud, configures the manifest
paths ``names`` on it, and runs ``await scenario(bench)`` in a new event loop, with a
Prober whose routes go through a real ProxyPool (`tests.harness`). ``bed`` is one
testbed for a whole module, served from a thread (`Bed`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from testbed import TestbedCloud, TestbedServer
from testbed.manifest import server_facts
from tests import harness
from tests.harness import Probing
from tests.monitor.paths.stream_helpers import Bed

SECRET = "monitor paths tests: deployment secret"
ADMIN = "paths-tests-admin"
TENANTS = ["lobby", "nursery", "garage"]


@dataclass
class Bench(Probing):
    server: TestbedServer
    cloud: TestbedCloud

    async def admin(self, method: str, route: str, **kwargs: Any) -> Any:
        return await harness.admin(self.server, ADMIN, method, route, **kwargs)


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
        cloud = cloud or TestbedCloud.create(
            SECRET.encode(), TENANTS, killswitch_secret=b"paths switch", admin_token=ADMIN
        )

        async def main() -> None:
            async with TestbedServer(cloud) as server:
                paths = harness.manifest_paths(
                    server.url, names, facts=server_facts(server), overrides=overrides,
                    aliases=manifest_aliases,
                )  # fmt: skip
                fleet = harness.fleet_of(cloud)
                config = harness.probe_config(SECRET, fleet, paths, deadline_s=deadline_s)
                async with harness.probing(config, SECRET) as p:
                    await scenario(Bench(p.config, p.pool, p.prober, p.adapters, server, cloud))

        asyncio.run(main())

    return run


@pytest.fixture(scope="module")
def bed() -> Iterator[Bed]:
    with Bed().running() as running:
        yield running


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
