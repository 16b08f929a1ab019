"""The drill's testbed in its own process: it serves, takes a bug, and is gone after."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from drills.testbed_process import TestbedProcess, TestbedProcessError, deploy_bug

ADMIN = "drill-testbed-admin-token"


def test_testbed_process_serves_the_tenants_takes_a_bug_and_stops() -> None:
    testbed = TestbedProcess(
        b"drill testbed secret", ["lobby", "garage"], killswitch_secret=b"k" * 16, admin_token=ADMIN
    )

    async def scenario() -> dict[str, object]:
        async with testbed as cloud:
            assert [t.name for t in cloud.tenants] == ["lobby", "garage"]
            assert cloud.facts["rtsp_url"].startswith("rtsp://127.0.0.1:")
            lobby = cloud.tenants[0]
            assert lobby.token not in repr(lobby)
            await deploy_bug(cloud.url, ADMIN, "stale-cache")
            async with httpx.AsyncClient(base_url=cloud.url, trust_env=False) as client:
                snapshot = await client.get(
                    f"/app/v1/cameras/{lobby.camera_id}/snapshot",
                    headers={"Authorization": f"Bearer {lobby.token}"},
                )
                assert snapshot.status_code == 200
                assert snapshot.headers["content-type"] == "image/jpeg"
                state = await client.get(
                    "/admin/v1/state", headers={"Authorization": f"Bearer {ADMIN}"}
                )
                return dict(state.json()["bugs"]["stale-cache"])

    assert asyncio.run(scenario()) == {"deployed": True, "path": "app"}
    assert not testbed.running  # the child is gone, not orphaned


def test_testbed_process_that_cannot_start_says_why() -> None:
    testbed = TestbedProcess(
        b"drill testbed secret", ["Not A Name"], killswitch_secret=b"k" * 16, admin_token=ADMIN
    )

    async def scenario() -> None:
        async with testbed:
            pass

    with pytest.raises(TestbedProcessError, match="did not start: ValueError: tenant name"):
        asyncio.run(scenario())
