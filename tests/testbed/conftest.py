"""A fresh two-tenant testbed cloud per test, and a driver that serves it on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from canaries import Codebook, Reader
from testbed import TestbedCloud, TestbedServer

SECRET = b"testbed tests: deployment secret"
KILLSWITCH_SECRET = b"testbed tests: kill switch secret"
ADMIN_TOKEN = "admin-token-for-tests"
TENANTS = ["a", "b"]

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


@pytest.fixture
def cloud() -> TestbedCloud:
    return TestbedCloud.create(
        SECRET, TENANTS, killswitch_secret=KILLSWITCH_SECRET, admin_token=ADMIN_TOKEN
    )


@pytest.fixture(scope="session")
def reader() -> Reader:
    return Reader(Codebook(SECRET), fleet=TENANTS)


@pytest.fixture
def drive(cloud: TestbedCloud) -> Callable[[Scenario], None]:
    """``drive(scenario)`` serves the cloud and runs ``scenario(client)`` against it."""

    async def serve(scenario: Scenario) -> None:
        async with (
            TestbedServer(cloud) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10.0) as client,
        ):
            await scenario(client)

    return lambda scenario: asyncio.run(serve(scenario))
