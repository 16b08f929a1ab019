"""The web viewer over plain HTTP: login, session cookie, tenant isolation, no open redirect."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from canaries import Reader
from monitor.judge import classify
from monitor.verdict import Verdict
from testbed import TestbedCloud
from testbed.viewer import COOKIE

Drive = Callable[..., None]


async def login(client: httpx.AsyncClient, token: str, target: str = "") -> httpx.Response:
    return await client.post("/web/login", data={"token": token, "next": target})


def test_viewer_login_sets_a_strict_cookie_and_shows_the_tenants_picture(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        page = await client.get("/web/cameras/cam-a")
        assert page.status_code == 303
        assert page.headers["location"] == "/web/login?next=/web/cameras/cam-a"
        form = await client.get(page.headers["location"])
        assert 'id="token"' in form.text
        assert 'value="/web/cameras/cam-a"' in form.text
        signed_in = await login(client, cloud.tenant("a").token, "/web/cameras/cam-a")
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/web/cameras/cam-a"
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/web"):
            assert flag in cookie
        viewer = await client.get("/web/cameras/cam-a")
        assert viewer.status_code == 200
        assert '<img id="live"' in viewer.text
        still = await client.get("/web/cameras/cam-a/still.jpg")
        judgement = classify(reader, still.content, "a", datetime.now(UTC), 60)
        assert (judgement.verdict, judgement.canary) == (Verdict.OWN, "a")

    drive(scenario)


def test_viewer_refuses_wrong_tokens_other_tenants_cameras_and_open_redirects(
    drive: Drive, cloud: TestbedCloud
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        wrong = await login(client, "not-a-token", "/web/cameras/cam-a")
        assert wrong.status_code == 401
        assert 'id="error"' in wrong.text
        assert COOKIE not in client.cookies
        assert (await client.get("/web/cameras/cam-a/still.jpg")).status_code == 401
        away = await login(client, cloud.tenant("a").token, "https://evil.example/")
        assert away.headers["location"] == "/web/cameras/cam-a"  # never off the viewer
        assert (await client.get("/web/cameras/cam-b")).status_code == 404
        assert (await client.get("/web/cameras/cam-b/still.jpg")).status_code == 404
        escaped = await client.get("/web/login", params={"next": '"><script>x</script>'})
        assert "<script>x" not in escaped.text

    drive(scenario)


def test_viewer_honours_its_kill_switch(drive: Drive, cloud: TestbedCloud) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await login(client, cloud.tenant("a").token)
        cloud.set_killswitch("web", "tripped", "drill")
        assert (await client.get("/web/cameras/cam-a")).status_code == 503
        assert (await client.get("/web/cameras/cam-a/still.jpg")).status_code == 503
        assert (await client.get("/web/login")).status_code == 503

    drive(scenario)
