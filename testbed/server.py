"""The testbed cloud on the wire: an aiohttp application and a loopback server.

Routes (every error is JSON ``{"error": ...}``):

    GET  /app/v1/cameras/{camera_id}/snapshot   vendor app, bearer token of the tenant
    GET  /hub/v1/cameras/{camera_id}/still      smart display, same auth, quality cache
    GET  /live/v1/...                           MJPEG, HLS, MP4 clips: see `testbed.streams`
    rtsp://HOST:RTSP_PORT/cameras/{camera_id}   RTSP (``server.rtsp_url``): `testbed.rtsp`
    POST /admin/v1/killswitch                   HMAC-signed, see `testbed.cloud.sign_killswitch`
    POST /admin/v1/bugs                         admin bearer token
    GET  /admin/v1/state                        admin bearer token
    GET  /healthz
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from canaries import VirtualCanaryCamera
from testbed.bugs import BUGS
from testbed.cloud import KILLSWITCH_STATES, PATHS, TOKEN, TestbedCloud
from testbed.events import EventsApi
from testbed.gateway import KillSwitchPoller
from testbed.hub import ACCEPT_CH, select_tier
from testbed.rtsp import RtspServer
from testbed.serving import serve
from testbed.smarthome import SmartHomeApi
from testbed.stale import snapshot_frame
from testbed.streams import LiveService
from testbed.viewer import ViewerApi

log = logging.getLogger(__name__)

CLOUD: Final = web.AppKey("cloud", TestbedCloud)
MAX_BODY_BYTES: Final = 16 * 1024
MAX_REASON_CHARS: Final = 500
_BEARER = re.compile(rf"Bearer +({TOKEN.pattern})", re.IGNORECASE)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- errors -----------------------------------------------------------------------------


class _Reject(Exception):
    """A request answered with a JSON error; raised by validation, caught by middleware."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.payload: dict[str, Any] = {"error": error, **extra}


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Reject as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return web.json_response(exc.payload, status=exc.status, headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": exc.reason.lower()}, status=exc.status, headers=headers)
    except Exception:  # the server must survive any handler bug
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


# -- helpers ----------------------------------------------------------------------------


def _bearer(request: web.Request) -> str:
    match = _BEARER.fullmatch(request.headers.get("Authorization", "").strip())
    if match is None:
        raise _Reject(401, "missing or malformed bearer token")
    return match.group(1)


def _camera(request: web.Request, path: str) -> tuple[str, VirtualCanaryCamera]:
    """Kill switch, then token, then ownership: the camera id and camera of the tenant."""
    cloud = request.app[CLOUD]
    if cloud.is_tripped(path):
        raise _Reject(503, "integration disabled by kill switch", path=path)
    tenant = cloud.authenticate(_bearer(request))
    if tenant is None:
        raise _Reject(401, "invalid bearer token")
    camera_id = request.match_info["camera_id"]
    camera = cloud.camera_of(tenant, camera_id)
    if camera is None:  # same answer for unknown cameras and other tenants' cameras
        raise _Reject(404, "camera not found")
    return camera_id, camera


def _require_admin(request: web.Request) -> TestbedCloud:
    cloud = request.app[CLOUD]
    if not cloud.is_admin(_bearer(request)):
        raise _Reject(401, "invalid admin token")
    return cloud


def _json_object(raw: bytes, required: set[str], optional: frozenset[str] = frozenset()) -> Any:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Reject(400, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _Reject(400, "body must be a JSON object")
    missing, unknown = required - body.keys(), body.keys() - required - optional
    if missing or unknown:
        raise _Reject(400, "wrong fields", missing=sorted(missing), unknown=sorted(unknown))
    return body


def _iso(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="milliseconds")


# -- handlers ---------------------------------------------------------------------------


async def app_snapshot(request: web.Request) -> web.Response:
    camera_id, camera = _camera(request, "app")
    cloud = request.app[CLOUD]
    frame = await snapshot_frame(cloud.stale, cloud.bugs, camera_id, camera)
    headers = {"X-Frame-Time": _iso(frame.at), "Cache-Control": "no-store"}
    return web.Response(body=frame.jpeg, content_type="image/jpeg", headers=headers)


async def hub_still(request: web.Request) -> web.Response:
    camera_id, camera = _camera(request, "hub")
    cloud = request.app[CLOUD]
    tier = select_tier(request.headers)
    still = await cloud.hub_cache.still(camera_id, tier, camera.latest, bugs=cloud.bugs)
    headers = {
        "Accept-CH": ACCEPT_CH,
        "X-Quality-Tier": still.tier,
        "X-Frame-Time": _iso(still.at),
        "Cache-Control": "no-store",
    }
    return web.Response(body=still.jpeg, content_type="image/jpeg", headers=headers)


async def admin_killswitch(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    raw = await request.read()
    timestamp = request.headers.get("X-Camcanary-Timestamp")
    if not cloud.verify_killswitch(raw, timestamp, request.headers.get("X-Camcanary-Signature")):
        raise _Reject(401, "bad signature or stale timestamp")
    body = _json_object(raw, {"path", "state"}, frozenset({"reason"}))
    path, state, reason = body["path"], body["state"], body.get("reason", "")
    if path not in PATHS:
        raise _Reject(400, "unknown path", valid=list(PATHS))
    if state not in KILLSWITCH_STATES:
        raise _Reject(400, "unknown state", valid=list(KILLSWITCH_STATES))
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise _Reject(400, f"reason must be a string of at most {MAX_REASON_CHARS} characters")
    switch = cloud.set_killswitch(path, state, reason)
    log.warning("kill switch %s %s: %r", path, state, reason)
    return web.json_response(switch.to_json())


async def admin_bugs(request: web.Request) -> web.Response:
    cloud = _require_admin(request)
    body = _json_object(await request.read(), {"bug", "enabled"})
    name, enabled = body["bug"], body["enabled"]
    if not isinstance(name, str) or name not in BUGS:
        raise _Reject(400, "unknown bug", valid=sorted(BUGS))
    if not isinstance(enabled, bool):
        raise _Reject(400, "enabled must be true or false")
    deployed = cloud.set_bug(name, enabled)
    log.warning("bug %s %s", name, "deployed" if enabled else "removed")
    return web.json_response({"bugs": sorted(deployed)})


async def admin_state(request: web.Request) -> web.Response:
    return web.json_response(_require_admin(request).describe())


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


# -- application and server -------------------------------------------------------------


async def _run_cameras(app: web.Application) -> AsyncIterator[None]:
    cloud = app[CLOUD]
    await cloud.start()
    try:
        yield
    finally:
        await cloud.stop()


def create_app(cloud: TestbedCloud) -> web.Application:
    """The testbed application; its cameras run while the application does."""
    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_BODY_BYTES)
    app[CLOUD] = cloud
    app.cleanup_ctx.append(_run_cameras)
    app.router.add_get("/app/v1/cameras/{camera_id}/snapshot", app_snapshot)
    app.router.add_get("/hub/v1/cameras/{camera_id}/still", hub_still)
    app.router.add_routes(LiveService(cloud).routes())
    EventsApi(cloud).install(app)  # /events/v1/...
    SmartHomeApi(cloud).install(app)  # /google/v1/..., /alexa/v1/..., /streams/v1/...
    ViewerApi(cloud).install(app)  # /web/...
    app.router.add_post("/admin/v1/killswitch", admin_killswitch)
    app.router.add_post("/admin/v1/bugs", admin_bugs)
    app.router.add_get("/admin/v1/state", admin_state)
    app.router.add_get("/healthz", healthz)
    return app


class TestbedServer:
    """``async with TestbedServer(cloud) as server:`` serves the cloud at ``server.url``."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self,
        cloud: TestbedCloud,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        killswitch_poll: str | None = None,
        poll_interval_s: float = 0.5,
        rtsp_port: int = 0,
    ) -> None:
        self.cloud = cloud
        self.host = host
        self.port = port
        # The gateways honour camcanary's flag endpoint at this URL (…/api/v1/killswitch).
        self.poller = (
            None
            if killswitch_poll is None
            else KillSwitchPoller(cloud, killswitch_poll, interval_s=poll_interval_s)
        )
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.rtsp = RtspServer(cloud, host, rtsp_port)

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the testbed server is not running")
        return self._url

    @property
    def rtsp_url(self) -> str:
        """``rtsp://HOST:PORT``; the cameras are at ``/cameras/{camera_id}``."""
        return self.rtsp.url

    async def __aenter__(self) -> TestbedServer:
        self._runner, self._url = await serve(
            create_app(self.cloud), self.host, self.port, shutdown_timeout=5.0
        )
        try:
            await self.rtsp.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        if self.poller is not None:
            try:
                await self.poller.start()
            except BaseException:
                await self.__aexit__(None, None, None)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.poller is not None:
            await self.poller.stop()
        await self.rtsp.stop()
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()
