"""The Toxiproxy backend over real HTTP, against Toxiproxy's API served by camcanary.

No real Toxiproxy binary runs here: ``toxiproxy_api`` serves the same routes and JSON
shapes over the built-in proxy, so both the API calls and the traffic are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest
from aiohttp import web

from monitor.network import (
    BACKENDS,
    PROFILES,
    Outage,
    Profile,
    ProxyPool,
    RouteBackend,
    ToxiproxyBackend,
    open_backend,
    toxiproxy_json,
)
from testbed.toxiproxy_api import toxiproxy_app
from tests.monitor.network.loopback import echo, run_bounded, tcp_server

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    return run_bounded(coro, timeout)


@asynccontextmanager
async def toxiproxy_server() -> AsyncIterator[str]:
    runner = web.AppRunner(toxiproxy_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def echo_server() -> contextlib.AbstractAsyncContextManager[tuple[str, int]]:
    return tcp_server(echo)


async def median_rtt(address: tuple[str, int], n: int = 5) -> float:
    reader, writer = await asyncio.open_connection(*address)
    samples = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            writer.write(b"ping")
            await writer.drain()
            await reader.readexactly(4)
            samples.append(time.perf_counter() - started)
    finally:
        writer.close()
    return statistics.median(samples)


@asynccontextmanager
async def backend(kind: str) -> AsyncIterator[RouteBackend]:
    if kind == "builtin":
        async with ProxyPool() as pool:
            yield pool
        return
    async with toxiproxy_server() as url, ToxiproxyBackend(url) as toxiproxy:
        yield toxiproxy


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_every_backend_gives_the_3g_round_trip_and_reuses_its_route(kind: str) -> None:
    async def scenario() -> float:
        async with echo_server() as upstream, backend(kind) as routes:
            address = await routes.route(*upstream, PROFILES["3g"])
            assert await routes.route(*upstream, PROFILES["3g"]) == address
            assert await routes.route(*upstream, PROFILES["good"]) != address
            return await median_rtt(address)

    assert 0.36 <= run(scenario()) < 0.6  # 400 ms round trip, within 10 % below


def test_toxiproxy_backend_creates_proxies_with_toxiproxy_json_and_deletes_them() -> None:
    async def scenario() -> None:
        async with toxiproxy_server() as url, echo_server() as upstream:
            api = httpx.AsyncClient(base_url=url)
            routes = ToxiproxyBackend(url)
            assert (await routes.version()).startswith("2.")
            _, port = await routes.route(*upstream, PROFILES["slow-4g"])
            proxies = (await api.get("/proxies")).json()
            (name,) = proxies
            assert name == f"camcanary_slow-4g_127.0.0.1_{upstream[1]}"
            assert proxies[name]["listen"] == f"127.0.0.1:{port}"
            assert proxies[name]["upstream"] == f"{upstream[0]}:{upstream[1]}"
            assert proxies[name]["enabled"] is True
            expected = [toxiproxy_json(t) for t in PROFILES["slow-4g"].toxics]
            assert proxies[name]["toxics"] == expected
            assert {"rate": 84} in [t["attributes"] for t in expected]  # 84.375 -> int
            await routes.close()
            assert (await api.get("/proxies")).json() == {}
            with pytest.raises(RuntimeError, match="closed"):
                await routes.route(*upstream, PROFILES["good"])
            await api.aclose()

    run(scenario())


def test_toxiproxy_api_answers_errors_in_toxiproxy_shape() -> None:
    async def scenario() -> None:
        async with toxiproxy_server() as url, httpx.AsyncClient(base_url=url) as api:
            missing = await api.get("/proxies/nope")
            assert (missing.status_code, missing.json()) == (
                404,
                {"error": "proxy not found", "status": 404},
            )
            body = {"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}
            assert (await api.post("/proxies", json=body)).status_code == 201
            assert (await api.post("/proxies", json=body)).status_code == 409
            bad = await api.post("/proxies/p/toxics", json={"type": "netem"})
            assert bad.status_code == 400
            assert "unknown toxic type" in bad.json()["error"]
            toxic = {"type": "latency", "stream": "upstream", "attributes": {"latency": 5}}
            created = (await api.post("/proxies/p/toxics", json=toxic)).json()
            assert created["name"] == "latency_upstream"
            assert created["attributes"] == {"latency": 5, "jitter": 0}
            update = {"attributes": {"jitter": 2}}
            updated = await api.post("/proxies/p/toxics/latency_upstream", json=update)
            assert updated.json()["attributes"] == {"latency": 5, "jitter": 2}
            assert (await api.post("/proxies/p", json={"enabled": False})).json()[
                "enabled"
            ] is False
            assert (await api.post("/reset")).status_code == 204
            after = (await api.get("/proxies/p")).json()
            assert (after["enabled"], after["toxics"]) == (True, [])
            assert (await api.delete("/proxies/p")).status_code == 204

    run(scenario())


def test_toxiproxy_cut_outage_disables_the_proxy_and_brings_it_back() -> None:
    flapping = Profile("flap-test", "test", outage=Outage(down_s=0.8, up_s=30, mode="cut"))

    async def scenario() -> None:
        async with (
            toxiproxy_server() as url,
            echo_server() as upstream,
            ToxiproxyBackend(url) as routes,
        ):
            address = await routes.route(*upstream, flapping)
            await asyncio.sleep(0.2)
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(*address)  # disabled: refused
            await asyncio.sleep(0.9)
            assert await median_rtt(address, 1) < 0.2

    run(scenario())


def test_unreachable_toxiproxy_is_an_os_error_naming_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        routes = open_backend("toxiproxy", toxiproxy_url=f"http://127.0.0.1:{port}")
        with pytest.raises(OSError, match=f"Toxiproxy API at http://127.0.0.1:{port}"):
            await routes.route("127.0.0.1", 80, PROFILES["3g"])
        await routes.close()

    run(scenario())
    with pytest.raises(ValueError, match=r"valid backends: \['builtin', 'toxiproxy'\]"):
        open_backend("netem")


def test_toxiproxy_hold_outage_holds_requests_with_a_latency_toxic_until_recovery() -> None:
    held = Profile("hold-test", "test", outage=Outage(down_s=1.0, up_s=30, mode="hold"))

    async def scenario() -> tuple[float, list[str]]:
        async with (
            toxiproxy_server() as url,
            echo_server() as upstream,
            ToxiproxyBackend(url) as routes,
            httpx.AsyncClient(base_url=url) as api,
        ):
            address = await routes.route(*upstream, held)
            await asyncio.sleep(0.1)
            (proxy,) = (await api.get("/proxies")).json().values()
            during = [t["name"] for t in proxy["toxics"]]
            began = time.monotonic() - routes.started
            await median_rtt(address, 1)
            return time.monotonic() - routes.started - began, during

    took, during = run(scenario())
    assert during == ["camcanary_outage_upstream", "camcanary_outage_downstream"]
    assert took >= 0.8  # held until about the end of the 1 s down phase


def test_network_config_names_a_registered_backend() -> None:
    from monitor.config import NetworkConfig

    assert NetworkConfig().backend == "builtin"
    assert NetworkConfig(backend="toxiproxy", toxiproxy_url="http://tp:8474").backend == "toxiproxy"
    with pytest.raises(ValueError, match=r"unknown network backend 'netem' \(valid: builtin, toxi"):
        NetworkConfig(backend="netem")
