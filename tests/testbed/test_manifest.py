"""The testbed path manifest: every entry is a path the monitor can read, with a kill
switch and a route that serves the tenant's own canary; every bug names a listed path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from canaries import Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.paths import PATH_KINDS, Capture
from monitor.verdict import Verdict
from testbed import BUGS, PATHS, TestbedCloud, TestbedServer
from testbed.manifest import MANIFEST, PathEntry, path_config, path_configs, server_facts

BASE = "http://127.0.0.1:8123"
FACTS = {"rtsp_url": "rtsp://127.0.0.1:8554"}  # what server_facts gives for a running testbed


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_manifest_entry_is_a_valid_monitor_path(name: str) -> None:
    config = PathConfig.model_validate(path_config(name, BASE, facts=FACTS, on_leak="trip"))
    assert config.name == name
    assert config.kind in PATH_KINDS
    assert config.url.startswith((BASE + "/", FACTS["rtsp_url"] + "/"))
    assert "{" not in config.url.replace("{camera_id}", "").replace("{canary}", "")
    assert config.on_leak == "trip"


def test_every_manifest_path_has_a_testbed_kill_switch() -> None:
    assert set(MANIFEST) <= set(PATHS)


def test_every_testbed_kill_switch_path_is_in_the_manifest_so_drills_probe_it() -> None:
    assert set(PATHS) - set(MANIFEST) == set()


def test_every_bug_names_a_manifest_path_except_the_clean_control() -> None:
    for bug in BUGS.values():
        if bug.symptom == "none":
            assert bug.path is None, bug.name
        else:
            assert bug.path in MANIFEST, bug.name
    assert BUGS["clean"].path is None


def test_path_config_fills_testbed_facts_into_extra_fields_and_applies_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = PathEntry(
        kind="snapshot",
        url="/x/{camera_id}",
        extra={"allowed": ("{host}", "{base_url}/cdn"), "note": "at {base_url}", "n": 3},
    )
    monkeypatch.setitem(MANIFEST, "x", entry)
    item = path_config("x", BASE + "/", network_hints=False)
    assert item == {
        "name": "x",
        "kind": "snapshot",
        "url": BASE + "/x/{camera_id}",  # the monitor fills {camera_id} per canary
        "allowed": ("127.0.0.1", BASE + "/cdn"),
        "note": f"at {BASE}",
        "n": 3,
        "network_hints": False,
    }
    assert [p["name"] for p in path_configs(BASE, ["x", "app"])] == ["x", "app"]
    monkeypatch.setitem(
        MANIFEST, "y", PathEntry(kind="snapshot", url="{rtsp_url}/live/{camera_id}")
    )
    rtsp = path_config("y", BASE, facts={"rtsp_url": "rtsp://127.0.0.1:8554"})
    assert rtsp["url"] == "rtsp://127.0.0.1:8554/live/{camera_id}"
    assert [p["name"] for p in path_configs(BASE)] == list(MANIFEST)  # x and y included


def test_unknown_path_and_malformed_entries_are_refused_with_the_valid_names() -> None:
    with pytest.raises(KeyError, match="valid: app, hub"):
        path_config("doorbell", BASE)
    with pytest.raises(ValueError, match="relative to the testbed"):
        PathEntry(kind="snapshot", url="http://elsewhere/x")
    with pytest.raises(ValueError, match="must not set"):
        PathEntry(kind="snapshot", url="/x", extra={"url": "/y"})


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_manifest_path_serves_the_tenants_own_canary_to_the_monitor_adapter(
    name: str, cloud: TestbedCloud, reader: Reader
) -> None:
    tenant = cloud.tenant("a")
    canary = CanaryConfig(name=tenant.canary, camera_id=tenant.camera_id, token=tenant.token)

    async def direct(host: str, port: int) -> tuple[str, int]:
        return host, port  # no impairment: the route itself is under test

    async def capture() -> Capture:
        async with TestbedServer(cloud) as server:
            adapter = PATH_KINDS[MANIFEST[name].kind](
                PathConfig.model_validate(path_config(name, server.url, facts=server_facts(server)))
            )
            try:
                async with asyncio.timeout(20):
                    result = await adapter.capture(canary, "good", direct)
            finally:
                await adapter.close()
        assert isinstance(result, Capture), result
        return result

    frames = asyncio.run(capture()).frames
    assert frames
    judgement = classify(reader, frames[0], tenant.canary, datetime.now(UTC), 60)
    assert judgement.verdict == Verdict.OWN, judgement.detail
