"""The smart-display ("hub") path: quality tiers from Client Hints and the quality cache.

The hub picks a quality tier from the network quality the client reports in HTTP
Client Hints, the way Chromium reports it (https://wicg.github.io/netinfo/):
``ECT`` (effective connection type), ``RTT`` (ms) and ``Downlink`` (Mbit/s). The
thresholds are Chromium's own 3g boundary (RTT 270 ms, downlink 700 kbit/s).

The cache keeps one still per (camera, tier) for ``ttl`` seconds. With the
``xiaomi-2020`` bug deployed, a low-tier still is keyed by the tier alone: every slow
client gets whichever camera's low-tier still was cached last.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from PIL import Image

from canaries import CameraFrame

Tier = Literal["high", "low"]
CacheKey = tuple[str, ...]

ACCEPT_CH: Final = "ECT, RTT, Downlink"
SLOW_ECT: Final = frozenset({"slow-2g", "2g", "3g"})
SLOW_RTT_MS: Final = 270.0
SLOW_DOWNLINK_MBPS: Final = 0.7
LOW_SIZE: Final = (320, 180)
LOW_QUALITY: Final = 40
LEAKY_BUG: Final = "xiaomi-2020"


def select_tier(headers: Mapping[str, str]) -> Tier:
    """``low`` when any hint says the network is slow; no or unreadable hints: ``high``."""
    hints = {key.lower(): value for key, value in headers.items()}
    ect = hints.get("ect", "").strip().strip('"').lower()
    if ect in SLOW_ECT:
        return "low"
    rtt = _number(hints.get("rtt"))
    if rtt is not None and rtt >= SLOW_RTT_MS:
        return "low"
    downlink = _number(hints.get("downlink"))
    if downlink is not None and downlink < SLOW_DOWNLINK_MBPS:
        return "low"
    return "high"


def _number(raw: str | None) -> float | None:
    """A finite, non-negative number from a hint header, or None for anything else."""
    if raw is None or len(raw) > 32:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def transcode_low(jpeg: bytes) -> bytes:
    """The low tier: the frame scaled to ``LOW_SIZE`` and re-encoded at ``LOW_QUALITY``."""
    with Image.open(io.BytesIO(jpeg)) as image:
        small = image.convert("RGB").resize(LOW_SIZE, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=LOW_QUALITY)
    return out.getvalue()


def cache_key(camera_id: str, tier: Tier, bugs: Set[str]) -> CacheKey:
    if LEAKY_BUG in bugs and tier == "low":
        return (tier,)  # the bug: the camera is missing from the key
    return (camera_id, tier)


@dataclass(frozen=True)
class Still:
    jpeg: bytes
    at: datetime
    """When the camera rendered the frame this still was made from."""
    tier: Tier


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    ttl: float


class QualityCache:
    """Stills per cache key, each kept for ``ttl`` seconds of the injectable ``clock``."""

    def __init__(self, ttl: float = 3.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not math.isfinite(ttl) or ttl < 0:
            raise ValueError(f"ttl must be a finite number of seconds >= 0, not {ttl!r}")
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[CacheKey, tuple[float, Still]] = {}
        self.hits = 0
        self.misses = 0

    async def still(
        self,
        camera_id: str,
        tier: Tier,
        latest: Callable[[], CameraFrame],
        *,
        bugs: Set[str] = frozenset(),
    ) -> Still:
        """The cached still for this key, or a fresh one made from ``latest()``."""
        key = cache_key(camera_id, tier, bugs)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            self.hits += 1
            return entry[1]
        self.misses += 1
        frame = latest()
        jpeg = frame.jpeg if tier == "high" else await asyncio.to_thread(transcode_low, frame.jpeg)
        still = Still(jpeg=jpeg, at=frame.at, tier=tier)
        self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl}
        self._entries[key] = (now, still)
        return still

    def clear(self) -> None:
        self._entries.clear()

    def stats(self) -> CacheStats:
        return CacheStats(
            hits=self.hits, misses=self.misses, entries=len(self._entries), ttl=self.ttl
        )
