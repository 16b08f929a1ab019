"""Probes through the snapshot path, against the loopback testbed cloud and against
hostile loopback servers, each dialled through the built-in impairment proxy."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from canaries import Codebook, render
from monitor.config import Config
from monitor.paths.hints import NetworkQualityEstimator
from monitor.results import ProbeResult
from monitor.verdict import Verdict
from testbed import TestbedCloud, TestbedServer
from tests import harness
from tests.harness import LONE, Probing, app_and_hub, fleet_of, probe_config, probe_once
from tests.harness import serving as aiohttp_server

SECRET = "probe paths: deployment secret"
ADMIN = "probe-paths-admin"
TENANTS = ["lobby", "nursery", "garage"]


# -- harness ----------------------------------------------------------------------------


def make_config(
    canaries: list[dict[str, str]], paths: list[dict[str, Any]], deadline_s: float = 10.0
) -> Config:
    return probe_config(SECRET, canaries, paths, deadline_s=deadline_s)


def probing(config: Config) -> contextlib.AbstractAsyncContextManager[Probing]:
    return harness.probing(config, SECRET)


Scenario = Callable[[TestbedServer, Probing], Awaitable[None]]


def on_testbed(scenario: Scenario, *, on_leak: str = "alert") -> None:
    """Serve a three-tenant cloud with app and hub paths, and run ``scenario``."""
    cloud = TestbedCloud.create(
        SECRET.encode(), TENANTS, killswitch_secret=b"probe paths switch", admin_token=ADMIN
    )

    async def run() -> None:
        async with TestbedServer(cloud) as server:
            paths = app_and_hub(server.url, hub={"on_leak": on_leak})
            async with probing(make_config(fleet_of(cloud), paths)) as p:
                await scenario(server, p)

    asyncio.run(run())


async def admin(server: TestbedServer, method: str, route: str, **kwargs: Any) -> Any:
    return await harness.admin(server, ADMIN, method, route, **kwargs)


def assert_own(result: ProbeResult, canary: str) -> None:
    assert (result.verdict, result.source_canary, result.status) == (Verdict.OWN, canary, 200), (
        result
    )
    assert result.distance is not None
    assert result.age_s is not None
    assert 0 <= result.age_s < 10


# -- the testbed cloud -------------------------------------------------------------------


def test_app_path_reads_own_frame_on_good_and_3g_networks() -> None:
    async def scenario(server: TestbedServer, p: Probing) -> None:
        good = await p.probe("app", "good", "lobby")
        slow = await p.probe("app", "3g", "nursery")

        assert_own(good, "lobby")
        assert_own(slow, "nursery")
        assert good.bytes_received > 4096
        # 400 ms round trip plus ~20 KB at 50 KB/s: proof the 3g proxy was in the path.
        assert slow.duration_s >= 0.4
        assert good.duration_s < slow.duration_s

    on_testbed(scenario)


def test_hub_under_3g_sends_client_hints_after_warm_up_and_gets_the_low_tier() -> None:
    async def scenario(server: TestbedServer, p: Probing) -> None:
        warm_up = await p.probe("hub", "3g", "lobby")  # no estimate yet: no hints
        slow = await p.probe("hub", "3g", "lobby")
        state = await admin(server, "GET", "/admin/v1/state")

        assert_own(warm_up, "lobby")
        assert_own(slow, "lobby")
        # The warm-up got the high tier and the second probe a second, different cache
        # entry within the TTL: (cam-lobby, high) and (cam-lobby, low), no hit.
        assert state["hub_cache"] == {"hits": 0, "misses": 2, "entries": 2, "ttl": 3.0}
        # The low tier is 320x180 at JPEG quality 40: a fraction of the 640x360 still.
        assert slow.bytes_received < warm_up.bytes_received / 2

    on_testbed(scenario)


def test_xiaomi_2020_leaks_another_canary_on_hub_3g_only() -> None:
    async def scenario(server: TestbedServer, p: Probing) -> None:
        await p.probe("hub", "3g", "garage")  # warm the hub/3g network estimate
        deployed = await admin(
            server, "POST", "/admin/v1/bugs", json={"bug": "xiaomi-2020", "enabled": True}
        )
        assert deployed == {"bugs": ["xiaomi-2020"]}

        first = await p.probe("hub", "3g", "lobby")
        second = await p.probe("hub", "3g", "nursery")
        hub_good = await p.probe("hub", "good", "nursery")
        app_slow = await p.probe("app", "3g", "nursery")

        assert_own(first, "lobby")  # fills the tier-keyed cache entry
        assert second.verdict is Verdict.FOREIGN_CANARY
        assert second.verdict.is_leak
        assert second.source_canary == "lobby"
        assert second.status == 200
        assert second.detail.startswith("frame carries lobby's code; confirmed")
        assert_own(hub_good, "nursery")
        assert_own(app_slow, "nursery")

    on_testbed(scenario)


def test_hub_3g_stays_own_while_the_bug_is_not_deployed() -> None:
    async def scenario(server: TestbedServer, p: Probing) -> None:
        await p.probe("hub", "3g", "garage")
        results = [await p.probe("hub", "3g", name) for name in ("lobby", "nursery", "garage")]

        for result, name in zip(results, ("lobby", "nursery", "garage"), strict=True):
            assert_own(result, name)

    on_testbed(scenario)


def test_wrong_token_is_an_error_with_the_http_status() -> None:
    cloud = TestbedCloud.create(
        SECRET.encode(), TENANTS[:2], killswitch_secret=b"switch", admin_token=ADMIN
    )

    async def run() -> ProbeResult:
        async with TestbedServer(cloud) as server:
            fleet = fleet_of(cloud)
            fleet[0]["token"] = "not-the-lobby-token"
            url = server.url + "/app/v1/cameras/{camera_id}/snapshot"
            config = make_config(fleet, [{"name": "app", "kind": "snapshot", "url": url}])
            async with probing(config) as p:
                return await p.probe("app", "good", "lobby")

    result = asyncio.run(run())

    assert result.verdict is Verdict.ERROR
    assert result.status == 401
    assert result.detail == "HTTP 401"
    assert result.source_canary is None


# -- hostile and broken servers ----------------------------------------------------------


ONE_CANARY = LONE


def probe_url(url: str, *, deadline_s: float = 5.0, **path: Any) -> ProbeResult:
    config = make_config(
        ONE_CANARY, [{"name": "app", "kind": "snapshot", "url": url, **path}], deadline_s
    )
    return probe_once(config, SECRET, "app", "good", "lobby")


@dataclass
class RawServer:
    """A loopback TCP server whose connections are handled by plain callbacks."""

    on_connect: Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            self.on_connect(reader, writer)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for writer in self.writers:
                writer.transport.abort()
            await server.wait_closed()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_closed_port_is_a_fast_connection_error() -> None:
    began = time.monotonic()
    result = probe_url(f"http://127.0.0.1:{free_port()}/snapshot")

    assert result.verdict is Verdict.ERROR
    assert result.status is None
    assert result.bytes_received == 0
    # The impairment proxy accepts, fails to reach the upstream and closes the client:
    # a clean close before the request, or a reset when the request came first (seen
    # on a loaded CI machine).
    assert result.detail in (
        "RemoteProtocolError: Server disconnected without sending a response.",
        "ReadError",
    )
    assert time.monotonic() - began < 2.0


def test_a_target_failure_is_the_paths_not_the_probers() -> None:
    result = probe_url(f"http://127.0.0.1:{free_port()}/snapshot")
    assert (result.verdict, result.prober_fault) == (Verdict.ERROR, False)


def test_a_prober_that_cannot_route_marks_its_own_fault() -> None:
    config = make_config(
        ONE_CANARY,
        [{"name": "app", "kind": "snapshot", "url": f"http://127.0.0.1:{free_port()}/s"}],
        5.0,
    )

    async def run() -> ProbeResult:
        async with probing(config) as p:
            await p.prober._pool.close()  # the impairment proxy is gone: our fault
            return await p.probe("app", "good", "lobby")

    result = asyncio.run(run())
    assert (result.verdict, result.prober_fault) == (Verdict.ERROR, True)
    assert result.detail.startswith("proxy error: cannot start the good route: ")


def test_silent_server_is_cut_off_at_the_deadline() -> None:
    silent = RawServer(lambda reader, writer: None)  # accepts, never answers

    async def run() -> tuple[ProbeResult, float]:
        async with silent.serving() as port:
            config = make_config(
                ONE_CANARY,
                [{"name": "app", "kind": "snapshot", "url": f"http://127.0.0.1:{port}/x"}],
                deadline_s=1.0,
            )
            async with probing(config) as p:
                began = time.monotonic()
                result = await p.probe("app", "good", "lobby")
                return result, time.monotonic() - began

    result, elapsed = asyncio.run(run())

    assert silent.writers, "the probe never reached the silent server"
    assert result.verdict is Verdict.ERROR
    assert result.detail == "deadline of 1 s passed"
    assert 1.0 <= result.duration_s < 2.0
    assert elapsed < 2.0


def test_endless_body_is_cut_at_max_bytes() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n"
    served: list[int] = []

    async def flood(writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"\xff" * 65536)
                await writer.drain()
                served.append(65536)

    endless = RawServer(lambda reader, writer: None)
    endless.on_connect = lambda reader, writer: endless.tasks.append(
        asyncio.get_running_loop().create_task(flood(writer))
    )

    async def run() -> ProbeResult:
        async with endless.serving() as port:
            config = make_config(
                ONE_CANARY,
                [
                    {
                        "name": "app",
                        "kind": "snapshot",
                        "url": f"http://127.0.0.1:{port}/x",
                        "max_bytes": 100_000,
                    }
                ],
                deadline_s=5.0,
            )
            async with probing(config) as p:
                return await p.probe("app", "good", "lobby")

    result = asyncio.run(run())

    assert result.verdict is Verdict.ERROR
    assert result.detail == "body exceeds 100000 bytes"
    assert result.status == 200
    assert 100_000 < result.bytes_received <= 100_000 + 65536 * 2
    assert result.duration_s < 2.0


def probe_route(routes: web.RouteTableDef, route: str) -> ProbeResult:
    """Probe ``route`` of a loopback server of ``routes`` as path app, for the lone canary."""

    async def run() -> ProbeResult:
        async with aiohttp_server(routes) as url:
            config = make_config(
                ONE_CANARY, [{"name": "app", "kind": "snapshot", "url": url + route}]
            )
            async with probing(config) as p:
                return await p.probe("app", "good", "lobby")

    return asyncio.run(run())


def test_html_page_is_an_unexpected_content_type() -> None:
    routes = web.RouteTableDef()

    @routes.get("/login")
    async def login(request: web.Request) -> web.Response:
        return web.Response(text="<html>please sign in</html>", content_type="text/html")

    result = probe_route(routes, "/login")

    assert result.verdict is Verdict.ERROR
    assert result.detail == "unexpected content type 'text/html'"
    assert result.status == 200
    assert result.bytes_received == len(b"<html>please sign in</html>")


def test_body_that_is_not_an_image_is_a_decode_error() -> None:
    routes = web.RouteTableDef()

    @routes.get("/still")
    async def still(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * 5000, content_type="image/jpeg")

    result = probe_route(routes, "/still")

    assert result.verdict is Verdict.ERROR
    assert result.detail == "not an image (5000 bytes)"


# -- Client Hints on the wire --------------------------------------------------------------


def low_tier_jpeg() -> bytes:
    """A canary still the size of the hub's low tier (320x180, quality 40)."""
    out = io.BytesIO()
    render(Codebook(SECRET.encode()), "lobby", size=(320, 180)).save(out, "JPEG", quality=40)
    return out.getvalue()


def hints_seen(profile: str, probes: int, *, network_hints: bool = True) -> list[dict[str, str]]:
    """The Client Hints of each request the snapshot path made, in order."""
    seen: list[dict[str, str]] = []
    body = low_tier_jpeg()
    routes = web.RouteTableDef()

    @routes.get("/still")
    async def still(request: web.Request) -> web.Response:
        seen.append({k: v for k, v in request.headers.items() if k in ("ECT", "RTT", "Downlink")})
        return web.Response(body=body, content_type="image/jpeg")

    async def run() -> None:
        async with aiohttp_server(routes) as url:
            path = {
                "name": "hub",
                "kind": "snapshot",
                "url": url + "/still",
                "network_hints": network_hints,
            }
            config = make_config(ONE_CANARY, [path])
            async with probing(config) as p:
                for _ in range(probes):
                    result = await p.probe("hub", profile, "lobby")
                    assert result.verdict is Verdict.OWN, result

    asyncio.run(run())
    return seen


def test_snapshot_path_reports_3g_round_trip_as_client_hints() -> None:
    first, second = hints_seen("3g", 2)

    assert first == {}  # nothing measured yet
    assert second["ECT"] == "3g"
    rtt = int(second["RTT"])
    assert rtt >= 400  # the 3g profile's round trip
    assert rtt % 25 == 0


def test_snapshot_path_reports_4g_on_the_good_profile() -> None:
    _, second = hints_seen("good", 2)

    assert second["ECT"] == "4g"
    assert int(second["RTT"]) < 270


def test_snapshot_path_without_network_hints_sends_none() -> None:
    assert hints_seen("3g", 2, network_hints=False) == [{}, {}]


def test_downlink_hint_under_3g_stays_below_the_slow_threshold() -> None:
    hints = hints_seen("3g", 3)[1:]

    assert all(float(h["Downlink"]) < 0.7 for h in hints if "Downlink" in h), hints


# -- the estimator ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rtt_ms", "downlink_kbps", "ect"),
    [
        (2000, None, "slow-2g"),
        (1999, None, "2g"),
        (1400, None, "2g"),
        (1399, None, "3g"),
        (270, None, "3g"),
        (269, None, "4g"),
        (10, None, "4g"),
        (10, 50, "slow-2g"),
        (10, 51, "2g"),
        (10, 70, "2g"),
        (10, 71, "3g"),
        (10, 700, "3g"),
        (10, 701, "4g"),
        (2000, 10_000, "slow-2g"),
    ],
)
def test_effective_type_follows_the_netinfo_table(
    rtt_ms: float, downlink_kbps: float | None, ect: str
) -> None:
    estimator = NetworkQualityEstimator(rtt_ms=rtt_ms, downlink_kbps=downlink_kbps)

    assert estimator.effective_type == ect


def test_estimator_without_observations_sends_no_hints() -> None:
    estimator = NetworkQualityEstimator()

    assert estimator.effective_type is None
    assert estimator.headers() == {}


def test_headers_round_rtt_and_downlink_to_25() -> None:
    estimator = NetworkQualityEstimator(rtt_ms=112.4, downlink_kbps=1_237.0)

    assert estimator.headers() == {"ECT": "4g", "RTT": "100", "Downlink": "1.225"}
    estimator.rtt_ms = 513.0
    estimator.downlink_kbps = 388.0
    assert estimator.headers() == {"ECT": "3g", "RTT": "525", "Downlink": "0.4"}


def test_observe_keeps_a_moving_average_and_ignores_small_bodies_for_throughput() -> None:
    estimator = NetworkQualityEstimator()

    estimator.observe(ttfb_s=0.4, body_bytes=1000, body_s=0.1)
    assert estimator.rtt_ms == pytest.approx(400)
    assert estimator.downlink_kbps is None  # under 4 KB says nothing of throughput
    assert estimator.headers() == {"ECT": "3g", "RTT": "400"}

    estimator.observe(ttfb_s=0.2, body_bytes=50_000, body_s=1.0)
    assert estimator.rtt_ms == pytest.approx(300)
    assert estimator.downlink_kbps == pytest.approx(400)

    estimator.observe(ttfb_s=0.1, body_bytes=100_000, body_s=1.0)
    assert estimator.rtt_ms == pytest.approx(200)
    assert estimator.downlink_kbps == pytest.approx(600)
    assert estimator.headers() == {"ECT": "3g", "RTT": "200", "Downlink": "0.6"}


def test_small_bodies_do_not_feed_the_downlink_estimate() -> None:
    estimator = NetworkQualityEstimator()
    estimator.observe(ttfb_s=0.4, body_bytes=5_000, body_s=0.002)
    assert estimator.downlink_kbps is None
    assert "Downlink" not in estimator.headers()
    estimator.observe(ttfb_s=0.4, body_bytes=50_000, body_s=1.0)
    assert estimator.downlink_kbps == pytest.approx(400)
    assert estimator.headers()["Downlink"] == "0.4"
