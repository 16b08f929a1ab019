"""Live streams of the virtual cameras: MJPEG, HLS (with live sessions) and MP4 clips.

Routes (the tenant's bearer token, or ``?token=`` for clients that cannot send
headers, e.g. players handed a stream URL by a smart-home integration):

    GET /live/v1/cameras/{camera_id}/mjpeg             multipart/x-mixed-replace    path mjpeg
    GET /live/v1/cameras/{camera_id}/hls/master.m3u8   opens a live session         path hls
    GET /live/v1/sessions/{session}/media.m3u8         the session's sliding window path hls
    GET /live/v1/sessions/{session}/{seq}.ts           one MPEG-TS segment          path hls
    GET /live/v1/cameras/{camera_id}/clip.mp4          a short progressive MP4      path hls

Segments are encoded lazily with PyAV (libx264, ``SEGMENT_S`` seconds at the camera's
frame rate, each starting with a key frame) when a playlist asks for the newest one,
and kept for a window of ``WINDOW`` segments: an idle camera costs nothing.

With ``eufy-2021`` deployed, the live-session table treats every new session that
comes within ``RECONNECT_WINDOW_S`` of the previous one on the path as that client
reconnecting, and attaches it to the previous session's camera stream, whoever's it
was. Every session is still its own tenant's (tokens are checked); only the stream is
wrong, as in the May 2021 Eufy incident.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from fractions import Fraction
from typing import Final
from urllib.parse import quote

import av
import numpy as np
from aiohttp import web
from PIL import Image

from canaries import VirtualCanaryCamera
from testbed.cloud import TOKEN, Tenant, TestbedCloud

SEGMENT_S: Final = 1.0
WINDOW: Final = 3
RECONNECT_WINDOW_S: Final = 5.0
SESSION_TTL_S: Final = 60.0
MAX_SESSIONS: Final = 1000
MAX_MJPEG_S: Final = 120.0  # a viewer left open is cut off
BOUNDARY: Final = "camcanary-frame"
EUFY_BUG: Final = "eufy-2021"
PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"


# -- encoding ---------------------------------------------------------------------------


def encode_video(
    jpegs: Sequence[bytes],
    fps: float,
    container_format: str,
    first_pts: int = 0,
    *,
    options: dict[str, str] | None = None,
) -> bytes:
    """H.264 in ``mpegts`` or ``mp4``: one frame per JPEG, the first a key frame.

    ``options`` go to the muxer (``movflags=frag_keyframe+empty_moov`` for fMP4)."""
    rate = Fraction(fps).limit_denominator(1000)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format, options=options or {}) as out:
        stream = out.add_stream("libx264", rate=rate)
        with Image.open(io.BytesIO(jpegs[0])) as first:
            stream.width, stream.height = first.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1  # 2 shared cores: one encoder, one thread
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26"}
        for index, jpeg in enumerate(jpegs):
            with Image.open(io.BytesIO(jpeg)) as image:
                pixels = np.asarray(image.convert("RGB"))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = first_pts + index, 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


class LiveSegments:
    """One camera's live HLS window: segment ``seq`` covers [seq, seq+1) x SEGMENT_S."""

    def __init__(self, camera: VirtualCanaryCamera, clock: Callable[[], float] = time.time):
        self.camera = camera
        self._clock = clock
        self._segments: OrderedDict[int, bytes] = OrderedDict()
        self._lock = asyncio.Lock()
        self.encoded = 0

    async def window(self) -> list[int]:
        """The cached sequence numbers, after encoding the current segment if missing."""
        seq = int(self._clock() // SEGMENT_S)
        async with self._lock:  # concurrent viewers share one encode
            if seq not in self._segments:
                frames = max(1, round(self.camera.fps * SEGMENT_S))
                jpeg = self.camera.latest().jpeg
                data = await asyncio.to_thread(
                    encode_video, [jpeg] * frames, self.camera.fps, "mpegts", seq * frames
                )
                self._segments[seq] = data
                self.encoded += 1
                while len(self._segments) > WINDOW:
                    self._segments.popitem(last=False)
            return list(self._segments)

    def segment(self, seq: int) -> bytes | None:
        return self._segments.get(seq)


# -- live sessions ----------------------------------------------------------------------


@dataclass
class LiveSession:
    id: str
    tenant: str
    camera_id: str  # the stream the session plays
    last_seen: float


class SessionTable:
    """Live HLS sessions, bounded in number and expiring when idle."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self._deployed: frozenset[str] = frozenset()
        self.reattached = 0

    def attach(self, tenant: Tenant, bugs: Set[str]) -> LiveSession:
        now = self._clock()
        if bugs != self._deployed:  # a server update restarts the service: no sessions
            self._sessions.clear()
            self._deployed = frozenset(bugs)
        self._expire(now)
        camera_id = tenant.camera_id
        if EUFY_BUG in bugs and self._sessions:
            # The bug: "reconnecting" is keyed by recency on the path, not by client.
            previous = next(reversed(self._sessions.values()))
            if now - previous.last_seen < RECONNECT_WINDOW_S:
                camera_id = previous.camera_id
                self.reattached += camera_id != tenant.camera_id
        session = LiveSession(secrets.token_urlsafe(16), tenant.name, camera_id, now)
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str, tenant: Tenant) -> LiveSession | None:
        """The tenant's session; None for unknown, expired and other tenants' sessions."""
        now = self._clock()
        self._expire(now)
        session = self._sessions.get(session_id)
        if session is None or session.tenant != tenant.name:
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def _expire(self, now: float) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_seen < SESSION_TTL_S:
                break
            self._sessions.popitem(last=False)


# -- HTTP -------------------------------------------------------------------------------


class LiveService:
    """The live routes of one testbed cloud; ``routes()`` for the aiohttp app."""

    def __init__(self, cloud: TestbedCloud) -> None:
        self.cloud = cloud
        self.sessions = SessionTable()
        self.segments = {cid: LiveSegments(cam) for cid, cam in cloud.cameras.items()}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/live/v1/cameras/{camera_id}/mjpeg", self.mjpeg),
            web.get("/live/v1/cameras/{camera_id}/hls/master.m3u8", self.master),
            web.get("/live/v1/sessions/{session}/media.m3u8", self.media),
            web.get(r"/live/v1/sessions/{session}/{seq:\d{1,12}}.ts", self.segment),
            web.get("/live/v1/cameras/{camera_id}/clip.mp4", self.clip),
        ]

    def _tenant(self, request: web.Request, path: str) -> tuple[Tenant, str]:
        """Kill switch, then token (header or query); the tenant and its token."""
        if self.cloud.is_tripped(path):
            raise web.HTTPServiceUnavailable(reason="integration disabled by kill switch")
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        token = token or request.query.get("token", "")
        tenant = self.cloud.authenticate(token) if TOKEN.fullmatch(token) else None
        if tenant is None:
            raise web.HTTPUnauthorized(reason="missing or invalid token")
        return tenant, token

    def _camera(self, request: web.Request, path: str) -> tuple[Tenant, str, VirtualCanaryCamera]:
        tenant, token = self._tenant(request, path)
        camera = self.cloud.camera_of(tenant, request.match_info["camera_id"])
        if camera is None:
            raise web.HTTPNotFound(reason="camera not found")
        return tenant, token, camera

    async def mjpeg(self, request: web.Request) -> web.StreamResponse:
        _, _, camera = self._camera(request, "mjpeg")
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        ends = time.monotonic() + MAX_MJPEG_S
        while time.monotonic() < ends and not self.cloud.is_tripped("mjpeg"):
            jpeg = camera.latest().jpeg
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
            try:
                await response.write(head.encode() + b"\r\n\r\n" + jpeg + b"\r\n")
            except ConnectionError:  # the viewer went away: the normal end of a stream
                break
            await asyncio.sleep(1 / camera.fps)
        return response

    async def master(self, request: web.Request) -> web.Response:
        tenant, token, camera = self._camera(request, "hls")
        session = self.sessions.attach(tenant, self.cloud.bugs)
        width, height = camera.size
        bandwidth = 300_000
        body = (
            "#EXTM3U\n#EXT-X-VERSION:3\n"
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},"
            'CODECS="avc1.42c01e"\n'
            f"/live/v1/sessions/{session.id}/media.m3u8{_query(request, token)}\n"
        )
        return _playlist(body)

    def _session(self, request: web.Request) -> tuple[LiveSession, str]:
        tenant, token = self._tenant(request, "hls")
        session = self.sessions.get(request.match_info["session"], tenant)
        if session is None:
            raise web.HTTPNotFound(reason="session not found")
        return session, token

    async def media(self, request: web.Request) -> web.Response:
        session, token = self._session(request)
        window = await self.segments[session.camera_id].window()
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{int(SEGMENT_S + 0.999)}",
            f"#EXT-X-MEDIA-SEQUENCE:{window[0]}",
        ]
        for seq in window:
            lines += [f"#EXTINF:{SEGMENT_S:.3f},", f"{seq}.ts{_query(request, token)}"]
        return _playlist("\n".join(lines) + "\n")

    async def segment(self, request: web.Request) -> web.Response:
        session, _ = self._session(request)
        data = self.segments[session.camera_id].segment(int(request.match_info["seq"]))
        if data is None:
            raise web.HTTPNotFound(reason="segment not in the live window")
        return web.Response(body=data, content_type="video/mp2t")

    async def clip(self, request: web.Request) -> web.Response:
        _, _, camera = self._camera(request, "hls")
        frames = max(1, round(camera.fps * SEGMENT_S))
        jpeg = camera.latest().jpeg
        data = await asyncio.to_thread(encode_video, [jpeg] * frames, camera.fps, "mp4")
        return web.Response(
            body=data, content_type="video/mp4", headers={"Cache-Control": "no-store"}
        )


def _query(request: web.Request, token: str) -> str:
    """Carry a query token on to the next URI (a header token needs nothing)."""
    return f"?token={quote(token, safe='')}" if "token" in request.query else ""


def _playlist(body: str) -> web.Response:
    return web.Response(
        text=body, content_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-store"}
    )
