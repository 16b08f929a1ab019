"""The route-backend contract (`monitor.network.base.RouteBackend`), held by every
backend in ``BACKENDS``: opened by `open_backend` from its options, it gives a route
to an upstream whose profile's latency is observable on the wire, reuses it, and
closes cleanly (the route stops answering, further ``route()`` raises RuntimeError).

``toxiproxy`` runs against `testbed.toxiproxy_api`, camcanary's imitation of
Toxiproxy's HTTP API over the built-in proxy: no real Toxiproxy binary is
installable here, so the API calls and the traffic are real, the server is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from monitor.network import BACKENDS, LatencyToxic, Profile, open_backend
from testbed.toxiproxy_api import toxiproxy_app
from tests.monitor.network.loopback import echo

Address = tuple[str, int]
LATENCY_MS = 150
SLOW = Profile(
    "contract-slow",
    "150 ms each way",
    tuple(LatencyToxic(stream=s, latency=LATENCY_MS) for s in ("upstream", "downstream")),
)


@contextlib.asynccontextmanager
async def no_server() -> AsyncIterator[dict[str, str]]:
    yield {}


@contextlib.asynccontextmanager
async def toxiproxy_api() -> AsyncIterator[dict[str, str]]:
    runner = web.AppRunner(toxiproxy_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield {"toxiproxy_url": f"http://127.0.0.1:{runner.addresses[0][1]}"}
    finally:
        await runner.cleanup()


# What each backend needs running, and the options that point it there.
SERVERS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[dict[str, str]]]] = {
    "builtin": no_server,
    "toxiproxy": toxiproxy_api,
}


def test_the_suite_covers_every_registered_network_backend() -> None:
    assert set(SERVERS) == set(BACKENDS)


def test_an_unknown_backend_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown network backend 'netem'") as error:
        open_backend("netem")
    for kind in BACKENDS:
        assert kind in str(error.value)


async def round_trip(address: Address) -> float:
    reader, writer = await asyncio.open_connection(*address)
    try:
        started = time.monotonic()
        writer.write(b"ping")
        await writer.drain()
        assert await reader.readexactly(4) == b"ping"
        return time.monotonic() - started
    finally:
        writer.close()


async def refused(address: Address) -> bool:
    """True if ``address`` no longer carries traffic (refused, or closed at once)."""
    try:
        reader, writer = await asyncio.open_connection(*address)
    except OSError:
        return True
    try:
        writer.write(b"ping")
        await writer.drain()
        async with asyncio.timeout(2):
            return await reader.read(4) == b""
    except (OSError, TimeoutError):
        return True
    finally:
        writer.close()


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_a_route_carries_its_profile_and_closes_cleanly(kind: str) -> None:
    async def go() -> tuple[float, float, bool, bool]:
        upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
        host, port = upstream.sockets[0].getsockname()[:2]
        try:
            async with SERVERS[kind]() as options:
                backend = open_backend(kind, **options)
                assert isinstance(backend, BACKENDS[kind])
                async with backend:
                    route = await backend.route(host, port, SLOW)
                    again = await backend.route(host, port, SLOW)
                    direct = await round_trip((host, port))
                    slowed = await round_trip(route)
                after_close = await refused(route)
                with pytest.raises(RuntimeError):
                    await backend.route(host, port, SLOW)
                return direct, slowed, route == again, after_close
        finally:
            upstream.close()
            await upstream.wait_closed()

    direct, slowed, reused, closed = asyncio.run(asyncio.wait_for(go(), 20))

    assert direct < 0.1
    assert slowed >= 2 * LATENCY_MS / 1000 * 0.95, f"{slowed:.3f} s: latency not applied"
    assert reused
    assert closed, "the route still carries traffic after close()"
