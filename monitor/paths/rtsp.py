"""``rtsp``: RTSP with RTP interleaved over TCP, pulled and decoded by FFmpeg (PyAV).

The path URL (``rtsp://host:port/...``) gets the canary's token as a ``token`` query
parameter (FFmpeg's RTSP client cannot send a bearer header) and its host and port
are replaced by the address of a redirect guard (`monitor.paths.rtsp_guard`) in
front of the router's proxy, so the impairment applies and FFmpeg never follows a
redirect on its own: this module follows it, through the allowed hosts and the router.
Where the kernel allows it, the pull thread cannot connect anywhere but the guard's
port at all (`monitor.paths.rtsp_guard.confine_connects`).

FFmpeg's client blocks, so it runs in a thread of its own (never the loop's default
executor, which it could starve), and cancellation cannot stop a thread. Its lifetime
is bounded three ways: FFmpeg's socket ``timeout`` and PyAV's ``(open, read)`` timeout
(an interrupt callback) end any call that waits longer than ``read_timeout_s`` for
data; a stop flag, set when the probe is cancelled at its deadline, is checked between
packets; and `MAX_PULL_S` caps a stream that trickles. So the thread outlives a
cancelled probe by at most ``read_timeout_s`` (and a pooled proxy closing its side
ends it at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import av

from monitor.config import CanaryConfig, RtspOptions, StreamOptions
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.rtsp_guard import confine_connects, guarded
from monitor.paths.streams import (
    DECODER_OPTIONS,
    MAX_DECODED_FRAMES,
    PROBE_OPTIONS,
    StreamError,
    check_frame_size,
    check_url,
    default_port,
    to_jpeg,
)

MAX_PULL_S: Final = 60.0
CONTENT_TYPE: Final = "application/sdp"
T = TypeVar("T")


def _pull(
    url: str, count: int, timeout_s: float, stop: threading.Event, guard_port: int
) -> tuple[list[bytes], int]:
    """The first ``count`` video frames as JPEG and the compressed bytes read (blocking).

    Run it in a thread of its own: it confines that thread's TCP connects to the
    guard's port, for good."""
    confined = confine_connects(guard_port)
    options = {
        "rtsp_transport": "tcp",
        "timeout": str(int(timeout_s * 1_000_000)),  # socket I/O, microseconds
        "max_delay": "500000",
        "analyzeduration": "1000000",  # stream time; the default 5 s delays the first frame
        "probesize": "500000",
        # Stream probing decodes nothing and sizes nothing past MAX_PIXELS: an SPS
        # declaring 16000x16000 would cost its decoder ~1.2 GB before any check.
        **PROBE_OPTIONS,
    }
    ends = progress = time.monotonic()
    ends += MAX_PULL_S
    frames: list[bytes] = []
    received = 0
    try:
        with av.open(url, options=options, timeout=(timeout_s, timeout_s)) as container:
            if not container.streams.video:
                raise StreamError("no video stream in the RTSP session")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            check_frame_size(width, height)  # declared (0 x 0 if it was refused)
            stream.codec_context.options = DECODER_OPTIONS  # decode, below MAX_PIXELS
            decoded = 0
            # A frame is kept only once a later packet arrived: when the connection is
            # cut inside a frame, FFmpeg's parser flushes the half-received frame as a
            # last packet, and the decoder conceals the missing rows in grey. Judged, that
            # half frame would read as a splice (a false leak), so it is never judged.
            pending: list[av.VideoFrame] = []
            for packet in container.demux(stream):
                received += packet.size
                progress = time.monotonic()
                if stop.is_set() or time.monotonic() > ends:
                    raise StreamError("RTSP pull stopped before enough frames")
                if packet.size == 0:  # the demuxer's end-of-stream flush
                    break
                for frame in pending:
                    frames.append(to_jpeg(frame))
                    if len(frames) >= count:
                        return frames, received
                pending = []
                if packet.is_corrupt:
                    continue
                for frame in packet.decode():
                    decoded += 1
                    check_frame_size(frame.width, frame.height)
                    if not frame.is_corrupt:
                        pending.append(frame)
                if decoded >= MAX_DECODED_FRAMES:
                    break
    except av.FFmpegError as exc:
        if confined and exc.errno == errno.EACCES:  # Landlock refused a connect
            raise StreamError("RTSP: FFmpeg tried to connect past its guard") from exc
        if time.monotonic() - progress >= 0.9 * timeout_s:  # FFmpeg says "invalid data"
            raise StreamError(f"RTSP: no data for {timeout_s:g} s") from exc
        # str(exc) may echo the URL, which carries the token: only FFmpeg's message.
        raise StreamError(f"RTSP: {_errno_text(exc)}") from exc
    if not frames:
        raise StreamError("RTSP stream ended without a decodable frame")
    return frames, received


async def _in_own_thread(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a thread of its own, not the loop's default executor: a
    pull blocks for up to its read timeout, and a few of them must not starve the short
    jobs (frame reading, a loopback testbed's encoders) queued on that executor."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (function(*args), None)
        except BaseException as exc:  # handed to the awaiting coroutine
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_settle, future, *outcome)

    threading.Thread(target=run, name="rtsp-pull", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled at the deadline: nobody waits any more
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _errno_text(exc: av.FFmpegError) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror)[:120] if strerror else type(exc).__name__


async def capture_rtsp(
    url: str, config: StreamOptions, router: Router, token: str | None = None
) -> Capture | CaptureFailure:
    """Frames of an RTSP URL (already host-checked or from config), dialled via router.

    FFmpeg dials a `guarded` route: a redirect is refused on the wire and followed
    here instead, at most ``max_redirects`` times, each hop host-checked and routed.
    """
    for _ in range(config.max_redirects + 1):
        try:
            check_url(url, config, ("rtsp",))
        except StreamError as exc:
            return exc.failure()
        parts = urlsplit(url)
        route = await router(parts.hostname or "", parts.port or default_port("rtsp"))
        async with guarded(route) as ((guard_host, guard_port), guard):
            query = parse_qsl(parts.query, keep_blank_values=True)
            if token is not None:
                query = [(k, v) for k, v in query if k != "token"] + [("token", token)]
            netloc = f"{guard_host}:{guard_port}"
            dial = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
            stop = threading.Event()
            try:
                frames, received = await _in_own_thread(
                    _pull, dial, config.frames, config.read_timeout_s, stop, guard_port
                )
            except StreamError as exc:
                if not guard.seen:
                    return exc.failure()
            else:
                # ``received``: the video payload demuxed (FFmpeg does not expose the
                # wire count).
                return Capture(tuple(frames), 200, received, CONTENT_TYPE)
            finally:
                stop.set()  # on cancellation too: the worker stops at its next packet
        refused = guard.seen[0]
        if isinstance(refused, str):
            return CaptureFailure(f"RTSP: {refused}")
        if not refused.location:
            return CaptureFailure(f"RTSP: redirect ({refused.status}) without a Location")
        url = urljoin(url, refused.location)
    return CaptureFailure(f"RTSP: more than {config.max_redirects} redirects")


class RtspPath(IntegrationPath):
    kind = "rtsp"
    config: RtspOptions

    def __init__(self, config: RtspOptions) -> None:
        super().__init__(config)

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        return await capture_rtsp(url, self.config, router, canary.token.get_secret_value())
