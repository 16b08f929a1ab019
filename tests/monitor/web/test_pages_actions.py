"""Operator actions from the dashboard's forms: kill switch trip, four-eyes re-enable,
acknowledge; viewers and forged forms are refused and change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from monitor.store.models import IncidentRow
from tests.monitor.web.dashboard_seed import Seeded, csrf_of, login

T = TypeVar("T")


def run(
    seeded: Seeded,
    scenario: Callable[[TestClient, TestClient], Awaitable[T]],
    users: tuple[str, str] = ("olga", "otto"),
) -> T:
    """``scenario(a, b)``: two people's browsers (default: two operators), logged in."""

    async def main() -> T:
        server = TestServer(seeded.app())
        async with TestClient(server) as first, TestClient(server) as second:
            await login(first, users[0], seeded.tokens[users[0]])
            await login(second, users[1], seeded.tokens[users[1]])
            return await scenario(first, second)

    return asyncio.run(main())


async def post_form(client: TestClient, page: str, action: str, **fields: str) -> tuple[int, str]:
    csrf = csrf_of(await (await client.get(page)).text())
    response = await client.post(action, data={"csrf_token": csrf, **fields}, allow_redirects=False)
    return response.status, response.headers.get("Location", await response.text())


def test_trip_and_four_eyes_reenable_from_the_path_page(seeded: Seeded) -> None:
    async def scenario(olga: TestClient, otto: TestClient) -> list[tuple[int, str]]:
        base = "/paths/app/killswitch"
        return [
            await post_form(olga, "/paths/app", f"{base}/trip", reason="drill", next="/paths/app"),
            await post_form(olga, "/paths/app", f"{base}/request-reenable", reason="fixed"),
            await post_form(olga, "/paths/app", f"{base}/approve"),  # the requester: refused
            await post_form(otto, "/paths/app", f"{base}/approve"),
        ]

    tripped, requested, own_approval, approved = run(seeded, scenario)
    assert tripped == (303, "/paths/app?done=trip")
    assert requested == (303, "/paths/app?done=request")
    assert own_approval[0] == 409
    assert approved == (303, "/paths/app?done=approve")
    audit = [(a.action, a.actor, a.to_state) for a in seeded.kill_switches.audit("app")]
    assert audit == [
        ("trip", "olga", "tripped"),
        ("request-reenable", "olga", "tripped"),
        ("approve", "otto", "verifying"),
    ]
    assert seeded.kill_switches.state("app") == "verifying"


def test_confirmation_after_redirect_is_a_fixed_text(seeded: Seeded) -> None:
    async def scenario(olga: TestClient, otto: TestClient) -> tuple[str, str]:
        ok = await (await olga.get("/paths/app?done=trip")).text()
        odd = await (await olga.get("/paths/app?done=<b>pwned</b>")).text()
        return ok, odd

    ok, odd = run(seeded, scenario)
    assert "Kill switch tripped." in ok
    assert "pwned" not in odd


def test_trip_needs_a_reason(seeded: Seeded) -> None:
    async def scenario(olga: TestClient, otto: TestClient) -> tuple[int, str]:
        return await post_form(olga, "/paths/app", "/paths/app/killswitch/trip", reason=" ")

    assert run(seeded, scenario)[0] == 400
    assert seeded.kill_switches.state("app") == "armed"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\t/evil.example/", "/\n/evil.example/", "/\\evil.example/"]
)
def test_offsite_next_is_ignored(seeded: Seeded, target: str) -> None:
    async def scenario(olga: TestClient, otto: TestClient) -> tuple[int, str]:
        action = "/paths/app/killswitch/trip"
        return await post_form(olga, "/paths/app", action, reason="x", next=target)

    assert run(seeded, scenario) == (303, "/paths/app?done=trip")


def test_viewer_and_forged_forms_are_refused(seeded: Seeded) -> None:
    async def scenario(olga: TestClient, vera: TestClient) -> list[int]:
        csrf = csrf_of(await (await vera.get("/")).text())
        statuses = [
            (await vera.post(url, data={"csrf_token": csrf, "reason": "x"})).status
            for url in ("/paths/app/killswitch/trip", "/incidents/2/acknowledge")
        ]
        for data in ({"reason": "x"}, {"reason": "x", "csrf_token": "forged"}):
            response = await olga.post("/paths/app/killswitch/trip", data=data)
            statuses.append(response.status)
        cross_site = await olga.post(
            "/paths/app/killswitch/trip",
            data={"reason": "x", "csrf_token": csrf_of(await (await olga.get("/")).text())},
            headers={"Origin": "https://evil.example"},
        )
        statuses.append(cross_site.status)
        return statuses

    assert run(seeded, scenario, ("olga", "vera")) == [403, 403, 403, 403, 403]
    assert seeded.kill_switches.state("app") == "armed"
    assert [a.actor for a in seeded.kill_switches.audit("app")] == []


def test_acknowledge_from_the_incident_page(seeded: Seeded) -> None:
    async def scenario(olga: TestClient, otto: TestClient) -> tuple[tuple[int, str], str, int]:
        done = await post_form(olga, "/incidents/2", "/incidents/2/acknowledge")
        page = await (await olga.get("/incidents/2")).text()
        again = await post_form(otto, "/incidents/1", "/incidents/2/acknowledge")
        return done, page, again[0]

    done, page, again = run(seeded, scenario)
    assert done == (303, "/incidents/2?done=ack")
    assert "by olga" in page
    assert 'action="/incidents/2/acknowledge"' not in page  # no button once acknowledged
    assert again == 409
    with seeded.store.engine.connect() as conn:
        acked = conn.execute(sa.select(IncidentRow.acked_by).where(IncidentRow.id == 2))
        assert acked.scalar_one() == "olga"
