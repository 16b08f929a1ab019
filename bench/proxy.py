"""What the built-in proxy costs at ``good`` (no toxics), against a direct connection.

    .venv/bin/python bench/proxy.py [--requests N] [--connects N] [--megabytes N] [--passes N]

Same run, same loopback servers, same event loop, each measured direct and through
``ProxyPool.route(..., PROFILES["good"])``:

- small request: N sequential 64-byte echo round trips on one open connection;
- new connection: N times connect, one 64-byte round trip, close (what a
  snapshot probe does: the proxy dials upstream and builds its pipeline each time);
- bulk: one download of M megabytes, read as fast as the client can.

Client, proxy and server share one process and one core's worth of event loop, so
the bulk figure is the proxy's CPU cost per byte, not a network limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import statistics
import time
from collections.abc import Awaitable, Callable

from monitor.network import PROFILES, ProxyPool

Address = tuple[str, int]
MESSAGE = b"m" * 64


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


def bulk(size: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    block = b"b" * (256 * 1024)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            sent = 0
            while sent < size:
                writer.write(block)
                sent += len(block)
                await writer.drain()
        writer.close()

    return handler


async def round_trips(address: Address, n: int) -> list[float]:
    reader, writer = await asyncio.open_connection(*address)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        writer.write(MESSAGE)
        await writer.drain()
        await reader.readexactly(len(MESSAGE))
        samples.append(time.perf_counter() - started)
    writer.close()
    return samples


async def connects(address: Address, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(*address)
        writer.write(MESSAGE)
        await writer.drain()
        await reader.readexactly(len(MESSAGE))
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        samples.append(time.perf_counter() - started)
    return samples


async def download(address: Address) -> tuple[int, float]:
    reader, writer = await asyncio.open_connection(*address)
    started = time.perf_counter()
    total = 0
    while data := await reader.read(256 * 1024):
        total += len(data)
    elapsed = time.perf_counter() - started
    writer.close()
    return total, elapsed


async def measure(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    size = args.megabytes * 1_000_000
    echo_server = await asyncio.start_server(echo, "127.0.0.1", 0)
    bulk_server = await asyncio.start_server(bulk(size), "127.0.0.1", 0)
    echo_at: Address = echo_server.sockets[0].getsockname()[:2]
    bulk_at: Address = bulk_server.sockets[0].getsockname()[:2]
    rows = []
    async with ProxyPool() as pool:
        routes = {
            "direct": (echo_at, bulk_at),
            "proxy": (
                await pool.route(*echo_at, PROFILES["good"]),
                await pool.route(*bulk_at, PROFILES["good"]),
            ),
        }
        passes: dict[str, list[dict[str, float]]] = {name: [] for name in routes}
        # A warm-up pass, then --passes measured ones, alternating direct and proxy so
        # a noisy neighbour hurts both; each figure is the median over the passes.
        for index in range(args.passes + 1):
            for name, (echo_route, bulk_route) in routes.items():
                small = await round_trips(echo_route, args.requests)
                fresh = await connects(echo_route, args.connects)
                total, elapsed = await download(bulk_route)
                assert total >= size, f"{name}: short download ({total} bytes)"
                if index:
                    passes[name].append(
                        {
                            "small": statistics.median(small) * 1e6,
                            "small95": statistics.quantiles(small, n=20)[18] * 1e6,
                            "fresh": statistics.median(fresh) * 1e6,
                            "bulk": total / elapsed / 1e6,
                        }
                    )
        results = {
            name: {key: statistics.median(p[key] for p in runs) for key in runs[0]}
            for name, runs in passes.items()
        }
    for server in (echo_server, bulk_server):
        server.close()
        await server.wait_closed()
    direct, proxy = results["direct"], results["proxy"]
    for key, label, unit in (
        ("small", "small request, median", "µs"),
        ("small95", "small request, p95", "µs"),
        ("fresh", "new connection + request, median", "µs"),
        ("bulk", f"bulk download ({args.megabytes} MB)", "MB/s"),
    ):
        rows.append((label, unit, direct[key], proxy[key]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"proxy overhead at 'good' ({python}, median of {args.passes} passes)")
    print("| measure | unit | direct | proxy (good) | proxy / direct |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, unit, direct, proxy in rows:
        print(f"| {label} | {unit} | {direct:,.0f} | {proxy:,.0f} | {proxy / direct:.2f}x |")


if __name__ == "__main__":
    main()
