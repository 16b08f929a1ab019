"""From a testbed (or a hostile loopback server) to a probe, as the service runs one:
the paths of the testbed's manifest parsed into a monitor `Config`, one adapter a path,
a real `ProxyPool` for the impairment routes and the `Prober` that reads and judges.

- `manifest_paths` / `app_and_hub`: the ``paths:`` items for a running testbed;
- `probe_config` (a probing config) and `service_config` (the data of a whole service's);
- `probing`: adapters, pool and prober over a config, closed afterwards (`Probing`);
- `probe_once`: one whole probe, in its own event loop;
- `serving`: a plain aiohttp server on loopback; `admin`: the testbed's admin API;
- `capture_against`, `counting`, `serve_elsewhere`: hostile endpoints pointing at a
  second server that counts the requests it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web
from pydantic import SecretStr

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, Config, PathConfig, parse_config
from monitor.network import PROFILES, ProxyPool
from monitor.paths import PATH_KINDS, Capture, CaptureFailure, IntegrationPath
from monitor.probe import Prober, ProbeSpec
from monitor.results import ProbeResult
from testbed import TestbedCloud, TestbedServer
from testbed.manifest import MANIFEST, path_config
from testbed.serving import serve

# One canary of a cloud that is not the testbed (hostile servers do not check tokens).
LONE = [{"name": "lobby", "camera_id": "cam-lobby", "token": "lobby-token"}]


def fleet_of(cloud: TestbedCloud) -> list[dict[str, str]]:
    """The ``canaries:`` items of every tenant of ``cloud``."""
    return [{"name": t.canary, "camera_id": t.camera_id, "token": t.token} for t in cloud.tenants]


def manifest_paths(
    base_url: str,
    names: Iterable[str],
    *,
    facts: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The manifest's ``paths:`` items ``names`` on the testbed at ``base_url``.

    ``overrides``: further fields by path name; ``aliases``: path name -> the manifest
    entry it is a copy of (two paths of one entry, told apart by their overrides).
    """
    overrides, aliases = overrides or {}, aliases or {}
    return [
        {**path_config(aliases.get(n, n), base_url, facts=facts, **overrides.get(n, {})), "name": n}
        for n in names
    ]


def app_and_hub(base_url: str, **options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The app and hub snapshot paths at the manifest's URLs, without the read timeouts
    the manifest gives drills; ``options``: further fields by path name (``hub=TRIP``)."""
    base = base_url.rstrip("/")
    return [
        {"name": n, "kind": MANIFEST[n].kind, "url": base + MANIFEST[n].url, **options.get(n, {})}
        for n in ("app", "hub")
    ]


def probe_config(
    secret: str,
    canaries: list[dict[str, str]],
    paths: list[dict[str, Any]],
    *,
    deadline_s: float = 10.0,
    stale_after_s: float = 60.0,
) -> Config:
    return parse_config(
        {
            "deployment": {"secret": secret},
            "canaries": canaries,
            "paths": paths,
            "probe": {"deadline_s": deadline_s, "stale_after_s": stale_after_s},
        },
        environ={},
    )


def service_config(
    secret: str,
    canaries: list[dict[str, str]],
    paths: list[dict[str, Any]],
    db_url: str,
    *,
    schedule: Mapping[str, Any],
    probe: Mapping[str, Any],
    **sections: Any,
) -> dict[str, Any]:
    """The configuration data of a service probing ``paths`` for ``canaries`` on the
    profiles good and 3g; ``sections``: further top-level sections (``slack``, ``web``)."""
    return {
        "deployment": {"secret": secret},
        "canaries": canaries,
        "paths": paths,
        "profiles": ["good", "3g"],
        "schedule": dict(schedule),
        "probe": dict(probe),
        "store": {"url": db_url},
        **sections,
    }


@dataclass
class Probing:
    config: Config
    pool: ProxyPool
    prober: Prober
    adapters: dict[str, IntegrationPath]

    def canary(self, name: str) -> CanaryConfig:
        [canary] = [c for c in self.config.canaries if c.name == name]
        return canary

    def path(self, name: str) -> PathConfig:
        [path] = [p for p in self.config.paths if p.name == name]
        return path

    async def probe(self, path: str, profile: str, canary: str) -> ProbeResult:
        return await self.prober.probe(ProbeSpec(self.canary(canary), self.path(path), profile))

    async def capture(
        self, path: str, canary: CanaryConfig | str, profile: str = "good"
    ) -> Capture | CaptureFailure:
        """The adapter alone, routed through the pool (no judging, no deadline)."""
        account = self.canary(canary) if isinstance(canary, str) else canary

        async def router(host: str, port: int) -> tuple[str, int]:
            return await self.pool.route(host, port, PROFILES[profile])

        return await self.adapters[path].capture(account, profile, router)


@contextlib.asynccontextmanager
async def probing(
    config: Config, secret: str, *, deadline_s: float | None = None
) -> AsyncIterator[Probing]:
    """The prober of ``config`` (its deadline unless ``deadline_s``), reading the codes
    of its canaries; every adapter is closed afterwards."""
    adapters = {path.name: PATH_KINDS[path.kind](path) for path in config.paths}
    reader = Reader(Codebook(secret.encode()), [canary.name for canary in config.canaries])
    async with ProxyPool() as pool:
        prober = Prober(
            reader,
            adapters,
            pool,
            deadline_s=config.probe.deadline_s if deadline_s is None else deadline_s,
            stale_after_s=config.probe.stale_after_s,
        )
        try:
            yield Probing(config, pool, prober, adapters)
        finally:
            for adapter in adapters.values():
                await adapter.close()


def probe_once(config: Config, secret: str, path: str, profile: str, canary: str) -> ProbeResult:
    """One whole probe of ``config``'s ``path`` in a new event loop."""

    async def run() -> ProbeResult:
        async with probing(config, secret) as p:
            return await p.probe(path, profile, canary)

    return asyncio.run(run())


@contextlib.asynccontextmanager
async def serving(routes: web.RouteTableDef, **runner_options: Any) -> AsyncIterator[str]:
    """A plain aiohttp server of ``routes`` on loopback; yields its base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner, url = await serve(app, **runner_options)
    try:
        yield url
    finally:
        await runner.cleanup()


async def admin(server: TestbedServer, token: str, method: str, route: str, **kwargs: Any) -> Any:
    """A call to the testbed's admin API; its JSON answer."""
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        response = await client.request(
            method, route, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        response.raise_for_status()
        return response.json()


async def direct(host: str, port: int) -> tuple[str, int]:
    """A router that dials the target itself: no impairment proxy."""
    return host, port


Reply = Callable[[], web.Response]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def counting(hits: list[str], reply: Reply) -> Handler:
    """A handler answering ``reply()`` that records the path of every request in ``hits``."""

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return reply()

    return handle


async def serve_elsewhere(handler: Handler) -> tuple[web.AppRunner, str]:
    """A second loopback server answering every ``/{name}`` with ``handler``, where a
    hostile answer points; its runner and port."""
    other = web.Application()
    other.router.add_get("/{name}", handler)
    runner, url = await serve(other)
    return runner, url.rsplit(":", 1)[1]


def capture_against(
    kind: str,
    route: str,
    answer: Callable[[web.Request, str], Awaitable[web.Response]],
    elsewhere: Reply,
    *,
    name: str,
    token: str,
    **fields: Any,
) -> tuple[Capture | CaptureFailure, list[str]]:
    """What the ``kind`` adapter captures, dialling directly, from a loopback endpoint
    (POST ``route``) answered by ``answer(request, other_port)``, and the paths it asked
    of the other server (which answers ``elsewhere()``). ``fields``: of its `PathConfig`."""
    hits: list[str] = []

    async def main() -> Capture | CaptureFailure:
        other_runner, port = await serve_elsewhere(counting(hits, elsewhere))

        async def endpoint(request: web.Request) -> web.Response:
            return await answer(request, port)

        app = web.Application()
        app.router.add_post(route, endpoint)
        runner, url = await serve(app)
        try:
            config = PathConfig(name=name, kind=kind, url=url + route, **fields)
            canary = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr(token))
            return await PATH_KINDS[kind](config).capture(canary, "good", direct)
        finally:
            await runner.cleanup()
            await other_runner.cleanup()

    return asyncio.run(main()), hits


async def app_and_hub_statuses(
    client: httpx.AsyncClient, cloud: TestbedCloud, canary: str
) -> tuple[int, int]:
    """The HTTP statuses of the app's snapshot and then the hub's still of ``canary``'s
    camera, asked with its own token by ``client`` (based at the testbed)."""
    tenant = cloud.tenant(canary)
    headers = {"Authorization": f"Bearer {tenant.token}"}
    statuses = []
    for name in ("app", "hub"):
        route = MANIFEST[name].url.format(camera_id=tenant.camera_id)
        statuses.append((await client.get(route, headers=headers)).status_code)
    app, hub = statuses
    return app, hub
