"""The testbed cloud over real loopback HTTP: auth, both paths, the xiaomi-2020 leak, admin."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from PIL import Image

from canaries import Reader
from testbed import BUGS, PATHS, Tenant, TestbedCloud

Drive = Callable[[Callable[[httpx.AsyncClient], Awaitable[None]]], None]
ADMIN_TOKEN = "admin-token-for-tests"  # what the cloud fixture is made with
FAST = {"ECT": "4g", "RTT": "50", "Downlink": "10"}
SLOW = {"ECT": "3g"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def snapshot_url(camera_id: str) -> str:
    return f"/app/v1/cameras/{camera_id}/snapshot"


def still_url(camera_id: str) -> str:
    return f"/hub/v1/cameras/{camera_id}/still"


async def hub_still(
    client: httpx.AsyncClient, tenant: Tenant, hints: dict[str, str]
) -> httpx.Response:
    response = await client.get(still_url(tenant.camera_id), headers=bearer(tenant.token) | hints)
    assert response.status_code == 200, response.text
    return response


async def deploy(client: httpx.AsyncClient, bug: str, enabled: bool = True) -> httpx.Response:
    return await client.post(
        "/admin/v1/bugs", json={"bug": bug, "enabled": enabled}, headers=bearer(ADMIN_TOKEN)
    )


def size_of(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as image:
        return image.size


# -- auth ------------------------------------------------------------------------------


def test_both_paths_answer_401_without_or_with_a_wrong_token(
    cloud: TestbedCloud, drive: Drive
) -> None:
    a = cloud.tenant("a")

    async def scenario(client: httpx.AsyncClient) -> None:
        for url in (snapshot_url(a.camera_id), still_url(a.camera_id)):
            for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic Zm9vOmJhcg=="}):
                response = await client.get(url, headers=headers)
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert "error" in response.json()

    drive(scenario)


def test_other_tenants_camera_is_404_like_an_unknown_one(cloud: TestbedCloud, drive: Drive) -> None:
    a, b = cloud.tenant("a"), cloud.tenant("b")

    async def scenario(client: httpx.AsyncClient) -> None:
        for url in (snapshot_url, still_url):
            other = await client.get(url(b.camera_id), headers=bearer(a.token))
            unknown = await client.get(url("cam-nobody"), headers=bearer(a.token))
            assert other.status_code == unknown.status_code == 404
            assert other.json() == unknown.json() == {"error": "camera not found"}

    drive(scenario)


# -- app path ----------------------------------------------------------------------------


def test_app_snapshot_is_the_tenants_own_canary(
    cloud: TestbedCloud, drive: Drive, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for tenant in cloud.tenants:
            response = await client.get(
                snapshot_url(tenant.camera_id), headers=bearer(tenant.token)
            )
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "image/jpeg"
            assert datetime.fromisoformat(response.headers["X-Frame-Time"]).utcoffset() is not None
            assert size_of(response.content) == (640, 360)
            assert reader.read(response.content).canary == tenant.canary

    drive(scenario)


# -- hub path ----------------------------------------------------------------------------


def test_hub_fast_client_gets_the_high_tier_own_still(
    cloud: TestbedCloud, drive: Drive, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for hints in (FAST, {}):
            for tenant in cloud.tenants:
                response = await hub_still(client, tenant, hints)
                assert response.headers["X-Quality-Tier"] == "high"
                assert response.headers["Accept-CH"] == "ECT, RTT, Downlink"
                assert response.headers["Cache-Control"] == "no-store"
                assert size_of(response.content) == (640, 360)
                assert reader.read(response.content).canary == tenant.canary

    drive(scenario)


def test_hub_slow_clients_get_their_own_low_tier_still_without_the_bug(
    cloud: TestbedCloud, drive: Drive, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for tenant in cloud.tenants:  # a fills the low-tier cache first, then b asks
            response = await hub_still(client, tenant, SLOW)
            assert response.headers["X-Quality-Tier"] == "low"
            assert size_of(response.content) == (320, 180)
            assert reader.read(response.content).canary == tenant.canary

    drive(scenario)


def test_xiaomi_2020_serves_a_slow_client_another_tenants_still(
    cloud: TestbedCloud, drive: Drive, reader: Reader
) -> None:
    a, b = cloud.tenant("a"), cloud.tenant("b")

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await deploy(client, "xiaomi-2020")).json() == {"bugs": ["xiaomi-2020"]}
        first = await hub_still(client, a, SLOW)
        assert reader.read(first.content).canary == "a"

        leaked = await hub_still(client, b, SLOW)
        assert leaked.headers["X-Quality-Tier"] == "low"
        assert reader.read(leaked.content).canary == "a"

        fast = await hub_still(client, b, FAST)
        assert reader.read(fast.content).canary == "b"
        app = await client.get(snapshot_url(b.camera_id), headers=bearer(b.token))
        assert reader.read(app.content).canary == "b"

        assert (await deploy(client, "xiaomi-2020", enabled=False)).json() == {"bugs": []}
        fixed = await hub_still(client, b, SLOW)
        assert reader.read(fixed.content).canary == "b"

    drive(scenario)


def test_hub_cache_counts_hits_and_misses(cloud: TestbedCloud, drive: Drive) -> None:
    a = cloud.tenant("a")

    async def scenario(client: httpx.AsyncClient) -> None:
        for _ in range(3):
            await hub_still(client, a, SLOW)
        state = await client.get("/admin/v1/state", headers=bearer(ADMIN_TOKEN))
        assert state.json()["hub_cache"] | {"ttl": None} == {
            "hits": 2,
            "misses": 1,
            "entries": 1,
            "ttl": None,
        }

    drive(scenario)


# -- admin -------------------------------------------------------------------------------


def test_bugs_endpoint_needs_the_admin_token(cloud: TestbedCloud, drive: Drive) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        body = {"bug": "xiaomi-2020", "enabled": True}
        for headers in ({}, bearer(cloud.tenant("a").token), bearer("admin-token-for-test")):
            response = await client.post("/admin/v1/bugs", json=body, headers=headers)
            assert response.status_code == 401
        assert cloud.bugs == frozenset()

    drive(scenario)


def test_unknown_bug_is_400_listing_the_valid_ones(cloud: TestbedCloud, drive: Drive) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await deploy(client, "wyze-2099")
        assert response.status_code == 400
        assert response.json() == {"error": "unknown bug", "valid": sorted(BUGS)}

    drive(scenario)


def test_malformed_admin_bodies_are_400(drive: Drive) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for content in (
            b"{not json",
            b"[]",
            b'{"bug": "xiaomi-2020"}',
            b'{"bug": "xiaomi-2020", "enabled": 1}',
            b'{"bug": "xiaomi-2020", "enabled": true, "extra": 1}',
            b'{"bug": ["xiaomi-2020"], "enabled": true}',
            b"[" * 10_000,
        ):
            response = await client.post(
                "/admin/v1/bugs", content=content, headers=bearer(ADMIN_TOKEN)
            )
            assert response.status_code == 400, content[:40]
            assert "error" in response.json()

    drive(scenario)


def test_state_lists_tenants_and_never_a_secret(cloud: TestbedCloud, drive: Drive) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/admin/v1/state")).status_code == 401
        await deploy(client, "xiaomi-2020")
        response = await client.get("/admin/v1/state", headers=bearer(ADMIN_TOKEN))
        assert response.status_code == 200
        state = response.json()
        assert state["tenants"] == [
            {"name": "a", "camera_id": "cam-a", "canary": "a"},
            {"name": "b", "camera_id": "cam-b", "canary": "b"},
        ]
        assert state["bugs"] == {
            name: {"deployed": name == "xiaomi-2020", "path": bug.path}
            for name, bug in BUGS.items()
        }
        assert state["bugs"]["xiaomi-2020"]["path"] == "hub"
        assert {p: s["state"] for p, s in state["killswitches"].items()} == dict.fromkeys(
            PATHS, "armed"
        )
        secrets = [t.token for t in cloud.tenants] + [cloud.admin_token]
        secrets += [cloud.killswitch_secret.hex(), cloud.killswitch_secret.decode()]
        for secret in secrets:
            assert secret not in response.text

    drive(scenario)


def test_hostile_requests_get_json_errors_and_the_server_keeps_serving(drive: Drive) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/nowhere")).json() == {"error": "not found"}
        assert (await client.get("/healthz")).status_code == 200
        wrong_method = await client.delete("/admin/v1/bugs")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["Allow"] == "POST"
        huge = await client.post(
            "/admin/v1/bugs", content=b"x" * 100_000, headers=bearer(ADMIN_TOKEN)
        )
        assert huge.status_code == 413
        odd = await client.get(snapshot_url("cam-a"), headers=bearer("x" * 5000))
        assert odd.status_code == 401
        assert (await client.get("/healthz")).json() == {"status": "ok"}

    drive(scenario)
