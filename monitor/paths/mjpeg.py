"""``mjpeg``: a ``multipart/x-mixed-replace`` stream of JPEG frames (IP cameras, viewers).

The multipart framing is untrusted: the boundary is validated (RFC 2046: 1-70
characters), the preamble, every part header line, the number of header lines and
every part body are bounded, and the whole stream is bounded by ``max_bytes``. A part
with a ``Content-Length`` is read by length, one without by scanning for the boundary.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Final

import httpx

from monitor.config import CanaryConfig, HttpStreamOptions, MjpegOptions
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.streams import MJPEG_TYPE, Fetcher, StreamError, content_type

MAX_PREAMBLE: Final = 4096
MAX_HEADER_LINE: Final = 1024
MAX_HEADER_LINES: Final = 16
MAX_PART_BYTES: Final = 8_000_000
MAX_SKIPPED_PARTS: Final = 16  # non-image parts tolerated before giving up
_BOUNDARY = re.compile(r"""boundary="?([0-9A-Za-z'()+_,\-./:=? ]{1,70})"?""", re.IGNORECASE)


class _Input:
    """A byte buffer filled on demand from a response, every read bounded."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks  # bounded and decoded: `Fetcher.chunks`
        self.buffer = bytearray()

    async def _more(self) -> None:
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            raise StreamError("stream ended before enough frames") from None
        self.buffer += chunk

    async def until(self, marker: bytes, limit: int, what: str) -> bytes:
        """Everything before ``marker`` (consumed with it); StreamError past ``limit``."""
        start = 0
        while (found := self.buffer.find(marker, start)) < 0:
            if len(self.buffer) > limit + len(marker):
                raise StreamError(f"{what} exceeds {limit} bytes")
            start = max(0, len(self.buffer) - len(marker) + 1)
            await self._more()
        if found > limit:
            raise StreamError(f"{what} exceeds {limit} bytes")
        data = bytes(self.buffer[:found])
        del self.buffer[: found + len(marker)]
        return data

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


def boundary_of(header: str) -> bytes:
    match = _BOUNDARY.search(header)
    if match is None:
        raise StreamError("multipart stream without a valid boundary")
    return match.group(1).rstrip(" ").encode("ascii")


async def read_mjpeg(
    response: httpx.Response, config: HttpStreamOptions, fetcher: Fetcher
) -> list[bytes]:
    """The first ``config.frames`` JPEG parts of a multipart response."""
    boundary = boundary_of(response.headers.get("content-type", ""))
    source = _Input(fetcher.chunks(response, config.max_bytes, "stream"))
    delimiter = b"--" + boundary
    part_limit = min(MAX_PART_BYTES, config.max_bytes)
    frames: list[bytes] = []
    skipped = 0
    at_part = False  # whether the delimiter before the next part is already consumed
    while len(frames) < config.frames:
        if not at_part:  # the preamble, or the CRLF after a part read by its length
            await source.until(delimiter, MAX_PREAMBLE, "multipart preamble")
        headers = await _part_headers(source)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > part_limit:
                raise StreamError(f"part length {length[:20]!r} is invalid or over {part_limit}")
            body = await source.exactly(int(length))
            at_part = False
        else:
            body = await source.until(b"\r\n" + delimiter, part_limit, "multipart part")
            at_part = True
        kind = headers.get("content-type", "image/jpeg").split(";")[0].strip().lower()
        if kind == "image/jpeg" and body[:2] == b"\xff\xd8":
            frames.append(body)
        elif (skipped := skipped + 1) > MAX_SKIPPED_PARTS:
            raise StreamError(f"no JPEG in the first {MAX_SKIPPED_PARTS} parts")
    return frames


async def _part_headers(source: _Input) -> dict[str, str]:
    """The header lines of one part, read after its delimiter line."""
    rest = await source.until(b"\r\n", MAX_HEADER_LINE, "delimiter line")
    if rest.startswith(b"--"):
        raise StreamError("stream ended (closing delimiter) before enough frames")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES + 1):
        line = await source.until(b"\r\n", MAX_HEADER_LINE, "part header line")
        if not line:
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise StreamError("malformed part header line")
        headers[name.strip().lower()] = value.strip()
    raise StreamError(f"more than {MAX_HEADER_LINES} part header lines")


class MjpegPath(IntegrationPath):
    kind = "mjpeg"
    config: MjpegOptions

    def __init__(self, config: MjpegOptions) -> None:
        super().__init__(config)

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        auth = {"Authorization": f"Bearer {canary.token.get_secret_value()}"}
        async with Fetcher(self.config, router, auth) as fetcher:
            try:
                async with fetcher.stream(url) as (response, _):
                    kind = content_type(response)
                    if kind != MJPEG_TYPE:
                        raise StreamError(f"unexpected content type {kind!r}", 200)
                    frames = await read_mjpeg(response, self.config, fetcher)
            except StreamError as exc:
                return exc.failure(fetcher.count)
        return fetcher.captured(frames, MJPEG_TYPE)
