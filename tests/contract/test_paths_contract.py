"""The integration-path contract (`monitor.paths.base.IntegrationPath.capture`), held
by every kind in ``PATH_KINDS`` against the loopback testbed and hostile loopback
servers, each probe run whole (route, adapter, reader, verdict) by the real Prober:

- its own canary's frame reads as ``own``;
- a refused connection, an oversize answer (the kind's bytes limit) and a stall cut
  at the deadline each end as an ``error`` result, never an exception;
- the deadline leaves no proxy connection open;
- every connection is dialled through the router: the path's own address is a trap
  that must never be dialled, and only the route leads to the real server.

Each kind is configured from its testbed manifest entry, through ``parse_config``
from plain dicts holding only keys of that kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from canaries import Codebook, Reader
from monitor.config import Config, parse_config
from monitor.network import BackendOptions, Profile, ProxyPool, RouteBackend
from monitor.paths import PATH_KINDS
from monitor.probe import Prober, ProbeSpec
from monitor.results import ProbeResult
from monitor.verdict import Verdict
from testbed.manifest import MANIFEST, path_config, server_facts
from tests.monitor.paths.stream_helpers import SECRET, TENANTS, Bed

Address = tuple[str, int]

# The options that put each kind's bytes limit below what its answer carries, and the
# server that answers over it ("testbed": the real cloud; "rtsp-head": an RTSP server
# whose reply head outgrows the redirect guard's 64 KiB).
OVERSIZE: dict[str, tuple[dict[str, Any], str]] = {
    "snapshot": ({"max_bytes": 2000}, "testbed"),
    "mjpeg": ({"max_bytes": 2000}, "testbed"),
    "hls": ({"max_playlist_bytes": 64}, "testbed"),
    "rtsp": ({}, "rtsp-head"),
    "browser": ({"max_bytes": 2000}, "testbed"),
    "google_home": ({"max_playlist_bytes": 64}, "testbed"),
    "alexa": ({"max_bytes": 2000}, "testbed"),
    "thumbnails": ({"max_bytes": 2000}, "testbed"),
}
# Chromium starts in a second or two: its stall must outlast the start to reach the proxy.
DEADLINE_S = {"browser": 8.0}
KINDS = sorted(PATH_KINDS)


def test_the_suite_covers_every_registered_path_kind() -> None:
    assert set(OVERSIZE) == set(PATH_KINDS)
    served = {entry.kind for entry in MANIFEST.values()}
    assert set(PATH_KINDS) <= served, "every kind needs a testbed manifest entry"


@pytest.fixture(scope="module")
def bed() -> Iterator[Bed]:
    with Bed().running() as running:
        yield running


@pytest.fixture
def extra(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keys only the browser kind has: the Chromium to launch."""
    if kind != "browser":
        return {}
    return {"chromium": request.getfixturevalue("chromium_executable")}


def manifest_path(bed: Bed, kind: str, **overrides: Any) -> dict[str, Any]:
    name = next(name for name, entry in MANIFEST.items() if entry.kind == kind)
    item = path_config(name, bed.server.url, facts=server_facts(bed.server), **overrides)
    return {**item, "name": "live"}


def config_of(bed: Bed, path: dict[str, Any], deadline_s: float) -> Config:
    return parse_config(
        {
            "deployment": {"secret": SECRET},
            "canaries": bed.fleet(),
            "paths": [path],
            "probe": {"deadline_s": deadline_s, "stale_after_s": 60},
        },
        environ={},
    )


def moved(url: str, address: Address) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{address[0]}:{address[1]}"))


def upstream_of(url: str) -> Address:
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


class Detour(RouteBackend):
    """The built-in pool, except that ``trap`` is routed to ``real``; records each ask."""

    def __init__(self, trap: Address, real: Address) -> None:
        self.pool = ProxyPool()
        self.trap, self.real = trap, real
        self.asked: list[Address] = []

    @classmethod
    def from_options(cls, options: BackendOptions) -> Detour:
        raise NotImplementedError("built by the test")

    async def route(self, upstream_host: str, upstream_port: int, profile: Profile) -> Address:
        self.asked.append((upstream_host, upstream_port))
        target = self.real if (upstream_host, upstream_port) == self.trap else None
        host, port = target or (upstream_host, upstream_port)
        return await self.pool.route(host, port, profile)

    async def close(self) -> None:
        await self.pool.close()


async def probe(config: Config, routes: RouteBackend) -> ProbeResult:
    [path] = config.paths
    adapter = PATH_KINDS[path.kind](path)
    reader = Reader(Codebook(SECRET.encode()), TENANTS)
    prober = Prober(
        reader,
        {path.name: adapter},
        routes,
        deadline_s=config.probe.deadline_s,
        stale_after_s=config.probe.stale_after_s,
    )
    try:
        return await prober.probe(ProbeSpec(config.canaries[0], path, "good"))
    finally:
        await adapter.close()


def failed(result: ProbeResult) -> str:
    """The result's reason, once it is the path's own failure: an adapter that raised
    instead of returning a CaptureFailure shows as the prober's "internal error"."""
    assert result.verdict == Verdict.ERROR, (result.verdict, result.detail)
    assert not result.prober_fault, result.detail
    assert result.detail
    return result.detail


@contextlib.asynccontextmanager
async def listener(answer: bytes | None) -> AsyncIterator[tuple[Address, list[bool]]]:
    """A loopback server: each client gets ``answer`` once it speaks (None: nothing,
    ever). Yields its address and, per client, whether it has hung up."""
    hung_up: list[bool] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(hung_up)
        hung_up.append(False)
        try:
            if answer is not None:
                await reader.read(4096)
                writer.write(answer)
                await writer.drain()
            while await reader.read(4096):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            hung_up[index] = True
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[:2], hung_up
    finally:
        server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kind", KINDS)
def test_own_frame_reads_as_own(bed: Bed, kind: str, extra: dict[str, Any]) -> None:
    config = config_of(bed, manifest_path(bed, kind, **extra), deadline_s=20)

    async def go() -> ProbeResult:
        async with ProxyPool() as pool:
            return await probe(config, pool)

    result = asyncio.run(go())

    assert result.verdict == Verdict.OWN, result.detail
    assert result.bytes_received > 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_connection_is_an_error_result(
    bed: Bed, kind: str, extra: dict[str, Any]
) -> None:
    path = manifest_path(bed, kind, **extra)
    path["url"] = moved(path["url"], ("127.0.0.1", closed_port()))
    config = config_of(bed, path, deadline_s=20)

    async def go() -> ProbeResult:
        async with ProxyPool() as pool:
            return await probe(config, pool)

    started = time.monotonic()
    failed(asyncio.run(go()))
    assert time.monotonic() - started < 15, "a refusal must not wait for the deadline"


RTSP_OVERSIZE_HEAD = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Padding: " + b"a" * 70_000


@pytest.mark.parametrize("kind", KINDS)
def test_an_oversize_answer_is_an_error_result_naming_the_limit(
    bed: Bed, kind: str, extra: dict[str, Any]
) -> None:
    options, server = OVERSIZE[kind]

    async def go() -> ProbeResult:
        path = manifest_path(bed, kind, **extra, **options)
        async with contextlib.AsyncExitStack() as stack:
            if server == "rtsp-head":
                address, _ = await stack.enter_async_context(listener(RTSP_OVERSIZE_HEAD))
                path["url"] = moved(path["url"], address)
            pool = await stack.enter_async_context(ProxyPool())
            return await probe(config_of(bed, path, deadline_s=20), pool)

    detail = failed(asyncio.run(go()))
    assert "bytes" in detail, detail


async def settled(pool: ProxyPool, timeout_s: float = 3.0) -> int:
    """The pool's open connections once they stop closing (or after ``timeout_s``)."""
    active = 0
    for _ in range(round(timeout_s / 0.05)):
        active = sum(p.active_connections for p in pool.proxies())
        if not active:
            break
        await asyncio.sleep(0.05)
    return active


@pytest.mark.parametrize("kind", KINDS)
def test_the_deadline_cancels_a_stalled_capture_and_leaves_no_proxy_connection(
    bed: Bed, kind: str, extra: dict[str, Any]
) -> None:
    deadline_s = DEADLINE_S.get(kind, 1.5)
    # Reads would wait 30 s: only the deadline can end the probe in time.
    path = manifest_path(bed, kind, read_timeout_s=30, **extra)

    async def go() -> tuple[ProbeResult, float, int, int, list[bool]]:
        async with listener(None) as (address, hung_up), ProxyPool() as pool:
            path["url"] = moved(path["url"], address)
            started = time.monotonic()
            result = await probe(config_of(bed, path, deadline_s), pool)
            took = time.monotonic() - started
            dialled = sum(p.connections for p in pool.proxies())
            active = await settled(pool)
            for _ in range(20):  # the upstream reads its EOF a loop turn later
                if all(hung_up):
                    break
                await asyncio.sleep(0.05)
            return result, took, dialled, active, list(hung_up)

    result, took, dialled, active, hung_up = asyncio.run(go())

    assert "deadline" in failed(result)
    assert deadline_s <= took < deadline_s + 5
    assert dialled >= 1, "the stall never reached the proxy: nothing was cancelled"
    assert active == 0, f"{active} proxy connections outlived the deadline"
    assert hung_up, "the stall never reached the upstream"
    assert all(hung_up), "the upstream connection was left open"


@pytest.mark.parametrize("kind", KINDS)
def test_no_byte_bypasses_the_router(bed: Bed, kind: str, extra: dict[str, Any]) -> None:
    path = manifest_path(bed, kind, **extra)
    real = upstream_of(path["url"])

    async def go() -> tuple[ProbeResult, list[bool], list[Address], Address]:
        async with listener(b"") as (trap, dialled):
            path["url"] = moved(path["url"], trap)
            async with Detour(trap, real) as routes:
                result = await probe(config_of(bed, path, deadline_s=20), routes)
            return result, dialled, routes.asked, trap

    result, dialled, asked, trap = asyncio.run(go())

    assert dialled == [], "the adapter dialled the path's address past the router"
    assert trap in asked
    assert result.verdict == Verdict.OWN, result.detail
