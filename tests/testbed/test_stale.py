"""The stale-cache bug: the app path replays each tenant's own camera from hours ago."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from canaries import Codebook, Reader
from monitor.judge import classify
from monitor.verdict import Verdict
from testbed import BUGS, TestbedCloud
from testbed.stale import STALE_BUG, STALE_LAG, StaleReplay

Drive = Callable[[Callable[[httpx.AsyncClient], Awaitable[None]]], None]
ADMIN_TOKEN = "admin-token-for-tests"  # what the cloud fixture is made with


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_stale_cache_bug_is_registered_on_the_app_path_as_a_stale_symptom() -> None:
    bug = BUGS[STALE_BUG]
    assert (bug.path, bug.symptom) == ("app", "stale")


def test_app_snapshots_turn_own_stale_after_the_deploy_and_fresh_after_the_rollback(
    cloud: TestbedCloud, drive: Drive, reader: Reader
) -> None:
    a, b = cloud.tenant("a"), cloud.tenant("b")
    seen: list[tuple[str, Verdict, float | None]] = []

    async def snapshot(client: httpx.AsyncClient, step: str) -> None:
        for tenant in (a, b):
            response = await client.get(
                f"/app/v1/cameras/{tenant.camera_id}/snapshot", headers=bearer(tenant.token)
            )
            assert response.status_code == 200, response.text
            frame_time = datetime.fromisoformat(response.headers["X-Frame-Time"])
            judgement = classify(reader, response.content, tenant.canary, datetime.now(UTC), 60)
            assert judgement.canary == tenant.canary  # always the tenant's own camera
            assert judgement.frame_at is not None
            # The header tells the same time as the picture's time code (2 s epochs).
            assert abs((judgement.frame_at - frame_time).total_seconds()) <= 2
            seen.append((step, judgement.verdict, judgement.age_s))

    async def deploy(client: httpx.AsyncClient, enabled: bool) -> None:
        response = await client.post(
            "/admin/v1/bugs",
            json={"bug": STALE_BUG, "enabled": enabled},
            headers=bearer(ADMIN_TOKEN),
        )
        assert response.status_code == 200, response.text

    async def scenario(client: httpx.AsyncClient) -> None:
        await snapshot(client, "before")
        await deploy(client, True)
        await snapshot(client, "deployed")
        await deploy(client, False)
        await snapshot(client, "after")

    drive(scenario)
    lag = STALE_LAG.total_seconds()
    for step, verdict, age in seen:
        assert age is not None
        if step == "deployed":
            assert verdict == Verdict.OWN_STALE
            assert lag - 10 < age < lag + 10
        else:
            assert verdict == Verdict.OWN
            assert age < 10


def test_replay_renders_at_most_once_per_frame_period_and_follows_the_clock() -> None:
    now = [datetime(2026, 11, 22, 12, 0, tzinfo=UTC)]
    replay = StaleReplay(
        Codebook(b"stale tests secret"), {"cam-a": "a"}, fps=2, clock=lambda: now[0]
    )

    async def frames() -> list[datetime]:
        first = await replay.frame("cam-a")
        again = await replay.frame("cam-a")  # same instant: the same frame, no new render
        assert again is first
        now[0] += timedelta(seconds=1)
        later = await replay.frame("cam-a")
        return [first.at, later.at]

    first_at, later_at = asyncio.run(frames())
    assert first_at == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # three hours behind
    assert later_at - first_at == timedelta(seconds=1)
    with pytest.raises(KeyError):
        asyncio.run(replay.frame("cam-z"))
    with pytest.raises(ValueError, match="lag must be positive"):
        StaleReplay(Codebook(b"stale tests secret"), {}, lag=timedelta(0))
