"""The kill-switch contract, held by every backend in ``KILL_SWITCHES``: built by
`build_kill_switch` from its config and driven by the state machine, a trip is seen
where the platform looks for it, and never before.

- ``builtin``: the flag endpoint the platform's gateways poll answers ``tripped``;
- ``record``: camcanary's database holds ``tripped`` (read by a fresh store);
- ``webhook``: the testbed's gateway receives the signed POST and holds ``tripped``;
- ``unleash``: the fake Unleash admin API shows the path's feature off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from monitor.config import KillSwitchConfig, parse_config
from monitor.errors import KillSwitchError
from monitor.killswitch import KILL_SWITCHES, build_kill_switch
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store
from monitor.web import WebServer, create_app
from monitor.web.context import WebContext
from testbed import TestbedCloud, TestbedServer
from testbed.fake_unleash import FakeUnleash

TOKEN = "*:*.unleash-admin-token-for-contract-tests"
SWITCH_SECRET = "kill switch contract secret"
CONFIG = parse_config(
    {
        "deployment": {"secret": "kill switch contract: deployment secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t-lobby"}],
        "paths": [{"name": "hub", "kind": "snapshot", "url": "http://cloud.test/hub/{camera_id}"}],
    },
    environ={},
)

# What the platform sees of ``hub``'s switch, read where the platform reads it.
Observe = Callable[[], Awaitable[str]]
Counterpart = Callable[[Store, KillSwitchService], contextlib.AbstractAsyncContextManager[Observe]]


@contextlib.asynccontextmanager
async def flag_endpoint(store: Store, service: KillSwitchService) -> AsyncIterator[Observe]:
    async with (
        WebServer(create_app(WebContext(store, service)), port=0) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):

        async def observe() -> str:
            response = await client.get("/api/v1/killswitch/hub")
            response.raise_for_status()
            return str(response.json()["state"])

        yield observe


@contextlib.asynccontextmanager
async def database(store: Store, service: KillSwitchService) -> AsyncIterator[Observe]:
    async def observe() -> str:
        fresh = Store(str(store.engine.url.render_as_string(hide_password=False)))
        try:
            return fresh.kill_switch("hub")
        finally:
            fresh.close()

    yield observe


@contextlib.asynccontextmanager
async def gateway(cloud: TestbedCloud) -> AsyncIterator[Observe]:
    async def observe() -> str:
        return str(cloud.killswitch("hub").state)

    yield observe


@contextlib.asynccontextmanager
async def unleash(fake: FakeUnleash) -> AsyncIterator[Observe]:
    async def observe() -> str:
        return "on" if fake.enabled("default", "hub", "production") else "off"

    yield observe


@contextlib.asynccontextmanager
async def counterpart(kind: str) -> AsyncIterator[tuple[dict[str, Any], Counterpart]]:
    """The backend's config (plain dict) and how to observe its counterpart."""
    if kind == "webhook":
        cloud = TestbedCloud.create(
            b"contract", ["a"], killswitch_secret=SWITCH_SECRET.encode(), admin_token="admin"
        )
        async with TestbedServer(cloud) as server:
            url = server.url + "/admin/v1/killswitch"
            yield {"kind": kind, "url": url, "secret": SWITCH_SECRET}, lambda s, v: gateway(cloud)
    elif kind == "unleash":
        async with FakeUnleash(TOKEN, {"default": {"hub": ["production"]}}) as fake:
            yield {"kind": kind, "url": fake.url, "secret": TOKEN}, lambda s, v: unleash(fake)
    elif kind == "builtin":
        yield {"kind": kind}, flag_endpoint
    else:
        assert kind == "record", f"no counterpart for {kind!r}: add one to this suite"
        yield {"kind": kind}, database


# The state the counterpart shows before and after the trip.
SEEN: dict[str, tuple[str, str]] = {
    "builtin": ("armed", "tripped"),
    "record": ("armed", "tripped"),
    "webhook": ("armed", "tripped"),
    "unleash": ("on", "off"),
}


def test_the_suite_covers_every_registered_kill_switch() -> None:
    assert set(SEEN) == set(KILL_SWITCHES)


def test_an_unknown_kind_is_refused_naming_the_valid_ones() -> None:
    unknown: Any = "netem"  # past the config's own check, as a config from elsewhere
    config = KillSwitchConfig.model_construct(kind=unknown)
    with pytest.raises(ValueError, match="unknown kill switch kind 'netem'") as error:
        build_kill_switch(config)
    for kind in KILL_SWITCHES:
        assert kind in str(error.value)


@pytest.mark.parametrize("kind", sorted(KILL_SWITCHES))
def test_a_trip_is_observable_at_the_backend(kind: str, sqlite_url: str) -> None:
    async def go() -> tuple[str, str, str]:
        store = Store(sqlite_url)
        store.migrate()
        store.register(CONFIG.canaries, CONFIG.paths)
        try:
            async with counterpart(kind) as (options, observing):
                backend = build_kill_switch(KillSwitchConfig.model_validate(options))
                assert isinstance(backend, KILL_SWITCHES[kind])
                service = KillSwitchService(store, backend, CONFIG.paths)
                try:
                    async with observing(store, service) as observe:
                        before = await observe()
                        await service.trip("hub", actor="carol", reason="contract")
                        return before, await observe(), service.state("hub")
                finally:
                    await backend.close()
        finally:
            store.close()

    before, after, state = asyncio.run(go())

    assert (before, after) == SEEN[kind]
    assert state == "tripped"


def test_the_webhook_trip_is_signed_the_gateway_refuses_a_wrong_key() -> None:
    async def go() -> str:
        cloud = TestbedCloud.create(
            b"contract", ["a"], killswitch_secret=SWITCH_SECRET.encode(), admin_token="admin"
        )
        async with TestbedServer(cloud) as server:
            options = {"url": server.url + "/admin/v1/killswitch", "secret": "not the key"}
            backend = build_kill_switch(KillSwitchConfig(kind="webhook", **options))
            try:
                with pytest.raises(KillSwitchError) as error:
                    await backend.apply("hub", "tripped", "forged")
                assert error.value.permanent
            finally:
                await backend.close()
            return str(cloud.killswitch("hub").state)

    assert asyncio.run(go()) == "armed"
