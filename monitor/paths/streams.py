"""What the stream paths share: host allow-lists, bounded routed HTTP, video decoding.

Everything a stream server sends is untrusted. `Fetcher` dials every request through
the probe's router, checks each URL (the first and every redirect) against the path's
allowed hosts *before* connecting, follows at most ``max_redirects`` and never reads
more than a stated limit. `decode_video` decodes a bounded number of frames from an
in-memory container with PyAV and re-encodes them as JPEG for the reader; a frame is
refused on its declared size before it is decoded, and a probe's frames share one
`PixelBudget`.

`capture_stream_url` takes a stream URL an integration returned (Google Home's
``cameraStreamAccessUrl``, Alexa's stream URI) and hands it to the matching client.
Internally failures are `StreamError`; the adapters turn them into `CaptureFailure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final
from urllib.parse import urljoin, urlsplit, urlunsplit

import av
import httpx
from PIL import Image

from monitor.config import PlaylistOptions, StreamOptions
from monitor.paths.base import Capture, CaptureFailure, Router, http_client
from monitor.paths.bodies import ACCEPT_ENCODING, BodyError, ByteCount, decoded_chunks, decoder_for

# A larger frame is refused on its declared size, before any buffer for it exists.
# av.open's stream probing would decode frames (an H.264 decoder sizes its tables by
# the SPS: 64 MB for 16000x16000): it may not decode at all, the parser still reads
# the size. Our decoder checks max_pixels before allocating a frame (a later SPS).
MAX_PIXELS: Final = 3840 * 2160
DECODER_OPTIONS: Final = {"max_pixels": str(MAX_PIXELS)}
PROBE_OPTIONS: Final = {**DECODER_OPTIONS, "skip_frame": "all"}
MAX_DECODED_FRAMES: Final = 600  # frames decoded per container before giving up
# All the frames of one probe, over every segment: 600 1080p frames, 150 at 4K.
MAX_PROBE_PIXELS: Final = MAX_DECODED_FRAMES * 1920 * 1080
JPEG_QUALITY: Final = 90
HLS_TYPES: Final = ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl")
MP4_TYPES: Final = ("video/mp4", "video/quicktime")
MJPEG_TYPE: Final = "multipart/x-mixed-replace"
IMAGE_TYPES: Final = ("image/jpeg", "image/png")
_REDIRECTS: Final = (301, 302, 303, 307, 308)


class StreamError(Exception):
    """A stream that gave no frame; the message is short, specific and safe to log."""

    def __init__(self, reason: str, status: int | None = None, bytes_received: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.bytes_received = bytes_received

    def failure(self, count: ByteCount | None = None) -> CaptureFailure:
        """The CaptureFailure, with the bytes of ``count`` (a Fetcher's) if there is one."""
        if count is None:
            return CaptureFailure(self.reason, self.status, self.bytes_received)
        return CaptureFailure(self.reason, self.status, count.wire, count.decoded)


def allowed_hosts(config: StreamOptions) -> frozenset[str]:
    """The configured hosts, or only the host of the path's own URL."""
    if config.allowed_hosts:
        return frozenset(host.lower().strip("[]") for host in config.allowed_hosts)
    return frozenset({(urlsplit(config.url).hostname or "").lower()})


def check_url(
    url: str, config: StreamOptions, schemes: tuple[str, ...] = ("http", "https")
) -> None:
    """Raise StreamError unless ``url`` has one of ``schemes`` and an allowed host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes:
        raise StreamError(
            f"refused {parts.scheme or 'relative'} URL (allowed: {', '.join(schemes)})"
        )
    host = (parts.hostname or "").lower()
    if not host or host not in allowed_hosts(config):
        raise StreamError(f"refused host {host or '(none)'!r}: not in allowed_hosts")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise StreamError("malformed port in URL") from None


def default_port(scheme: str) -> int:
    return {"https": 443, "rtsp": 554}.get(scheme.lower(), 80)


@dataclass(frozen=True)
class Body:
    data: bytes
    status: int
    content_type: str
    url: str


class Fetcher:
    """One probe's HTTP client: routed, host-checked, redirect- and size-bounded.

    ``headers`` (the canary's credentials) are sent only to allowed hosts, which are
    the only hosts it talks to. Bodies are decoded (gzip, deflate) in bounded steps;
    ``count`` keeps the bytes read off the wire and the bytes decoded from them.
    """

    def __init__(
        self, config: StreamOptions, router: Router, headers: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.router = router
        self.headers = dict(headers or {})
        self.count = ByteCount()
        self._client = http_client(config)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    @contextlib.asynccontextmanager
    async def stream(self, url: str) -> AsyncIterator[tuple[httpx.Response, str]]:
        """A 200 response (streaming) and the URL it came from, after bounded redirects."""
        for _ in range(self.config.max_redirects + 1):
            check_url(url, self.config)
            parts = urlsplit(url)
            host = parts.hostname or ""
            proxy_host, proxy_port = await self.router(
                host, parts.port or default_port(parts.scheme)
            )
            dial = urlunsplit(parts._replace(netloc=f"{proxy_host}:{proxy_port}"))
            headers = {**self.headers, "Host": parts.netloc, "Accept-Encoding": ACCEPT_ENCODING}
            try:
                async with self._client.stream(
                    "GET", dial, headers=headers, extensions={"sni_hostname": host}
                ) as response:
                    status = response.status_code
                    if status in _REDIRECTS and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if status != 200:
                        raise StreamError(f"HTTP {status}", status)
                    try:
                        decoder_for(response)  # a coding we cannot decode: before any read
                    except BodyError as exc:
                        raise StreamError(str(exc), status) from None
                    yield response, url
                    return
            except httpx.HTTPError as exc:
                raise StreamError(f"{type(exc).__name__}: {exc}".rstrip(": ")[:200]) from exc
        raise StreamError(f"more than {self.config.max_redirects} redirects")

    def captured(self, frames: Sequence[bytes], kind: str) -> Capture:
        """A Capture of ``frames`` with this fetcher's byte counts."""
        return Capture(tuple(frames), 200, self.count.wire, kind, self.count.decoded)

    @property
    def bytes_received(self) -> int:
        """Bytes read off the wire, over every response of this fetcher."""
        return self.count.wire

    async def chunks(
        self, response: httpx.Response, limit: int, what: str = "body"
    ) -> AsyncIterator[bytes]:
        """The decoded body as it arrives; StreamError past ``limit`` bytes (either)."""
        try:
            async for chunk in decoded_chunks(response, limit, self.count, what):
                yield chunk
        except BodyError as exc:
            raise StreamError(str(exc), response.status_code) from exc

    async def read(self, response: httpx.Response, limit: int, what: str = "body") -> bytes:
        """The whole decoded body, or StreamError past ``limit`` bytes."""
        return b"".join([chunk async for chunk in self.chunks(response, limit, what)])

    async def get(self, url: str, limit: int, what: str = "body") -> Body:
        async with self.stream(url) as (response, final_url):
            data = await self.read(response, limit, what)
            return Body(data, response.status_code, content_type(response), final_url)


def content_type(response: httpx.Response) -> str:
    raw: str = response.headers.get("content-type", "")
    return raw.split(";")[0].strip().lower()


# -- decoding ---------------------------------------------------------------------------


def to_jpeg(frame: av.VideoFrame) -> bytes:
    out = io.BytesIO()
    rgb = frame.to_ndarray(format="rgb24")
    Image.fromarray(rgb).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


class PixelBudget:
    """The pixels one probe may still decode, over all its containers."""

    def __init__(self, pixels: int = MAX_PROBE_PIXELS) -> None:
        self.limit = self.left = pixels

    def spend(self, width: int, height: int) -> None:
        self.left -= width * height
        if self.left < 0:
            raise StreamError(f"probe decoded more than its budget of {self.limit} pixels")


def decode_video(
    data: bytes, count: int, container_format: str, budget: PixelBudget | None = None
) -> list[bytes]:
    """The first ``count`` frames of an in-memory ``mpegts`` or ``mp4`` container, as JPEG.

    The format is never probed from the bytes: a probed "video" could be an HLS or
    concat playlist that makes FFmpeg open URLs of the sender's choosing. Blocking: run
    it in a worker thread. Raises StreamError for anything undecodable, for a frame
    over MAX_PIXELS (declared, so before it is decoded) and past ``budget``.
    """
    try:
        with av.open(
            io.BytesIO(data), mode="r", format=container_format, options=PROBE_OPTIONS
        ) as container:
            return decode_container(container, count, budget or PixelBudget())
    except av.FFmpegError as exc:
        raise StreamError(f"undecodable video: {type(exc).__name__}") from exc


def check_frame_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise StreamError(f"frame size {width}x{height} exceeds the limit of {MAX_PIXELS} pixels")


def decode_container(
    container: av.container.InputContainer, count: int, budget: PixelBudget
) -> list[bytes]:
    """The first ``count`` frames of the container's first video stream, as JPEG."""
    if not container.streams.video:
        raise StreamError("no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:  # what FFmpeg leaves when max_pixels refused the size
        raise StreamError(f"no frame size within the limit of {MAX_PIXELS} pixels")
    check_frame_size(width, height)
    # A later SPS may declare a larger frame: the decoder refuses it before allocating.
    stream.codec_context.options = DECODER_OPTIONS
    frames: list[bytes] = []
    for decoded, frame in enumerate(container.decode(stream), start=1):
        check_frame_size(frame.width, frame.height)
        budget.spend(frame.width, frame.height)
        frames.append(to_jpeg(frame))
        if len(frames) >= count or decoded >= MAX_DECODED_FRAMES:
            break
    if not frames:
        raise StreamError("no decodable video frame")
    return frames


def image_size(jpeg: bytes) -> tuple[int, int]:
    """Width and height of an encoded image (tests and diagnostics)."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return image.size


# -- dispatch of untrusted stream URLs ----------------------------------------------------


async def capture_stream_url(
    url: str, config: PlaylistOptions, router: Router
) -> Capture | CaptureFailure:
    """Fetch the first ``config.frames`` frames of a stream URL an integration returned.

    The URL is untrusted: it must point at an allowed host (``config.allowed_hosts``,
    default the host of ``config.url``) with http(s) or rtsp; no credentials are sent
    (stream URLs carry their own). ``rtsp://`` goes to the RTSP client; http(s) goes by
    the response's content type (HLS playlist, progressive MP4, MJPEG, or a still).
    """
    # The stream modules import this one, hence the local imports.
    from monitor.paths.hls import capture_playlist
    from monitor.paths.mjpeg import read_mjpeg
    from monitor.paths.rtsp import capture_rtsp

    try:
        check_url(url, config, ("http", "https", "rtsp"))
    except StreamError as exc:
        return exc.failure()
    if urlsplit(url).scheme.lower() == "rtsp":
        return await capture_rtsp(url, config, router)
    async with Fetcher(config, router) as fetcher:
        try:
            async with fetcher.stream(url) as (response, final_url):
                kind = content_type(response)
                if kind == MJPEG_TYPE:
                    frames = await read_mjpeg(response, config, fetcher)
                    return fetcher.captured(frames, kind)
                if kind in HLS_TYPES or urlsplit(final_url).path.endswith(".m3u8"):
                    limit = config.max_playlist_bytes
                    text = await fetcher.read(response, limit, "playlist")
                    return await capture_playlist(fetcher, config, text, final_url)
                if kind in MP4_TYPES:
                    data = await fetcher.read(response, config.max_bytes, "video")
                    frames = await asyncio.to_thread(decode_video, data, config.frames, "mp4")
                    return fetcher.captured(frames, kind)
                if kind in IMAGE_TYPES:
                    data = await fetcher.read(response, config.max_bytes, "image")
                    return fetcher.captured((data,), kind)
                raise StreamError(f"unexpected stream content type {kind!r}", 200)
        except StreamError as exc:
            return exc.failure(fetcher.count)
