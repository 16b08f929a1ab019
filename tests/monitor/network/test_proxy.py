"""The built-in impairment proxy, against real loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pytest

from monitor.network import (
    PROFILES,
    TOXICS,
    BandwidthToxic,
    LatencyToxic,
    Profile,
    ProxyPool,
    TcpProxy,
    Toxic,
    ToxicStub,
    UnknownProfileError,
    get_profile,
    toxic_from_dict,
)
from tests.monitor.network.loopback import run_bounded
from tests.monitor.network.loopback import shut as close_writer
from tests.monitor.network.loopback import tcp_server as serving

log = logging.getLogger(__name__)  # measured numbers, shown with --log-cli-level=INFO
T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Address = tuple[str, int]


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    return run_bounded(coro, timeout)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until EOF, then say ``bye`` and half-close."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write(b"bye")
        writer.write_eof()
        await writer.drain()
    except OSError:
        pass
    finally:
        await close_writer(writer)


def download(size: int) -> Handler:
    """A server that answers any request line with ``size`` bytes, then closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            writer.write(b"x" * size)
            await writer.drain()
        except OSError:
            pass
        finally:
            await close_writer(writer)

    return handler


async def http_ish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One request, one 25 kB response (a small JPEG snapshot's worth), then close."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        body = b"j" * 25_000
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        await close_writer(writer)


async def round_trip(address: Address, payload: bytes) -> tuple[bytes, float]:
    """Send ``payload``, half-close, read to EOF; the reply and the seconds it took."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        started = time.perf_counter()

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        _, reply = await asyncio.gather(send(), reader.read())
        return reply, time.perf_counter() - started
    finally:
        await close_writer(writer)


async def ping(address: Address, message: bytes = b"ping") -> float:
    """Seconds from sending ``message`` to reading its echo, connection kept open."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        started = time.perf_counter()
        writer.write(message)
        await writer.drain()
        await reader.readexactly(len(message))
        return time.perf_counter() - started
    finally:
        await close_writer(writer)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_bytes_pass_through_unchanged_both_ways() -> None:
    payload = random.Random(7).randbytes(1_000_000)

    async def scenario() -> tuple[bytes, TcpProxy]:
        async with serving(echo) as upstream, TcpProxy(*upstream, ()) as proxy:
            reply, _ = await round_trip(proxy.address, payload)
        return reply, proxy

    reply, proxy = run(scenario())
    assert reply == payload + b"bye"
    assert (proxy.connections, proxy.bytes_up, proxy.bytes_down) == (1, 1_000_000, 1_000_003)


def test_jittered_latency_keeps_byte_order() -> None:
    payload = random.Random(8).randbytes(1_000_000)
    toxics = [LatencyToxic(stream=s, latency=20, jitter=15) for s in ("upstream", "downstream")]

    async def scenario() -> bytes:
        async with serving(echo) as upstream, TcpProxy(*upstream, toxics) as proxy:
            reply, _ = await round_trip(proxy.address, payload)
        return reply

    assert run(scenario()) == payload + b"bye"


def test_latency_adds_the_round_trip_to_a_request() -> None:
    toxics = [LatencyToxic(stream=s, latency=150) for s in ("upstream", "downstream")]

    async def scenario() -> tuple[float, float]:
        async with serving(echo) as upstream, TcpProxy(*upstream, toxics) as proxy:
            direct = await ping(upstream)
            impaired = await ping(proxy.address)
        return direct, impaired

    direct, impaired = run(scenario())
    log.info("latency_rtt_s = %s", round(impaired, 3))
    assert direct < 0.05
    assert 0.3 <= impaired < 0.5


def test_latency_delays_chunks_without_serializing_them() -> None:
    """20 chunks sent 20 ms apart through 200 ms of latency arrive in ~0.6 s, not 4 s."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            for _ in range(20):
                writer.write(b"c" * 10_000)
                await writer.drain()
                await asyncio.sleep(0.02)
        finally:
            await close_writer(writer)

    async def scenario() -> tuple[bytes, float]:
        toxics = [LatencyToxic(stream="downstream", latency=200)]
        async with serving(trickle) as upstream, TcpProxy(*upstream, toxics) as proxy:
            return await round_trip(proxy.address, b"go\n")

    reply, elapsed = run(scenario())
    log.info("latency_trickle_s = %s", round(elapsed, 3))
    assert reply == b"c" * 200_000
    assert 0.58 <= elapsed < 1.2  # last chunk leaves at >= 0.38 s, then 0.2 s of latency


def test_half_close_is_forwarded_after_delayed_data() -> None:
    async def scenario() -> bytes:
        toxics = [LatencyToxic(stream="upstream", latency=100)]
        async with serving(echo) as upstream, TcpProxy(*upstream, toxics) as proxy:
            reply, _ = await round_trip(proxy.address, b"hello")
        return reply

    # EOF overtaking the delayed bytes would make the server say bye without the echo.
    assert run(scenario()) == b"hellobye"


def test_bandwidth_paces_a_100_kb_download_to_about_2_seconds() -> None:
    async def scenario() -> tuple[bytes, float]:
        toxics = [BandwidthToxic(stream="downstream", rate=50)]
        async with serving(download(100_000)) as upstream, TcpProxy(*upstream, toxics) as proxy:
            return await round_trip(proxy.address, b"GET\n")

    reply, elapsed = run(scenario())
    log.info("bandwidth_100kB_s = %s", round(elapsed, 3))
    assert len(reply) == 100_000
    assert 1.6 <= elapsed <= 3.5


def test_bandwidth_backpressure_stalls_the_sending_server() -> None:
    """While the toxic holds data back the proxy stops reading, so the server blocks."""
    total = 32_000_000
    sent = 0

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        block = b"f" * 65536
        try:
            await reader.readline()
            while sent < total:
                writer.write(block)
                await writer.drain()
                sent += len(block)
        except OSError:
            pass
        finally:
            await close_writer(writer)

    async def scenario() -> int:
        toxics = [BandwidthToxic(stream="downstream", rate=50)]
        async with serving(firehose) as upstream, TcpProxy(*upstream, toxics) as proxy:
            _, writer = await asyncio.open_connection(*proxy.address)
            writer.write(b"GET\n")
            await asyncio.sleep(1.0)
            stalled_at = sent
            writer.transport.abort()
        return stalled_at

    stalled_at = run(scenario())
    log.info("backpressure_server_sent_bytes_after_1s = %s", stalled_at)
    # Unthrottled, loopback moves the 32 MB in a fraction of a second; the proxy's own
    # buffers are ~0.2 MB and the kernel's a few MB at most.
    assert 0 < stalled_at < 8_000_000


def test_3g_profile_slows_an_http_exchange_by_latency_and_bandwidth() -> None:
    request = b"GET /snapshot.jpg HTTP/1.1\r\nHost: cam\r\n\r\n"

    async def scenario() -> tuple[bytes, float, float]:
        profile = get_profile("3g")
        async with serving(http_ish) as upstream, TcpProxy(*upstream, profile.toxics) as proxy:
            reader, writer = await asyncio.open_connection(*proxy.address)
            try:
                started = time.perf_counter()
                writer.write(request)
                first = await reader.readexactly(1)
                first_byte = time.perf_counter() - started
                rest = await reader.read()
                return first + rest, first_byte, time.perf_counter() - started
            finally:
                await close_writer(writer)

    reply, first_byte, total = run(scenario())
    log.info("3g_first_byte_s = %s", round(first_byte, 3))
    log.info("3g_total_s = %s", round(total, 3))
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"j" * 25_000)
    # 400 ms round trip plus the first 100 ms slice of downstream bandwidth...
    assert 0.5 <= first_byte < 0.9
    # ...then the remaining ~20 kB at 50 KB/s.
    assert 0.35 <= total - first_byte < 0.8


def test_toxics_with_zero_toxicity_have_no_effect() -> None:
    toxics = [
        LatencyToxic(stream="upstream", latency=1000, toxicity=0),
        BandwidthToxic(stream="downstream", rate=1, toxicity=0),
    ]

    async def scenario() -> tuple[float, bytes, float]:
        async with serving(echo) as upstream, TcpProxy(*upstream, toxics) as proxy:
            rtt = await ping(proxy.address)
            reply, elapsed = await round_trip(proxy.address, b"z" * 100_000)
        return rtt, reply, elapsed

    rtt, reply, elapsed = run(scenario())
    assert rtt < 0.2
    assert reply == b"z" * 100_000 + b"bye"
    assert elapsed < 0.5  # at 1 KB/s this would take 100 s


def test_refused_upstream_closes_the_client_and_the_listener_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()

    async def scenario() -> tuple[bytes, bytes]:
        async with TcpProxy("127.0.0.1", port, ()) as proxy:
            refused, _ = await round_trip(proxy.address, b"")
            async with serving(echo, port):
                served, _ = await round_trip(proxy.address, b"again")
        return refused, served

    with caplog.at_level(logging.DEBUG, logger="monitor.network.proxy"):
        refused, served = run(scenario())
    assert refused == b""
    assert served == b"againbye"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage()
    assert warnings[0].exc_info is None


def test_a_client_reset_costs_only_its_own_connection() -> None:
    async def scenario() -> bytes:
        async with serving(echo) as upstream, TcpProxy(*upstream, ()) as proxy:
            _, writer = await asyncio.open_connection(*proxy.address)
            writer.write(b"x" * 10_000)
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # linger 0: the proxy reads a RST
            await asyncio.sleep(0.1)
            assert proxy.active_connections == 0
            reply, _ = await round_trip(proxy.address, b"next")
        return reply

    assert run(scenario()) == b"nextbye"


@dataclass(frozen=True, kw_only=True)
class BuggyToxic(Toxic):
    """Crashes on ``boom``, passes anything else: a bug in some future toxic."""

    type: ClassVar[str] = "buggy"

    def _validate(self) -> None:
        pass

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            if chunk.data.startswith(b"boom"):
                raise RuntimeError("toxic bug")
            await stub.write(chunk.data)


def test_a_crashing_toxic_costs_only_its_own_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        toxics = [BuggyToxic(stream="upstream")]
        async with serving(echo) as upstream, TcpProxy(*upstream, toxics) as proxy:
            crashed = b"reset"
            with contextlib.suppress(ConnectionResetError):
                crashed, _ = await round_trip(proxy.address, b"boom")
            served, _ = await round_trip(proxy.address, b"fine")
        return crashed, served

    crashed, served = run(scenario())
    assert crashed in (b"", b"reset")
    assert served == b"finebye"
    assert [r.exc_info is not None for r in caplog.records if "crashed" in r.getMessage()] == [True]


def test_close_ends_live_connections_promptly() -> None:
    async def scenario() -> tuple[float, list[bytes]]:
        toxics = [BandwidthToxic(stream="downstream", rate=1)]
        async with serving(download(1_000_000)) as upstream:
            proxy = TcpProxy(*upstream, toxics)
            await proxy.start()
            clients = [await asyncio.open_connection(*proxy.address) for _ in range(2)]
            clients[1][1].write(b"GET\n")  # this one is mid-download, throttled
            await asyncio.sleep(0.3)
            assert proxy.active_connections == 2
            started = time.perf_counter()
            await proxy.close()
            took = time.perf_counter() - started
            tails = []
            for reader, writer in clients:
                with contextlib.suppress(ConnectionResetError):
                    tails.append(await reader.read())
                await close_writer(writer)
            assert proxy.active_connections == 0
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(*proxy.address)
        return took, tails

    took, tails = run(scenario())
    assert took < 0.5
    assert all(len(tail) < 2_000 for tail in tails)  # nobody got the megabyte


def test_pool_reuses_a_listener_per_upstream_and_profile() -> None:
    async def scenario() -> None:
        good, slow = get_profile("good"), get_profile("3g")
        async with serving(echo) as a, serving(echo) as b, ProxyPool() as pool:
            concurrent = await asyncio.gather(*(pool.route(*a, good) for _ in range(10)))
            assert len(set(concurrent)) == 1
            assert await pool.route(*a, good) == concurrent[0]
            routes = {concurrent[0], await pool.route(*a, slow), await pool.route(*b, good)}
            assert len(routes) == 3
            assert await ping(await pool.route(*a, good)) < 0.2
            assert await ping(await pool.route(*a, slow)) >= 0.4
            with pytest.raises(ValueError, match="two different network profiles"):
                await pool.route(*a, Profile("good", "not the real one", slow.toxics))
        with pytest.raises(RuntimeError, match="closed"):
            await pool.route(*a, good)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*concurrent[0])

    run(scenario())


def test_pool_answers_a_known_route_at_once_while_another_route_starts() -> None:
    # Under load every probe asks for its route. A known route must not queue behind a
    # proxy that is starting: the lock hands over once per loop iteration, and with
    # probes arriving all the time its queue never drained (750 probes in flight got
    # 135 starts a second, most of them waiting here rather than on the network).
    async def scenario() -> None:
        good, slow = get_profile("good"), get_profile("3g")
        async with serving(echo) as a, ProxyPool() as pool:
            known = await pool.route(*a, good)
            starting = asyncio.create_task(pool.route(*a, slow))
            await asyncio.sleep(0)  # it holds the lock while its listener starts
            asking = [asyncio.create_task(pool.route(*a, good)) for _ in range(200)]
            await asyncio.sleep(0)  # one step each
            assert all(task.done() for task in asking)
            assert {task.result() for task in asking} == {known}
            assert await starting != known

    run(scenario())


def test_profiles_have_their_exact_numbers() -> None:
    assert PROFILES["good"].toxics == ()
    by_name = {t.name: t.to_dict() for t in PROFILES["3g"].toxics}
    assert by_name == {
        f"{kind}_{stream}": {
            "name": f"{kind}_{stream}",
            "type": kind,
            "stream": stream,
            "toxicity": 1.0,
            "attributes": {"rate": 50} if kind == "bandwidth" else {"latency": 200, "jitter": 0},
        }
        for kind in ("bandwidth", "latency")
        for stream in ("upstream", "downstream")
    }


def test_unknown_profile_lists_the_valid_names() -> None:
    with pytest.raises(UnknownProfileError, match=r"'4g'.*\['3g', 'fast-4g', 'flapping', 'good'"):
        get_profile("4g")
    assert issubclass(UnknownProfileError, ValueError)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LatencyToxic(latency=-1), "latency must not be negative"),
        (lambda: LatencyToxic(latency=100, jitter=-5), "jitter must not be negative"),
        (lambda: BandwidthToxic(rate=-50), "rate must not be negative"),
        (lambda: BandwidthToxic(rate=float("nan")), "rate must be finite"),
        (lambda: LatencyToxic(latency="200"), "latency must be a number"),  # type: ignore[arg-type]
        (lambda: LatencyToxic(latency=1, toxicity=1.5), "toxicity must be between 0 and 1"),
        (lambda: BandwidthToxic(rate=1, stream="sideways"), "stream must be one of"),  # type: ignore[arg-type]
    ],
)
def test_toxic_validation_rejects_bad_attributes(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_toxic_from_dict_reads_toxiproxy_json_and_rejects_unknowns() -> None:
    toxic = toxic_from_dict(
        {"type": "latency", "stream": "upstream", "attributes": {"latency": 200, "jitter": 10}}
    )
    assert toxic == LatencyToxic(stream="upstream", latency=200, jitter=10)
    assert toxic.name == "latency_upstream"
    assert toxic_from_dict(toxic.to_dict()) == toxic
    assert toxic_from_dict({"type": "bandwidth", "attributes": {"rate": 50}}).stream == "downstream"
    with pytest.raises(ValueError, match=r"unknown toxic type 'netem'.*\['bandwidth', 'latency',"):
        toxic_from_dict({"type": "netem"})
    with pytest.raises(ValueError, match=r"unknown attributes \['delay'\].*\['rate'\]"):
        toxic_from_dict({"type": "bandwidth", "attributes": {"delay": 5}})
    with pytest.raises(ValueError, match=r"unknown keys \['rate'\]"):
        toxic_from_dict({"type": "bandwidth", "rate": 5})
    assert set(TOXICS) == {
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
    }
