"""``hls``: HTTP Live Streaming (RFC 8216), the way a live player starts a stream.

1. GET the playlist. A master playlist names variants: the one with the lowest
   ``BANDWIDTH`` is taken, as a cautious player starts low (it is also the cheapest to
   probe, and the one a slow client keeps); then GET its media playlist.
2. GET the newest media segment (MPEG-TS, or fMP4 after its ``EXT-X-MAP``), decode
   its first ``frames`` frames with PyAV from memory; if that gives too few frames,
   the segments before it, up to ``max_segments`` (so a short live window may give
   fewer). Frames are re-encoded as JPEG (quality 90) for the reader.

Every playlist is bounded by ``max_playlist_bytes`` and `MAX_LINES`, every segment by
``max_bytes``; every URI must be on an allowed host. Encrypted segments are refused.
Every frame is bounded by its declared size, and all the segments of a probe share
one `PixelBudget`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin

from monitor.config import CanaryConfig, HlsOptions, PlaylistOptions
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.streams import Fetcher, PixelBudget, StreamError, decode_video

MAX_LINES: Final = 10_000
MAX_LINE_CHARS: Final = 4096
PLAYLIST_TYPE: Final = "application/vnd.apple.mpegurl"
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


@dataclass
class Playlist:
    variants: list[tuple[int, str]] = field(default_factory=list)  # (bandwidth, URL)
    segments: list[str] = field(default_factory=list)
    init: str | None = None  # EXT-X-MAP URI of fMP4 segments


def _attributes(text: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _ATTRIBUTE.findall(text)}


def parse_playlist(raw: bytes, base: str) -> Playlist:
    """Parse a master or media playlist; URIs are resolved against ``base``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StreamError("playlist is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or lines[0].strip().lstrip("\ufeff") != "#EXTM3U":
        raise StreamError("not an HLS playlist (no #EXTM3U)")
    if len(lines) > MAX_LINES:
        raise StreamError(f"playlist has more than {MAX_LINES} lines")
    playlist = Playlist()
    pending_variant: int | None = None
    for line in (raw_line.strip() for raw_line in lines[1:]):
        if len(line) > MAX_LINE_CHARS:
            raise StreamError(f"playlist line longer than {MAX_LINE_CHARS} characters")
        if line.startswith("#EXT-X-STREAM-INF:"):
            bandwidth = _attributes(line.partition(":")[2]).get("BANDWIDTH", "")
            pending_variant = int(bandwidth) if bandwidth.isdigit() else 2**63
        elif line.startswith("#EXT-X-KEY:"):
            if _attributes(line.partition(":")[2]).get("METHOD", "NONE") != "NONE":
                raise StreamError("encrypted HLS segments are not supported")
        elif line.startswith("#EXT-X-MAP:"):
            uri = _attributes(line.partition(":")[2]).get("URI")
            if not uri:
                raise StreamError("EXT-X-MAP without URI")
            playlist.init = urljoin(base, uri)
        elif line and not line.startswith("#"):
            if pending_variant is not None:
                playlist.variants.append((pending_variant, urljoin(base, line)))
                pending_variant = None
            else:
                playlist.segments.append(urljoin(base, line))
    return playlist


async def capture_playlist(
    fetcher: Fetcher, config: PlaylistOptions, raw: bytes, url: str
) -> Capture | CaptureFailure:
    """Frames from an already fetched playlist (master or media) at ``url``."""
    try:
        playlist = parse_playlist(raw, url)
        if playlist.variants:
            _, variant = min(playlist.variants)
            body = await fetcher.get(variant, config.max_playlist_bytes, "media playlist")
            playlist = parse_playlist(body.data, body.url)
            if playlist.variants:
                raise StreamError("a variant is itself a master playlist")
        if not playlist.segments:
            raise StreamError("media playlist has no segments")
        init = b""
        if playlist.init is not None:
            init = (await fetcher.get(playlist.init, config.max_bytes, "init segment")).data
        frames: list[bytes] = []
        budget = PixelBudget()
        for uri in reversed(playlist.segments[-config.max_segments :]):
            segment = await fetcher.get(uri, config.max_bytes, "segment")
            kind = "mp4" if init else "mpegts"
            decoded = await asyncio.to_thread(
                decode_video, init + segment.data, config.frames, kind, budget
            )
            frames = decoded + frames
            if len(frames) >= config.frames:
                break
    except StreamError as exc:
        return exc.failure(fetcher.count)
    return fetcher.captured(frames[: config.frames], PLAYLIST_TYPE)


class HlsPath(IntegrationPath):
    kind = "hls"
    config: HlsOptions

    def __init__(self, config: HlsOptions) -> None:
        super().__init__(config)

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        auth = {"Authorization": f"Bearer {canary.token.get_secret_value()}"}
        async with Fetcher(self.config, router, auth) as fetcher:
            try:
                body = await fetcher.get(url, self.config.max_playlist_bytes, "playlist")
            except StreamError as exc:
                return exc.failure(fetcher.count)
            return await capture_playlist(fetcher, self.config, body.data, body.url)
