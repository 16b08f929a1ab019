"""The web viewer: a login form, a session cookie, and a live camera page.

Routes (kill switch path ``web``)::

    GET  /web/login?next=PATH                the login form (#token, #login)
    POST /web/login                          form token=...&next=...: sets the session
                                             cookie and redirects (303) to ``next``
    GET  /web/cameras/{camera_id}            the camera page: <img id="live"> refreshed
                                             every second; no session: 303 to the login
    GET  /web/cameras/{camera_id}/still.jpg  the picture, for the session's tenant

The login token is the tenant's bearer token. Sessions are random, HttpOnly, SameSite
Strict cookies scoped to ``/web`` and expire after ``SESSION_TTL_S``.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import quote

from aiohttp import web

from testbed.cloud import Tenant, TestbedCloud
from testbed.events import owns

PATH: Final = "web"
COOKIE: Final = "camcanary_testbed_session"
SESSION_TTL_S: Final = 600.0
MAX_SESSIONS: Final = 4096
_NEXT = re.compile(r"/web/cameras/[A-Za-z0-9._-]{1,200}")

_LOGIN = """<!doctype html>
<html><head><meta charset="utf-8"><title>Camera cloud: sign in</title></head>
<body><h1>Sign in</h1>{message}
<form method="post" action="/web/login">
<label>Access token <input id="token" name="token" type="password" autocomplete="off"></label>
<input type="hidden" name="next" value="{next}">
<button id="login" type="submit">Sign in</button>
</form></body></html>
"""

_CAMERA = """<!doctype html>
<html><head><meta charset="utf-8"><title>Camera {camera}</title>
<style>body {{ margin: 0; background: #222; }} img {{ display: block; }}</style></head>
<body><img id="live" alt="live view of {camera}" width="640" height="360">
<script>
const live = document.getElementById("live");
const still = {still};
function refresh() {{ live.src = still + "?t=" + Date.now(); }}
live.addEventListener("load", () => setTimeout(refresh, 1000));
live.addEventListener("error", () => setTimeout(refresh, 1000));
refresh();
</script></body></html>
"""


class ViewerApi:
    def __init__(self, cloud: TestbedCloud, *, clock: Callable[[], float] = time.monotonic):
        self.cloud = cloud
        self._clock = clock
        self._sessions: dict[str, tuple[Tenant, float]] = {}

    def install(self, app: web.Application) -> None:
        app.router.add_get("/web/login", self.login_form)
        app.router.add_post("/web/login", self.login)
        app.router.add_get("/web/cameras/{camera_id}", self.camera_page)
        app.router.add_get("/web/cameras/{camera_id}/still.jpg", self.still)

    def _open(self) -> None:
        if self.cloud.is_tripped(PATH):
            raise web.HTTPServiceUnavailable(reason="Integration disabled by kill switch")

    def _tenant(self, request: web.Request) -> Tenant | None:
        entry = self._sessions.get(request.cookies.get(COOKIE, ""))
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def login_form(self, request: web.Request) -> web.Response:
        self._open()
        target = request.query.get("next", "")
        return _page(_LOGIN.format(message="", next=html.escape(target)))

    async def login(self, request: web.Request) -> web.Response:
        self._open()
        form = await request.post()
        token, target = form.get("token"), form.get("next")
        tenant = self.cloud.authenticate(token) if isinstance(token, str) and token else None
        target = target if isinstance(target, str) else ""
        if tenant is None:
            message = '<p id="error">Wrong access token.</p>'
            return _page(_LOGIN.format(message=message, next=html.escape(target)), status=401)
        if not _NEXT.fullmatch(target):  # never an open redirect
            target = f"/web/cameras/{quote(tenant.camera_id)}"
        now = self._clock()
        self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
        if len(self._sessions) >= MAX_SESSIONS:
            raise web.HTTPServiceUnavailable(reason="Too many sessions")
        sid = secrets.token_urlsafe(24)
        self._sessions[sid] = (tenant, now + SESSION_TTL_S)
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/web")
        raise response

    async def camera_page(self, request: web.Request) -> web.Response:
        self._open()
        camera_id = request.match_info["camera_id"]
        tenant = self._tenant(request)
        if tenant is None:
            raise web.HTTPSeeOther(f"/web/login?next={quote(request.path, safe='/')}")
        if not owns(tenant, camera_id):
            raise web.HTTPNotFound(reason="Camera not found")
        still = json.dumps(f"/web/cameras/{quote(camera_id)}/still.jpg").replace("<", "\\u003c")
        return _page(_CAMERA.format(camera=html.escape(camera_id), still=still))

    async def still(self, request: web.Request) -> web.Response:
        self._open()
        tenant = self._tenant(request)
        if tenant is None:
            raise web.HTTPUnauthorized(reason="Not signed in")
        camera_id = request.match_info["camera_id"]
        if not owns(tenant, camera_id):
            raise web.HTTPNotFound(reason="Camera not found")
        frame = self.cloud.cameras[camera_id].latest()
        return web.Response(
            body=frame.jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )


def _page(text: str, status: int = 200) -> web.Response:
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src 'self'",
    }
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)
