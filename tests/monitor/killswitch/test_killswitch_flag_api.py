"""The built-in flag endpoint on a real aiohttp server: state, ETag/304, fail-safe."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from monitor.killswitch import BuiltinKillSwitch
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store
from monitor.web import WebServer, create_app
from monitor.web.context import WebContext
from tests.fleet import canaries, snapshot_paths, store_fixture

CANARIES = canaries("lobby")
PATHS = snapshot_paths("app", "hub")

store = store_fixture(CANARIES, PATHS, databases="sqlite")


@pytest.fixture
def service(store: Store) -> KillSwitchService:
    return KillSwitchService(store, BuiltinKillSwitch(), PATHS)


def test_the_flag_endpoint_serves_each_state_with_an_etag_and_304s(
    service: KillSwitchService, store: Store
) -> None:
    async def go() -> list[tuple[int, dict[str, str] | None, str | None]]:
        seen: list[tuple[int, dict[str, str] | None, str | None]] = []
        async with (
            WebServer(create_app(WebContext(store, service)), port=0) as server,
            httpx.AsyncClient(base_url=server.url + "/api/v1/killswitch") as client,
        ):

            async def get(etag: str | None = None) -> str:
                headers = {"If-None-Match": etag} if etag else {}
                response = await client.get("/hub", headers=headers)
                body = response.json() if response.status_code == 200 else None
                seen.append((response.status_code, body, response.headers.get("ETag")))
                return response.headers["ETag"]

            armed = await get()
            await get(armed)
            await service.trip("hub", actor="carol", reason="drill")
            tripped = await get(armed)
            await get(f'"nonsense", {tripped}')
            await service.request_reenable("hub", actor="alice", reason="fixed")
            await service.approve("hub", actor="bob")
            await get(tripped)
        return seen

    seen = asyncio.run(go())

    statuses = [status for status, _, _ in seen]
    assert statuses == [200, 304, 200, 304, 200]
    states = [(body["state"], body["allow"]) for _, body, _ in seen if body is not None]
    assert states == [("armed", "all"), ("tripped", "none"), ("verifying", "canaries")]
    etags = [etag for _, _, etag in seen]
    assert etags[0] == etags[1] != etags[2] == etags[3] != etags[4]
    _, tripped_body, _ = seen[2]
    assert tripped_body is not None
    assert tripped_body["reason"] == "drill"
    assert tripped_body["path"] == "hub"


def test_an_unknown_path_is_answered_tripped(service: KillSwitchService, store: Store) -> None:
    async def go() -> httpx.Response:
        async with (
            WebServer(create_app(WebContext(store, service)), port=0) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            return await client.get("/api/v1/killswitch/nowhere")

    response = asyncio.run(go())

    assert response.status_code == 404
    assert response.json() == {
        "path": "nowhere",
        "state": "tripped",
        "allow": "none",
        "error": "unknown path",
    }


def test_a_failing_database_answers_503_with_the_fail_safe_rule(
    service: KillSwitchService, store: Store
) -> None:
    async def go() -> httpx.Response:
        async with (
            WebServer(create_app(WebContext(store, service)), port=0) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            with store.engine.begin() as conn:  # the table vanishes under the service
                conn.exec_driver_sql("ALTER TABLE kill_switches RENAME TO gone")
            return await client.get("/api/v1/killswitch/hub")

    response = asyncio.run(go())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {
        "path": "hub",
        "error": "state unavailable",
        "assume": "keep the last state received; tripped if none was ever received",
    }
