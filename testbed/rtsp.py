"""A compact RTSP server (RFC 2326) for the virtual cameras: H.264 over RTP over TCP.

    rtsp://HOST:PORT/cameras/{camera_id}?token=TOKEN     (or ``Authorization: Bearer``)

Methods: OPTIONS, DESCRIBE (SDP with the stream's SPS/PPS), SETUP (only
``RTP/AVP/TCP;interleaved=...``: UDP is answered 461), PLAY, TEARDOWN, and
GET_PARAMETER/SET_PARAMETER as keep-alives. DESCRIBE checks the ``rtsp`` kill
switch, the token and camera ownership; the rest of the connection is bound to it.

After PLAY each connection gets its own libx264 encoder (PyAV) at `STREAM_FPS`, fed
the camera's latest frame; access units are packetized per RFC 6184 (single NAL unit
packets, FU-A above `MAX_PAYLOAD`) and sent interleaved (RFC 2326 §10.12). FFmpeg's
client reads it with ``rtsp_transport=tcp``. Every connection is bounded in request
size and lifetime.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import re
import secrets
import struct
import time
from fractions import Fraction
from typing import Final
from urllib.parse import parse_qs, urlsplit

import av
import numpy as np
from PIL import Image

from canaries import VirtualCanaryCamera
from testbed.cloud import TOKEN, TestbedCloud

log = logging.getLogger(__name__)

STREAM_FPS: Final = 5
MAX_PAYLOAD: Final = 1400
MAX_REQUEST: Final = 16 * 1024
MAX_CONNECTION_S: Final = 120.0
IDLE_S: Final = 30.0
PAYLOAD_TYPE: Final = 96
METHODS: Final = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER, SET_PARAMETER"


class _Encoder:
    """libx264 for one connection: Annex B access units, SPS/PPS before each key frame."""

    def __init__(self, size: tuple[int, int]) -> None:
        context = av.CodecContext.create("libx264", "w")
        assert isinstance(context, av.VideoCodecContext)
        context.width, context.height = size
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, STREAM_FPS)
        context.framerate = Fraction(STREAM_FPS, 1)
        context.thread_count = 1
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "crf": "26",
            "x264-params": f"keyint={2 * STREAM_FPS}:repeat-headers=1",
        }
        self._context = context
        self._pts = 0

    def encode(self, jpeg: bytes) -> list[bytes]:
        """The NAL units (without start codes) of one frame."""
        with Image.open(io.BytesIO(jpeg)) as image:
            pixels = np.asarray(image.convert("RGB"))
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        frame.pts = self._pts
        self._pts += 1
        data = b"".join(bytes(packet) for packet in self._context.encode(frame))
        return split_nals(data)


def split_nals(annex_b: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    units = []
    for chunk in annex_b.split(b"\x00\x00\x01"):
        unit = chunk.rstrip(b"\x00") if chunk.endswith(b"\x00") else chunk
        if unit:
            units.append(unit)
    return units


def packetize(nals: list[bytes], seq: int, timestamp: int, ssrc: int) -> tuple[list[bytes], int]:
    """RTP packets (RFC 6184, packetization-mode 1) of one access unit; the next seq."""
    packets: list[bytes] = []
    payloads: list[bytes] = []
    for nal in nals:
        if len(nal) <= MAX_PAYLOAD:
            payloads.append(nal)
            continue
        indicator = (nal[0] & 0xE0) | 28  # FU-A
        body = nal[1:]
        for start in range(0, len(body), MAX_PAYLOAD):
            flags = (0x80 if start == 0 else 0) | (0x40 if start + MAX_PAYLOAD >= len(body) else 0)
            header = bytes([indicator, flags | (nal[0] & 0x1F)])
            payloads.append(header + body[start : start + MAX_PAYLOAD])
    for index, payload in enumerate(payloads):
        marker = 0x80 if index == len(payloads) - 1 else 0
        header = struct.pack("!BBHII", 0x80, marker | PAYLOAD_TYPE, seq & 0xFFFF, timestamp, ssrc)
        packets.append(header + payload)
        seq += 1
    return packets, seq


def sdp(session: str, sps: bytes, pps: bytes) -> str:
    sets = ",".join(base64.b64encode(unit).decode() for unit in (sps, pps))
    profile = sps[1:4].hex() if len(sps) >= 4 else "42c01e"
    return (
        f"v=0\r\no=- {session} 1 IN IP4 127.0.0.1\r\ns=camcanary testbed\r\n"
        "c=IN IP4 0.0.0.0\r\nt=0 0\r\n"
        f"m=video 0 RTP/AVP {PAYLOAD_TYPE}\r\na=rtpmap:{PAYLOAD_TYPE} H264/90000\r\n"
        f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1;profile-level-id={profile};"
        f"sprop-parameter-sets={sets}\r\na=control:trackID=0\r\n"
    )


class _Reply(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Connection:
    def __init__(
        self, cloud: TestbedCloud, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.cloud, self.reader, self.writer = cloud, reader, writer
        self.session = secrets.token_hex(8)
        self.camera: VirtualCanaryCamera | None = None
        self.encoder: _Encoder | None = None
        self.first: list[bytes] = []  # the first access unit, encoded at DESCRIBE
        self.channel = 0
        self.streaming: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            async with asyncio.timeout(MAX_CONNECTION_S):
                while await self._one_message():
                    pass
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # idle, gone, cut short or oversized (LimitOverrunError is a ValueError)
        finally:
            if self.streaming is not None:
                self.streaming.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await self.streaming
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()

    async def _one_message(self) -> bool:
        async with asyncio.timeout(IDLE_S):
            first = await self.reader.readexactly(1)
            if first == b"$":  # interleaved RTCP from the client: skip it
                _, length = struct.unpack("!BH", await self.reader.readexactly(3))
                await self.reader.readexactly(length)
                return True
            head = first + await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, url, *_ = [*lines[0].split(" "), "", ""]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_REQUEST:
            return False
        await self.reader.readexactly(int(length))
        cseq = headers.get("cseq", "0")[:16]
        try:
            extra, body = self._answer(method, url, headers)
        except _Reply as reply:
            self._send(reply.status, reply.reason, cseq, {}, "")
            return True
        self._send(200, "OK", cseq, extra, body)
        if method == "PLAY" and self.streaming is None:
            self.streaming = asyncio.create_task(self._stream())
        return method != "TEARDOWN"

    def _answer(self, method: str, url: str, headers: dict[str, str]) -> tuple[dict[str, str], str]:
        if method == "OPTIONS":
            return {"Public": METHODS}, ""
        if method in ("GET_PARAMETER", "SET_PARAMETER", "TEARDOWN"):
            return {"Session": self.session}, ""
        if method == "DESCRIBE":
            return self._describe(url, headers)
        if self.camera is None:
            raise _Reply(455, "Method Not Valid in This State")
        if method == "SETUP":
            transport = headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport.upper():
                raise _Reply(461, "Unsupported Transport")
            channels = re.search(r"interleaved=(\d{1,3})", transport)
            self.channel = int(channels.group(1)) % 254 if channels else 0
            return {
                "Transport": f"RTP/AVP/TCP;unicast;interleaved={self.channel}-{self.channel + 1}",
                "Session": f"{self.session};timeout=60",
            }, ""
        if method == "PLAY":
            return {"Session": self.session, "Range": "npt=0.000-"}, ""
        raise _Reply(501, "Not Implemented")

    def _describe(self, url: str, headers: dict[str, str]) -> tuple[dict[str, str], str]:
        if self.cloud.is_tripped("rtsp"):
            raise _Reply(503, "Service Unavailable")
        parts = urlsplit(url)
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        token = token or parse_qs(parts.query).get("token", [""])[0]
        tenant = self.cloud.authenticate(token) if TOKEN.fullmatch(token) else None
        if tenant is None:
            raise _Reply(401, "Unauthorized")
        segments = parts.path.strip("/").split("/")
        camera = None
        if len(segments) == 2 and segments[0] == "cameras":
            camera = self.cloud.camera_of(tenant, segments[1])
        if camera is None:
            raise _Reply(404, "Not Found")
        self.camera = camera
        self.encoder = _Encoder(camera.size)
        self.first = self.encoder.encode(camera.latest().jpeg)  # key frame: SPS, PPS, IDR
        sps = next((n for n in self.first if n[0] & 0x1F == 7), b"")
        pps = next((n for n in self.first if n[0] & 0x1F == 8), b"")
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/"
        return {"Content-Base": base, "Content-Type": "application/sdp"}, sdp(
            self.session, sps, pps
        )

    def _send(self, status: int, reason: str, cseq: str, extra: dict[str, str], body: str) -> None:
        lines = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}", "Server: camcanary-testbed"]
        lines += [f"{name}: {value}" for name, value in extra.items()]
        payload = body.encode()
        if payload:
            lines.append(f"Content-Length: {len(payload)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)

    async def _stream(self) -> None:
        assert self.camera is not None
        assert self.encoder is not None
        camera, encoder = self.camera, self.encoder
        ssrc, seq, index = secrets.randbits(32), secrets.randbits(16), 0
        nals, began = self.first, time.monotonic()
        try:
            while not self.cloud.is_tripped("rtsp"):
                timestamp = (index * 90_000 // STREAM_FPS) & 0xFFFFFFFF
                packets, seq = packetize(nals, seq, timestamp, ssrc)
                frames = (struct.pack("!cBH", b"$", self.channel, len(p)) + p for p in packets)
                self.writer.write(b"".join(frames))
                await self.writer.drain()
                index += 1
                await asyncio.sleep(max(0.0, began + index / STREAM_FPS - time.monotonic()))
                nals = await asyncio.to_thread(encoder.encode, camera.latest().jpeg)
        except ConnectionError:
            pass  # the client went away: the normal end of a stream
        except Exception:  # the server must outlive any one stream
            log.exception("RTSP stream of %s failed", camera.canary)
        finally:
            self.writer.close()


class RtspServer:
    """``await start()`` serves the cloud's cameras at ``url``; ``await stop()``."""

    def __init__(self, cloud: TestbedCloud, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cloud, self.host, self.port = cloud, host, port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the RTSP server is not running")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"rtsp://{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=MAX_REQUEST
        )

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(_Connection(self.cloud, reader, writer).run())
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()
