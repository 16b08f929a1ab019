"""Shared by the stream path tests: a module-long loopback testbed, a full probe
(impairment proxy, adapter, reader, verdict) and hostile loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from aiohttp import web
from PIL import Image

from monitor.results import ProbeResult
from testbed import TestbedCloud, TestbedServer
from testbed.cloud import KillSwitchState
from tests import harness
from tests.harness import LONE, fleet_of, probe_config, probe_once

SECRET = "stream path tests: deployment secret"
TENANTS = ["lobby", "nursery", "garage"]
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
        return fleet_of(self.cloud)


def probe(
    kind: str,
    path: dict[str, Any],
    canary: str = "lobby",
    profile: str = "good",
    *,
    fleet: list[dict[str, str]] | None = None,
    deadline_s: float = 10.0,
) -> ProbeResult:
    """One whole probe of path ``live`` as the service runs it: proxy route, adapter,
    reader, verdict."""
    paths = [{"name": "live", "kind": kind, **path}]
    config = probe_config(SECRET, fleet or LONE, paths, deadline_s=deadline_s)
    return probe_once(config, SECRET, "live", profile, canary)


def serving(routes: web.RouteTableDef) -> contextlib.AbstractAsyncContextManager[str]:
    """A plain aiohttp server on loopback that stops within half a second."""
    return harness.serving(routes, shutdown_timeout=0.5)


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
