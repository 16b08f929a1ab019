"""Toxiproxy's connection faults and the outage schedule, through the real proxy."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from monitor.network import (
    TOXICS,
    LimitDataToxic,
    Outage,
    ResetPeerToxic,
    SlicerToxic,
    SlowCloseToxic,
    TcpProxy,
    TimeoutToxic,
    Toxic,
    toxic_from_dict,
    toxiproxy_json,
)
from tests.monitor.network import loopback
from tests.monitor.network.loopback import shut
from tests.monitor.network.loopback import tcp_server as loopback_server

T = TypeVar("T")
Address = tuple[str, int]


def run_bounded(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    return loopback.run_bounded(coro, timeout)


def sender(data: bytes, *, then_wait: float = 0.0) -> Any:
    """A server that writes ``data`` at once, waits ``then_wait`` s, then closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(data)
            await writer.drain()
            await asyncio.sleep(then_wait)
        except OSError:
            pass
        finally:
            await shut(writer)

    return handler


async def read_all(address: Address) -> tuple[list[tuple[float, int]], bytes, float]:
    """Connect and read to EOF: (time, size) of each read, the bytes, time of EOF."""
    reader, writer = await asyncio.open_connection(*address)
    started = time.perf_counter()
    reads: list[tuple[float, int]] = []
    data = b""
    try:
        while chunk := await reader.read(65536):
            reads.append((time.perf_counter() - started, len(chunk)))
            data += chunk
        return reads, data, time.perf_counter() - started
    finally:
        await shut(writer)


async def through(
    toxics: list[Toxic], handler: Any
) -> tuple[list[tuple[float, int]], bytes, float]:
    async with loopback_server(handler) as upstream, TcpProxy(*upstream, toxics) as proxy:
        return await read_all(proxy.address)


def test_slow_close_delays_the_close_but_not_the_data() -> None:
    toxic = SlowCloseToxic(delay=600)
    reads, data, eof_at = run_bounded(through([toxic], sender(b"hello")))
    assert data == b"hello"
    assert reads[0][0] < 0.4
    assert eof_at >= 0.55


def test_timeout_drops_the_data_and_closes_after_the_quiet_period() -> None:
    _, data, eof_at = run_bounded(
        through([TimeoutToxic(timeout=400)], sender(b"x" * 1000, then_wait=5))
    )
    assert data == b""
    assert 0.35 <= eof_at < 3.0  # closed by the toxic, long before the server's 5 s


def test_timeout_zero_holds_the_connection_open_and_silent() -> None:
    async def scenario() -> bytes:
        handler = sender(b"x" * 1000, then_wait=5)
        async with (
            loopback_server(handler) as upstream,
            TcpProxy(*upstream, [TimeoutToxic()]) as proxy,
        ):
            reader, writer = await asyncio.open_connection(*proxy.address)
            try:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(reader.read(1), 1.0)
                return b"still open"
            finally:
                await shut(writer)

    assert run_bounded(scenario()) == b"still open"


def test_reset_peer_resets_the_client_after_the_timeout() -> None:
    async def scenario() -> float:
        handler = sender(b"x" * 1000, then_wait=5)
        async with (
            loopback_server(handler) as upstream,
            TcpProxy(*upstream, [ResetPeerToxic(timeout=300)]) as proxy,
        ):
            reader, writer = await asyncio.open_connection(*proxy.address)
            started = time.perf_counter()
            try:
                with pytest.raises(ConnectionResetError):
                    await reader.read(65536)  # nothing passes before the reset
                return time.perf_counter() - started
            finally:
                writer.transport.abort()

    assert 0.25 <= run_bounded(scenario()) < 3.0


def test_slicer_delivers_small_pieces_with_pauses() -> None:
    random.seed(7)
    toxic = SlicerToxic(average_size=100, size_variation=40, delay=20_000)
    payload = bytes(range(256)) * 8  # 2048 bytes in one write
    reads, data, eof_at = run_bounded(through([toxic], sender(payload)))
    assert data == payload
    assert max(size for _, size in reads) <= 140
    assert len(reads) >= 2048 // 140
    assert eof_at >= 0.8 * len(reads) * 0.020


def test_slicer_cuts_cover_the_chunk_in_bounded_pieces() -> None:
    random.seed(3)
    cuts = SlicerToxic(average_size=500, size_variation=100).cuts(10_000)
    assert cuts[0] == 0
    assert cuts[-1] == 10_000
    pieces = [b - a for a, b in itertools.pairwise(cuts)]
    assert all(0 < p <= 600 for p in pieces)
    assert SlicerToxic(average_size=500).cuts(300) == [0, 300]


def test_limit_data_passes_exactly_n_bytes_then_closes() -> None:
    _, data, _ = run_bounded(
        through([LimitDataToxic(bytes=1000)], sender(b"y" * 50_000, then_wait=5))
    )
    assert data == b"y" * 1000


def test_limit_data_upstream_lets_the_server_see_exactly_n_bytes() -> None:
    received = asyncio.Queue[bytes]()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await received.put(await reader.read())
        await shut(writer)

    async def scenario() -> bytes:
        async with loopback_server(sink) as upstream:
            toxic = LimitDataToxic(stream="upstream", bytes=700)
            async with TcpProxy(*upstream, [toxic]) as proxy:
                _, writer = await asyncio.open_connection(*proxy.address)
                writer.write(b"z" * 10_000)
                await writer.drain()
                got = await asyncio.wait_for(received.get(), 5)
                await shut(writer)
                return got

    assert run_bounded(scenario()) == b"z" * 700


@pytest.mark.parametrize(("toxicity", "resets"), [(0.0, 0), (1.0, 12)])
def test_toxicity_zero_never_applies_and_one_always_does(toxicity: float, resets: int) -> None:
    async def scenario() -> int:
        toxic = ResetPeerToxic(timeout=0, toxicity=toxicity)
        async with (
            loopback_server(sender(b"ok")) as upstream,
            TcpProxy(*upstream, [toxic]) as proxy,
        ):
            count = 0
            for _ in range(12):
                try:
                    _, data, _ = await read_all(proxy.address)
                    assert data == b"ok"
                except ConnectionResetError:
                    count += 1
            return count

    assert run_bounded(scenario()) == resets


def test_cut_outage_resets_live_and_new_connections_until_the_link_returns() -> None:
    outage = Outage(down_s=0.6, up_s=30, mode="cut", offset_s=0.4)

    async def scenario() -> None:
        async with (
            loopback_server(sender(b"a", then_wait=5)) as upstream,
            TcpProxy(*upstream, outage=outage, started=time.monotonic()) as proxy,
        ):
            reader, writer = await asyncio.open_connection(*proxy.address)
            assert await reader.read(1) == b"a"  # up: passes
            with pytest.raises(ConnectionResetError):
                await reader.read(1)  # cut when the link drops at 0.4 s
            writer.transport.abort()
            await asyncio.sleep(0.1)
            with pytest.raises(ConnectionResetError):
                await read_all(proxy.address)  # down: reset at once, no data
            await asyncio.sleep(0.7)  # the link is back after 1.0 s
            reader, writer = await asyncio.open_connection(*proxy.address)
            assert await reader.read(1) == b"a"
            writer.transport.abort()

    run_bounded(scenario())


def test_a_connection_cut_in_the_iteration_it_was_accepted_is_reset_not_left_open() -> None:
    # The race a drill hit: the link drops in the same loop iteration as an accept, so
    # the connection's task is cancelled before its first step and never runs its own
    # cleanup. The proxy must still reset the client (and close the transport) rather
    # than leave both to the garbage collector.
    accepted: list[asyncio.StreamWriter] = []

    async def scenario() -> None:
        async with loopback_server(sender(b"a", then_wait=5)) as upstream:
            proxy = TcpProxy(*upstream, outage=Outage(down_s=1, up_s=30, mode="cut", offset_s=30))

            def accept_then_cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                proxy._accept(reader, writer)
                proxy._cut_live()
                accepted.append(writer)

            async with proxy, loopback_server(accept_then_cut) as front:
                reader, writer = await asyncio.open_connection(*front)
                try:
                    async with asyncio.timeout(5):
                        with pytest.raises(ConnectionResetError):
                            await reader.read(1)
                finally:
                    writer.transport.abort()
                assert proxy.active_connections == 0
        assert accepted[0].transport.is_closing()

    run_bounded(scenario())


def test_hold_outage_releases_every_waiting_connection_together_at_recovery() -> None:
    outage = Outage(down_s=1.0, up_s=30, mode="hold")
    accepted: list[float] = []

    async def stamp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(time.monotonic())
        await sender(b"ok")(reader, writer)

    async def scenario() -> list[float]:
        started = time.monotonic()
        async with (
            loopback_server(stamp) as upstream,
            TcpProxy(*upstream, outage=outage, started=started) as proxy,
        ):

            async def client(delay: float) -> float:
                await asyncio.sleep(delay)
                _, data, _ = await read_all(proxy.address)
                assert data == b"ok"
                return time.monotonic() - started

            done = await asyncio.gather(*(client(0.1 * i) for i in range(6)))
        assert all(t - started >= 0.95 for t in accepted)  # nobody dialled while down
        return done

    done = run_bounded(scenario())
    assert min(done) >= 0.95
    assert max(done) - min(done) < 0.5  # one burst


def test_outage_clock_phases() -> None:
    outage = Outage(down_s=12, up_s=18, mode="hold")
    assert [outage.is_down(t) for t in (0, 11.9, 12, 29.9, 30)] == [1, 1, 0, 0, 1]
    assert outage.next_change(5) == pytest.approx(7)
    assert outage.next_change(20) == pytest.approx(10)
    late = Outage(down_s=2, up_s=8, mode="cut", offset_s=8)
    assert [late.is_down(t) for t in (7.9, 8.5, 10.1)] == [0, 1, 0]
    with pytest.raises(ValueError, match="mode"):
        Outage(down_s=1, up_s=1, mode="off")  # type: ignore[arg-type]


def test_new_toxics_read_and_write_toxiproxy_json() -> None:
    cases = {
        "slow_close": {"delay": 100},
        "timeout": {"timeout": 0},
        "reset_peer": {"timeout": 500},
        "slicer": {"average_size": 64, "size_variation": 32, "delay": 10},
        "limit_data": {"bytes": 16000},
    }
    for kind, attributes in cases.items():
        d = {
            "name": f"t_{kind}",
            "type": kind,
            "stream": "upstream",
            "toxicity": 0.5,
            "attributes": attributes,
        }
        toxic = toxic_from_dict(d)
        assert type(toxic) is TOXICS[kind]
        assert toxic.to_dict() == d
        assert toxiproxy_json(toxic) == d
    assert toxiproxy_json(toxic_from_dict({"type": "bandwidth", "attributes": {"rate": 84.375}}))[
        "attributes"
    ] == {"rate": 84}


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}, "less than"),
        ({"type": "slicer", "attributes": {"average_size": 0}}, "at least 1"),
        ({"type": "limit_data", "attributes": {"bytes": -1}}, "whole number"),
        ({"type": "limit_data", "attributes": {"bytes": 1.5}}, "whole number"),
        ({"type": "reset_peer", "attributes": {"timeout": -5}}, "must not be negative"),
        ({"type": "slow_close", "attributes": {"latency": 5}}, r"unknown attributes \['latency'\]"),
    ],
)
def test_new_toxics_reject_bad_attributes(d: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        toxic_from_dict(d)
