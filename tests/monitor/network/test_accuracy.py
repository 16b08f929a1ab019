"""How exact the impairments are, measured through the real proxy on loopback.

Latency and bandwidth must land within 10 % of what is configured; every named
profile is exercised end to end with real HTTP requests (httpx against aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import statistics
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest
from aiohttp import web

from monitor.network import PROFILES, BandwidthToxic, LatencyToxic, ProxyPool, TcpProxy
from tests.monitor.network.loopback import echo, run_bounded
from tests.monitor.network.loopback import tcp_server as stream_server

log = logging.getLogger(__name__)  # measured numbers, shown with --log-cli-level=INFO
T = TypeVar("T")
Address = tuple[str, int]
BODY = bytes(range(256)) * 120  # 30,720 bytes: a small JPEG snapshot's worth


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    return run_bounded(coro, timeout)


class Cloud:
    """A loopback HTTP server: ``GET /snap?size=N`` returns N bytes of BODY's pattern."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.runner: web.AppRunner | None = None

    async def snap(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        size = int(request.query.get("size", len(BODY)))
        return web.Response(body=(BODY * (size // len(BODY) + 1))[:size])

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Address]:
        app = web.Application()
        app.router.add_get("/snap", self.snap)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        try:
            yield self.runner.addresses[0][:2]
        finally:
            await self.runner.cleanup()


async def get(address: Address, size: int = len(BODY), limit_s: float = 8.0) -> tuple[bytes, float]:
    """One request on a fresh connection: the body and the seconds it took."""
    async with httpx.AsyncClient(timeout=limit_s) as client:
        started = time.perf_counter()
        response = await client.get(f"http://{address[0]}:{address[1]}/snap?size={size}")
        response.raise_for_status()
        return response.content, time.perf_counter() - started


def test_latency_gives_the_configured_round_trip_within_10_percent() -> None:
    toxics = [LatencyToxic(stream=s, latency=200) for s in ("upstream", "downstream")]

    async def scenario() -> float:
        async with stream_server(echo) as upstream, TcpProxy(*upstream, toxics) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.address)
            samples = []
            for _ in range(7):
                started = time.perf_counter()
                writer.write(b"ping")
                await writer.drain()
                await reader.readexactly(4)
                samples.append(time.perf_counter() - started)
            writer.close()
            return statistics.median(samples)

    rtt = run(scenario())
    log.info("latency 200 ms each way: median RTT %.1f ms", rtt * 1000)
    assert rtt == pytest.approx(0.400, rel=0.10)


def test_bandwidth_gives_the_configured_rate_within_10_percent_both_ways() -> None:
    size = 250_000

    async def download(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            writer.write(b"d" * size)
            await writer.drain()
        writer.close()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = len(await reader.read(1))
        started = time.perf_counter()
        while data := await reader.read(65536):
            count += len(data)
        elapsed = time.perf_counter() - started
        writer.write(b"%d %.6f" % (count, elapsed))
        await writer.drain()
        writer.close()

    async def down_rate() -> float:
        toxics = [BandwidthToxic(stream="downstream", rate=50)]
        async with stream_server(download) as upstream, TcpProxy(*upstream, toxics) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.address)
            first = await reader.read(65536)
            started = time.perf_counter()
            rest = await reader.read()
            elapsed = time.perf_counter() - started
            writer.close()
            assert len(first) + len(rest) == size
            return len(rest) / elapsed

    async def up_rate() -> float:
        toxics = [BandwidthToxic(stream="upstream", rate=50)]
        async with stream_server(sink) as upstream, TcpProxy(*upstream, toxics) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.address)
            writer.write(b"u" * 150_000)
            await writer.drain()
            writer.write_eof()
            count, elapsed = (await reader.read()).split()
            writer.close()
            return (int(count) - 5_000) / float(elapsed)  # the first 100 ms slice is free

    async def scenario() -> tuple[float, float]:
        down, up = await asyncio.gather(down_rate(), up_rate())
        return down, up

    down, up = run(scenario())
    log.info("bandwidth 50 KB/s: down %.0f B/s, up %.0f B/s", down, up)
    assert down == pytest.approx(50_000, rel=0.10)
    assert up == pytest.approx(50_000, rel=0.10)


@pytest.mark.parametrize(
    ("name", "rtt_s", "down_bps"),
    [("good", 0, 0), ("3g", 0.4, 50_000), ("slow-4g", 0.15, 180_000), ("fast-4g", 0.06, 1_012_500)],
)
def test_link_profiles_serve_a_real_http_snapshot_in_the_expected_time(
    name: str, rtt_s: float, down_bps: float
) -> None:
    async def scenario() -> tuple[bytes, float]:
        cloud = Cloud()
        async with cloud.serving() as upstream, ProxyPool() as pool:
            return await get(await pool.route(*upstream, PROFILES[name]))

    # The fastest of three: a busy machine only adds time, the proxy's shaping is the floor.
    body, took = min((run(scenario()) for _ in range(3)), key=lambda got: got[1])
    expected = rtt_s + (len(BODY) / down_bps if down_bps else 0)
    log.info("%s: 30 kB snapshot in %.3f s (model %.3f s)", name, took, expected)
    assert body == BODY
    assert 0.9 * expected <= took < 1.2 * expected + 0.15


def test_lossy_profile_never_alters_bytes_and_fails_some_requests_cleanly() -> None:
    random.seed(11)  # the per-connection toxicity draws

    async def scenario() -> list[bytes | str]:
        cloud = Cloud()
        outcomes: list[bytes | str] = []
        async with cloud.serving() as upstream, ProxyPool() as pool:
            address = await pool.route(*upstream, PROFILES["lossy"])
            for _ in range(5):
                try:
                    outcomes.append((await get(address, limit_s=5))[0])
                except httpx.TransportError as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    outcomes = run(scenario(), timeout=40)
    log.info("lossy outcomes: %s", [o if isinstance(o, str) else "ok" for o in outcomes])
    assert all(o == BODY or isinstance(o, str) for o in outcomes)
    assert BODY in outcomes


def test_truncating_profile_cuts_the_response_after_16_kb() -> None:
    async def scenario() -> bytes:
        cloud = Cloud()
        async with cloud.serving() as upstream, ProxyPool() as pool:
            address = await pool.route(*upstream, PROFILES["truncating"])
            with pytest.raises(httpx.RemoteProtocolError):
                await get(address, size=50_000)
            reader, writer = await asyncio.open_connection(*address)
            writer.write(b"GET /snap?size=50000 HTTP/1.1\r\nHost: cam\r\n\r\n")
            received = await reader.read()
            writer.close()
            return received

    received = run(scenario())
    assert len(received) == 16_000
    assert received.startswith(b"HTTP/1.1 200 OK")


def test_flapping_profile_cuts_mid_stream_refuses_while_down_then_recovers() -> None:
    async def scenario() -> None:
        cloud = Cloud()
        async with cloud.serving() as upstream, ProxyPool() as pool:
            pool.started = time.monotonic() - 7.6  # 0.4 s before the link drops at 8 s
            address = await pool.route(*upstream, PROFILES["flapping"])
            with pytest.raises(httpx.TransportError):
                await get(address, size=300_000)  # ~1.7 s at 1.44 Mbit/s: cut at 8 s
            with pytest.raises(httpx.TransportError):
                await get(address)  # down until 10 s: reset at once
            await asyncio.sleep(max(0.0, pool.started + 10.05 - time.monotonic()))
            body, _ = await get(address)
            assert body == BODY

    run(scenario())


def test_outage_recovery_holds_every_probe_then_releases_them_in_one_storm() -> None:
    async def scenario() -> tuple[float, list[float], list[float]]:
        cloud = Cloud()
        async with cloud.serving() as upstream, ProxyPool() as pool:
            pool.started = time.monotonic() - 11.0  # recovery at 12 s, in 1 s
            recovery = pool.started + 12.0
            address = await pool.route(*upstream, PROFILES["outage-recovery"])

            async def probe(delay: float) -> float:
                await asyncio.sleep(delay)
                body, _ = await get(address)
                assert body == BODY
                return time.monotonic()

            done = await asyncio.gather(*(probe(0.1 * i) for i in range(8)))
        return recovery, cloud.arrivals, list(done)

    recovery, arrivals, done = run(scenario())
    assert len(arrivals) == 8
    assert min(arrivals) >= recovery - 0.01  # nothing reached the cloud while down
    assert max(arrivals) - min(arrivals) < 0.5  # one storm
    assert max(done) - recovery < 1.5
