"""Every registered kill switch backend against a real loopback counterpart, and the
Unleash backend against the fake Unleash admin API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from monitor.config import KillSwitchConfig
from monitor.errors import KillSwitchError
from monitor.killswitch import KILL_SWITCHES, KillSwitchBackend, UnleashKillSwitch
from monitor.killswitch import build_kill_switch as build
from testbed import TestbedCloud, TestbedServer
from testbed.fake_unleash import FakeUnleash

TOKEN = "*:*.unleash-admin-token-for-tests"
SWITCH_SECRET = "kill switch secret for backend tests"
STATES = ("tripped", "tripped", "verifying", "armed", "armed")  # repeats: idempotent


@contextlib.asynccontextmanager
async def backend_for(kind: str) -> AsyncIterator[tuple[KillSwitchBackend, Callable[[], str]]]:
    """The backend and a probe of the state its counterpart now holds for ``hub``."""
    if kind == "webhook":
        cloud = TestbedCloud.create(
            b"backend tests secret",
            ["a"],
            killswitch_secret=SWITCH_SECRET.encode(),
            admin_token="admin",
        )
        async with TestbedServer(cloud) as server:
            backend = build(
                KillSwitchConfig(
                    kind="webhook",
                    url=server.url + "/admin/v1/killswitch",
                    secret=SWITCH_SECRET,
                )
            )
            try:
                yield backend, lambda: cloud.killswitch("hub").state
            finally:
                await backend.close()
    elif kind == "unleash":
        async with FakeUnleash(TOKEN, {"default": {"hub": ["production"]}}) as fake:
            backend = build(KillSwitchConfig(kind="unleash", url=fake.url, secret=TOKEN))
            try:
                yield (
                    backend,
                    lambda: "on" if fake.enabled("default", "hub", "production") else "off",
                )
            finally:
                await backend.close()
    else:
        backend = build(KillSwitchConfig(kind=kind))  # type: ignore[arg-type]
        yield backend, lambda: "kept in camcanary's database"


EXPECTED: dict[str, dict[str, str]] = {
    "webhook": {"tripped": "tripped", "verifying": "verifying", "armed": "armed"},
    "unleash": {"tripped": "off", "verifying": "on", "armed": "on"},
}


@pytest.mark.parametrize("kind", sorted(KILL_SWITCHES))
def test_every_backend_takes_every_state_idempotently(kind: str) -> None:
    async def go() -> list[str]:
        seen = []
        async with backend_for(kind) as (backend, held):
            for state in STATES:
                await backend.apply("hub", state, f"test: {state}")
                seen.append(held())
        return seen

    seen = asyncio.run(go())

    expected = EXPECTED.get(kind)
    if expected is not None:
        assert seen == [expected[state] for state in STATES]


def test_unleash_switches_the_paths_feature_in_the_configured_environment() -> None:
    async def go() -> tuple[list[tuple[str, str]], bool, bool]:
        projects = {"cams": {"hub-stills": ["production", "staging"]}}
        async with FakeUnleash(TOKEN, projects) as fake:
            backend = UnleashKillSwitch(
                fake.url,
                TOKEN,
                project="cams",
                environment="production",
                features={"hub": "hub-stills"},
            )
            try:
                await backend.apply("hub", "tripped", "incident #1")
            finally:
                await backend.close()
            return (
                fake.calls,
                fake.enabled("cams", "hub-stills", "production"),
                fake.enabled("cams", "hub-stills", "staging"),
            )

    calls, production, staging = asyncio.run(go())

    assert calls == [
        ("POST", "/api/admin/projects/cams/features/hub-stills/environments/production/off")
    ]
    assert production is False
    assert staging is True


def test_unleash_refusals_are_permanent_and_5xx_is_retried() -> None:
    async def go() -> tuple[KillSwitchError, KillSwitchError, bool, int]:
        async with FakeUnleash(TOKEN, {"default": {"hub": ["production"]}}) as fake:
            wrong = UnleashKillSwitch(fake.url, "not-the-token")
            unknown = UnleashKillSwitch(fake.url, TOKEN, features={"hub": "missing"})
            right = UnleashKillSwitch(fake.url, TOKEN)
            try:
                with pytest.raises(KillSwitchError) as bad_token:
                    await wrong.apply("hub", "tripped", "x")
                with pytest.raises(KillSwitchError) as bad_feature:
                    await unknown.apply("hub", "tripped", "x")
                fake.fail_next = 1
                calls_before = len(fake.calls)
                await right.apply("hub", "tripped", "x")
                return (
                    bad_token.value,
                    bad_feature.value,
                    fake.enabled("default", "hub", "production"),
                    len(fake.calls) - calls_before,
                )
            finally:
                for backend in (wrong, unknown, right):
                    await backend.close()

    bad_token, bad_feature, enabled, calls = asyncio.run(go())

    assert bad_token.permanent is True
    assert "HTTP 401" in str(bad_token)
    assert bad_feature.permanent is True
    assert "HTTP 404" in str(bad_feature)
    assert enabled is False
    assert calls == 2  # one 500, one success


def test_an_unknown_backend_kind_fails_at_config_load_with_the_valid_kinds() -> None:
    with pytest.raises(ValueError, match="'builtin', 'record', 'webhook' or 'unleash'"):
        KillSwitchConfig(kind="launchdarkly")  # type: ignore[arg-type]
