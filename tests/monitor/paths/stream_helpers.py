"""Shared by the stream path tests: a module-long loopback testbed, a full probe
(impairment proxy, adapter, reader, verdict) and hostile loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from aiohttp import web
from PIL import Image

from canaries import Codebook, Reader
from monitor.config import parse_config
from monitor.network import ProxyPool
from monitor.paths import PATH_KINDS
from monitor.probe import Prober, ProbeSpec
from monitor.results import ProbeResult
from testbed import TestbedCloud, TestbedServer
from testbed.cloud import KillSwitchState

SECRET = "stream path tests: deployment secret"
TENANTS = ["lobby", "nursery", "garage"]
LONE = [{"name": "lobby", "camera_id": "cam-lobby", "token": "lobby-token"}]
T = TypeVar("T")


class Bed:
    """The testbed (small 320x180 cameras) served from a background event loop, so one
    server lives for a whole test module while each test runs its own probes."""

    def __init__(self) -> None:
        self.cloud = TestbedCloud.create(
            SECRET.encode(), TENANTS, size=(320, 180), killswitch_secret=b"k" * 8,
            admin_token="admin",
        )  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = TestbedServer(self.cloud)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def run(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the testbed's loop (its state belongs to that thread)."""

        async def call() -> None:
            action()

        self.call(call())

    def set_bug(self, name: str, enabled: bool) -> None:
        self.run(lambda: self.cloud.set_bug(name, enabled))

    def set_killswitch(self, path: str, state: KillSwitchState) -> None:
        self.run(lambda: self.cloud.set_killswitch(path, state))

    @contextlib.contextmanager
    def running(self) -> Iterator[Bed]:
        self.thread.start()
        self.call(self.server.__aenter__())
        try:
            yield self
        finally:
            self.call(self.server.__aexit__(None, None, None))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def fleet(self) -> list[dict[str, str]]:
        return [
            {"name": t.canary, "camera_id": t.camera_id, "token": t.token}
            for t in self.cloud.tenants
        ]


def probe(
    kind: str,
    path: dict[str, Any],
    canary: str = "lobby",
    profile: str = "good",
    *,
    fleet: list[dict[str, str]] | None = None,
    deadline_s: float = 10.0,
) -> ProbeResult:
    """One whole probe as the service runs it: proxy route, adapter, reader, verdict."""
    config = parse_config(
        {
            "deployment": {"secret": SECRET},
            "canaries": fleet or LONE,
            "paths": [{"name": "live", "kind": kind, **path}],
            "probe": {"deadline_s": deadline_s, "stale_after_s": 60},
        },
        environ={},
    )

    async def run() -> ProbeResult:
        adapter = PATH_KINDS[kind](config.paths[0])
        reader = Reader(Codebook(SECRET.encode()), [c.name for c in config.canaries])
        [spec_canary] = [c for c in config.canaries if c.name == canary]
        async with ProxyPool() as pool:
            prober = Prober(
                reader, {"live": adapter}, pool, deadline_s=deadline_s, stale_after_s=60
            )
            try:
                return await prober.probe(ProbeSpec(spec_canary, config.paths[0], profile))
            finally:
                await adapter.close()

    return asyncio.run(run())


@contextlib.asynccontextmanager
async def serving(routes: web.RouteTableDef) -> AsyncIterator[str]:
    """A plain aiohttp server on loopback; yields its base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def probe_hostile(
    kind: str, routes: web.RouteTableDef, route: str, deadline_s: float = 10.0, **path: Any
) -> ProbeResult:
    """Probe ``route`` of a loopback server built from ``routes``, for the lone canary."""

    async def run() -> ProbeResult:
        async with serving(routes) as base:
            url = base + route
            return await asyncio.to_thread(probe, kind, {"url": url, **path}, deadline_s=deadline_s)

    return asyncio.run(run())


@contextlib.contextmanager
def silent_server(reply: bytes = b"") -> Iterator[tuple[int, list[float]]]:
    """A TCP server that sends ``reply`` and then nothing; records when each client hung up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # accept() wakes up to see the stop flag
    closed: list[float] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            with conn:
                conn.sendall(reply)
                with contextlib.suppress(OSError):
                    while conn.recv(4096):
                        pass
                closed.append(time.monotonic())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], closed
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def grey_jpeg(size: tuple[int, int] = (64, 36)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 120, 120)).save(out, format="JPEG")
    return out.getvalue()
