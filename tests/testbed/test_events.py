"""Event lists and thumbnails on the wire, and the wyze-2024 reconnect-storm cache bug."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from canaries import Reader
from monitor.judge import classify
from monitor.verdict import Verdict
from testbed import TestbedCloud
from testbed.events import StormDetector, cache_key

ADMIN_TOKEN = "admin-token-for-tests"  # the testbed conftest's cloud
Drive = Callable[..., None]


def bearer(cloud: TestbedCloud, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cloud.tenant(tenant).token}"}


async def thumbnails_of(client: httpx.AsyncClient, cloud: TestbedCloud, tenant: str) -> list[bytes]:
    """What an app's event timeline does: the list, then every thumbnail at once."""
    camera_id = cloud.tenant(tenant).camera_id
    listing = await client.get(
        f"/events/v1/cameras/{camera_id}/events", headers=bearer(cloud, tenant)
    )
    assert listing.status_code == 200, listing.text
    urls = [event["thumbnail_url"] for event in listing.json()["events"]]
    answers = await asyncio.gather(*(client.get(u, headers=bearer(cloud, tenant)) for u in urls))
    assert [a.status_code for a in answers] == [200] * len(urls)
    assert {a.headers["content-type"] for a in answers} == {"image/jpeg"}
    return [a.content for a in answers]


def sources(reader: Reader, tenant: str, frames: list[bytes]) -> list[tuple[Verdict, str | None]]:
    now = datetime.now(UTC)
    judged = [classify(reader, frame, tenant, now, 60) for frame in frames]
    return [(j.verdict, j.canary) for j in judged]


async def deploy(client: httpx.AsyncClient, bug: str, enabled: bool = True) -> None:
    response = await client.post(
        "/admin/v1/bugs",
        json={"bug": bug, "enabled": enabled},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text


def test_event_list_names_the_newest_events_with_thumbnails_of_the_tenants_camera(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.get("/events/v1/cameras/cam-a/events", headers=bearer(cloud, "a"))
        assert response.status_code == 200
        events = response.json()["events"]
        assert len(events) == 3
        times = [datetime.fromisoformat(e["at"]) for e in events]
        assert times == sorted(times, reverse=True)
        assert all(e["id"].startswith("cam-a.") for e in events)
        assert all(e["thumbnail_url"].startswith(str(client.base_url)) for e in events)
        frames = await thumbnails_of(client, cloud, "a")
        assert sources(reader, "a", frames) == [(Verdict.OWN, "a")] * 3

    drive(scenario)


def test_events_refuse_bad_tokens_other_tenants_cameras_and_thumbnails(
    drive: Drive, cloud: TestbedCloud
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        events = "/events/v1/cameras/cam-a/events"
        assert (await client.get(events)).status_code == 401
        wrong = {"Authorization": "Bearer not-a-token"}
        assert (await client.get(events, headers=wrong)).status_code == 401
        assert (await client.get(events, headers=bearer(cloud, "b"))).status_code == 404
        listing = await client.get(events, headers=bearer(cloud, "a"))
        thumbnail = listing.json()["events"][0]["thumbnail_url"]
        assert (await client.get(thumbnail, headers=bearer(cloud, "b"))).status_code == 404
        expired = "/events/v1/thumbnails/cam-a.1000.jpg"
        assert (await client.get(expired, headers=bearer(cloud, "a"))).status_code == 404
        garbage = "/events/v1/thumbnails/..%2Fetc.jpg"
        assert (await client.get(garbage, headers=bearer(cloud, "a"))).status_code == 404

    drive(scenario)


def test_events_path_honours_its_kill_switch(drive: Drive, cloud: TestbedCloud) -> None:
    cloud.set_killswitch("events", "tripped", "drill")

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.get("/events/v1/cameras/cam-a/events", headers=bearer(cloud, "a"))
        assert response.status_code == 503
        assert "kill switch" in response.json()["error"]
        snapshot = await client.get("/app/v1/cameras/cam-a/snapshot", headers=bearer(cloud, "a"))
        assert snapshot.status_code == 200  # only the events path is off

    drive(scenario)


def test_wyze_2024_reconnect_storm_serves_another_tenants_thumbnails(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await deploy(client, "wyze-2024")
        storm = await asyncio.gather(*(thumbnails_of(client, cloud, t) for t in ("a", "b")))
        seen = [sources(reader, tenant, frames) for tenant, frames in zip("ab", storm, strict=True)]
        leaks = [pair for judged in seen for pair in judged if pair[0] is Verdict.FOREIGN_CANARY]
        assert leaks, seen
        # The leaked thumbnails are the other tenant's, never unreadable noise.
        assert {pair for judged in seen for pair in judged} <= {
            (Verdict.OWN, "a"),
            (Verdict.OWN, "b"),
            (Verdict.FOREIGN_CANARY, "a"),
            (Verdict.FOREIGN_CANARY, "b"),
        }

    drive(scenario)


def test_wyze_2024_calm_traffic_stays_own_and_storms_without_the_bug_stay_own(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        storm = await asyncio.gather(*(thumbnails_of(client, cloud, t) for t in ("a", "b", "a")))
        for tenant, frames in zip("aba", storm, strict=True):
            assert sources(reader, tenant, frames) == [(Verdict.OWN, tenant)] * 3
        await asyncio.sleep(3.2)  # let the overload of that storm pass
        await deploy(client, "wyze-2024")
        for tenant in ("a", "b", "a"):  # one tenant at a time, well apart
            await asyncio.sleep(0.4)
            frames = await thumbnails_of(client, cloud, tenant)
            assert sources(reader, tenant, frames) == [(Verdict.OWN, tenant)] * 3

    drive(scenario)


def test_storm_detector_needs_distinct_tenants_within_the_window() -> None:
    now = [0.0]
    detector = StormDetector(tenants=3, window_s=0.25, overload_s=2.0, clock=lambda: now[0])
    assert not detector.observe("a")
    now[0] = 0.1
    assert not detector.observe("a")  # one tenant twice is not a storm
    now[0] = 0.2
    assert not detector.observe("b")
    now[0] = 0.5
    assert not detector.observe("c")  # a and b are out of the window by now
    now[0] = 0.6
    assert detector.observe("a") is False
    now[0] = 0.65
    assert detector.observe("b")  # a, b, c within 0.25 s: overloaded
    now[0] = 2.6
    assert detector.observe("d")  # still within 2 s of the last storm signal
    now[0] = 5.0
    assert not detector.observe("e")
    assert detector.storms == 1


def test_cache_key_drops_the_camera_only_with_the_bug_during_overload() -> None:
    assert cache_key("cam-a", 7, bug=False, overloaded=True) == ("cam-a", "7")
    assert cache_key("cam-a", 7, bug=True, overloaded=False) == ("cam-a", "7")
    assert cache_key("cam-a", 7, bug=True, overloaded=True) == cache_key(
        "cam-b", 7, bug=True, overloaded=True
    )
