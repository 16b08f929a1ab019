"""Voice-assistant and smart-display integrations: Google smart home and Alexa.

Routes::

    POST /google/v1/fulfillment   action.devices.EXECUTE / GetCameraStream; the OAuth
                                  access token is the tenant's bearer token (path google)
    POST /alexa/v1/directives     Alexa.CameraStreamController InitializeCameraStreams;
                                  the token is the directive's endpoint.scope (path alexa)
    GET  /streams/v1/{sid}/clip.mp4      a short progressive MP4 clip of the camera
    GET  /streams/v1/{sid}/index.m3u8    a live HLS media playlist of one segment
    GET  /streams/v1/{sid}/{seq}.ts      that MPEG-TS segment
    GET  /streams/v1/{sid}/image.jpg     the camera's still (Alexa's imageUri)

Shapes follow Google's CameraStream trait (``states.cameraStreamAccessUrl``,
``cameraStreamProtocol``; https://developers.home.google.com/cloud-to-cloud/traits/
camerastream) and Alexa's CameraStreamController (``payload.cameraStreams[].uri``,
``imageUri``; https://developer.amazon.com/docs/device-apis/alexa-camerastreamcontroller.html).
A stream URL carries its own unguessable session id, as signed stream URLs do, valid for
``SESSION_TTL_S``; the stream routes honour the kill switch of the path that minted it.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import av
from aiohttp import web
from PIL import Image

from testbed.cloud import Tenant, TestbedCloud
from testbed.events import authorize, owns

SESSION_TTL_S: Final = 60.0
MAX_SESSIONS: Final = 4096
CLIP_FRAMES: Final = 4
CLIP_FPS: Final = 4
GOOGLE_PROTOCOLS: Final = ("progressive_mp4", "hls")  # in the testbed's order of preference
GET_STREAM: Final = "action.devices.commands.GetCameraStream"


@dataclass(frozen=True)
class Session:
    camera_id: str
    path: str
    expires: float


def encode_clip(jpeg: bytes, container: str, frames: int = CLIP_FRAMES) -> bytes:
    """``frames`` H.264 frames of ``jpeg`` in an ``mp4`` or ``mpegts`` container (blocking)."""
    with Image.open(io.BytesIO(jpeg)) as image:
        picture = image.convert("RGB")
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as output:
        stream = output.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height = picture.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "stillimage"}
        stream.codec_context.time_base = Fraction(1, CLIP_FPS)
        for index in range(frames):
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            frame.time_base = Fraction(1, CLIP_FPS)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return out.getvalue()


class SmartHomeApi:
    """Google fulfillment, Alexa directives and the stream sessions they mint."""

    def __init__(self, cloud: TestbedCloud, *, clock: Any = time.monotonic) -> None:
        self.cloud = cloud
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def install(self, app: web.Application) -> None:
        app.router.add_post("/google/v1/fulfillment", self.google)
        app.router.add_post("/alexa/v1/directives", self.alexa)
        app.router.add_get("/streams/v1/{sid}/clip.mp4", self.clip)
        app.router.add_get("/streams/v1/{sid}/index.m3u8", self.playlist)
        app.router.add_get("/streams/v1/{sid}/{seq:[0-9]{1,12}}.ts", self.segment)
        app.router.add_get("/streams/v1/{sid}/image.jpg", self.image)

    # -- sessions --------------------------------------------------------------------

    def _mint(self, request: web.Request, camera_id: str, path: str) -> str:
        now = self._clock()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
        if len(self._sessions) >= MAX_SESSIONS:
            raise web.HTTPServiceUnavailable(reason="Too many stream sessions")
        sid = secrets.token_urlsafe(18)
        self._sessions[sid] = Session(camera_id, path, now + SESSION_TTL_S)
        return f"{request.scheme}://{request.host}/streams/v1/{sid}"

    def _session(self, request: web.Request) -> Session:
        session = self._sessions.get(request.match_info["sid"])
        if session is None or session.expires <= self._clock():
            raise web.HTTPNotFound(reason="Stream not found or expired")
        if self.cloud.is_tripped(session.path):
            raise web.HTTPServiceUnavailable(reason="Integration disabled by kill switch")
        return session

    async def _clip(self, session: Session, container: str) -> bytes:
        jpeg = self.cloud.cameras[session.camera_id].latest().jpeg
        return await asyncio.to_thread(encode_clip, jpeg, container)

    async def clip(self, request: web.Request) -> web.Response:
        body = await self._clip(self._session(request), "mp4")
        return web.Response(body=body, content_type="video/mp4")

    async def playlist(self, request: web.Request) -> web.Response:
        self._session(request)
        seq = int(time.time())  # a live playlist: one fresh segment a second
        text = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
            f"#EXT-X-MEDIA-SEQUENCE:{seq}\n#EXTINF:1.0,\n{seq}.ts\n"
        )
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")

    async def segment(self, request: web.Request) -> web.Response:
        body = await self._clip(self._session(request), "mpegts")
        return web.Response(body=body, content_type="video/mp2t")

    async def image(self, request: web.Request) -> web.Response:
        session = self._session(request)
        jpeg = self.cloud.cameras[session.camera_id].latest().jpeg
        return web.Response(body=jpeg, content_type="image/jpeg")

    # -- Google smart home -------------------------------------------------------------

    async def google(self, request: web.Request) -> web.Response:
        tenant = authorize(self.cloud, request, "google")
        body = _json(await request.read())
        try:
            request_id = body["requestId"]
            [intent] = body["inputs"]
            if intent["intent"] != "action.devices.EXECUTE":
                raise _Shape(f"unsupported intent {str(intent['intent'])[:60]!r}")
            commands = intent["payload"]["commands"]
            results = [self._google_command(request, tenant, c) for c in commands]
        except (KeyError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(reason=f"Malformed EXECUTE request: {exc}"[:200]) from None
        return web.json_response({"requestId": request_id, "payload": {"commands": results}})

    def _google_command(
        self, request: web.Request, tenant: Tenant, command: dict[str, Any]
    ) -> dict[str, Any]:
        ids = [str(device["id"]) for device in command["devices"]]
        [execution] = command["execution"]
        if execution["command"] != GET_STREAM:
            return {"ids": ids, "status": "ERROR", "errorCode": "functionNotSupported"}
        wanted = execution["params"]["SupportedStreamProtocols"]
        protocol = next((p for p in GOOGLE_PROTOCOLS if p in wanted), None)
        if len(ids) != 1 or not owns(tenant, ids[0]):
            return {"ids": ids, "status": "ERROR", "errorCode": "deviceNotFound"}
        if protocol is None:
            return {"ids": ids, "status": "ERROR", "errorCode": "protocolNotSupported"}
        base = self._mint(request, ids[0], "google")
        url = f"{base}/clip.mp4" if protocol == "progressive_mp4" else f"{base}/index.m3u8"
        states = {"online": True, "cameraStreamAccessUrl": url, "cameraStreamProtocol": protocol}
        return {"ids": ids, "status": "SUCCESS", "states": states}

    # -- Alexa -------------------------------------------------------------------------

    async def alexa(self, request: web.Request) -> web.Response:
        if self.cloud.is_tripped("alexa"):
            raise web.HTTPServiceUnavailable(reason="Integration disabled by kill switch")
        body = _json(await request.read())
        try:
            directive = body["directive"]
            header, endpoint = directive["header"], directive["endpoint"]
            if (header["namespace"], header["name"]) != (
                "Alexa.CameraStreamController",
                "InitializeCameraStreams",
            ):
                raise _Shape("unsupported directive")
            token = endpoint["scope"]["token"]
            camera_id = str(endpoint["endpointId"])
            wanted = [str(s["protocol"]) for s in directive["payload"]["cameraStreams"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(reason=f"Malformed directive: {exc}"[:200]) from None
        tenant = self.cloud.authenticate(str(token)) if isinstance(token, str) else None
        if tenant is None:
            return _alexa_error(header, 401, "INVALID_AUTHORIZATION_CREDENTIAL")
        if not owns(tenant, camera_id):
            return _alexa_error(header, 404, "NO_SUCH_ENDPOINT")
        if "HLS" not in wanted:
            return _alexa_error(header, 400, "INVALID_VALUE")
        base = self._mint(request, camera_id, "alexa")
        stream = {
            "uri": f"{base}/index.m3u8",
            "expirationTime": "",
            "idleTimeoutSeconds": 30,
            "protocol": "HLS",
            "resolution": {"width": 640, "height": 360},
            "authorizationType": "NONE",
            "videoCodec": "H264",
            "audioCodec": "NONE",
        }
        event = {
            "header": {
                "namespace": "Alexa.CameraStreamController",
                "name": "Response",
                "payloadVersion": "3",
                "messageId": str(uuid.uuid4()),
                "correlationToken": header.get("correlationToken", ""),
            },
            "endpoint": {"endpointId": camera_id},
            "payload": {"cameraStreams": [stream], "imageUri": f"{base}/image.jpg"},
        }
        return web.json_response({"event": event})


class _Shape(ValueError):
    """A request of the right JSON but the wrong shape."""


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(reason="Body is not valid JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="Body must be a JSON object")
    return body


def _alexa_error(header: dict[str, Any], status: int, kind: str) -> web.Response:
    event = {
        "header": {
            "namespace": "Alexa",
            "name": "ErrorResponse",
            "payloadVersion": "3",
            "messageId": str(uuid.uuid4()),
            "correlationToken": header.get("correlationToken", ""),
        },
        "payload": {"type": kind, "message": kind.replace("_", " ").lower()},
    }
    return web.json_response({"event": event}, status=status)
