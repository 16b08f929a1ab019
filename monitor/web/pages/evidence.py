"""Showing evidence without showing anyone's private image.

A leaked frame reaches a viewer only through `pixelate`: it is reduced to a grid of
`BLOCKS_WIDE` grey blocks across, the blocks are blurred into each other, and the
result is enlarged and blurred again. Anything smaller than a block (a face, a line
of text, a room's layout) is gone; only the rough light and dark areas remain, enough
to see that a frame is a picture and not a canary.

The clear frame goes to an operator only after an audited request
(`monitor.store.evidence_views`); `RevealGrants` then hands out a short-lived, unguessable
token tied to that operator, and the clear image is served only to the same operator
presenting it, within its lifetime. Nothing clear is ever at a stable URL.
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageFilter, UnidentifiedImageError

BLOCKS_WIDE = 12  # blocks across the whole frame: a face is at most one or two of them
OUTPUT_WIDTH = 480
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
GRANT_TTL_S = 120.0
MAX_GRANTS = 1000


class EvidenceImageError(Exception):
    """The stored frame does not decode as an image (or is implausibly large)."""


def _decode(frame: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(frame))
        width, height = image.size
        if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
            raise EvidenceImageError(f"refusing to decode a {width}x{height} frame")
        image.draft("L", (BLOCKS_WIDE * 8, BLOCKS_WIDE * 8))  # JPEG: decode at reduced scale
        return image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise EvidenceImageError(f"the evidence frame does not decode: {exc}") from exc


def grid_size(width: int, height: int) -> tuple[int, int]:
    """The block grid of a ``width`` x ``height`` frame: `BLOCKS_WIDE` across."""
    rows = max(1, round(BLOCKS_WIDE * height / max(1, width)))
    return BLOCKS_WIDE, rows


def pixelate(frame: bytes, *, width: int = OUTPUT_WIDTH) -> bytes:
    """The frame as a heavily pixelated and blurred grey PNG, ``width`` pixels wide.

    The output depends only on the frame's block means (one number per block), so two
    frames that differ only inside blocks pixelate alike. Raises EvidenceImageError.
    """
    image = _decode(frame)
    grid = grid_size(*image.size)
    blocks = image.resize(grid, Image.Resampling.BOX)
    blocks = blocks.filter(ImageFilter.GaussianBlur(0.7))  # bleed neighbouring blocks
    block_px = max(1, width // grid[0])
    big = blocks.resize((block_px * grid[0], block_px * grid[1]), Image.Resampling.NEAREST)
    big = big.filter(ImageFilter.GaussianBlur(block_px / 4))
    out = io.BytesIO()
    big.save(out, "PNG")
    return out.getvalue()


def as_png(frame: bytes) -> bytes:
    """The clear frame re-encoded as PNG (what the operator's browser gets): decoding it
    here first means a hostile file is never passed through to a browser as-is."""
    try:
        source = Image.open(io.BytesIO(frame))
        width, height = source.size
        if width * height > MAX_PIXELS:
            raise EvidenceImageError(f"refusing to decode a {width}x{height} frame")
        image = source.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise EvidenceImageError(f"the evidence frame does not decode: {exc}") from exc
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=3)  # lossless; shown once, not stored
    return out.getvalue()


@dataclass(frozen=True)
class Grant:
    token: str
    actor: str
    evidence_id: int
    incident_id: int
    view_id: int  # the audit row that allowed it
    expires: float  # on the grants' clock


class RevealGrants:
    """Short-lived permissions to fetch one clear frame, each for one operator.

    Kept in memory on purpose: a restart revokes every grant, and a grant never
    outlives ``ttl_s``. A grant may be used several times within its lifetime (the
    browser may fetch the image again), only by the operator it was issued to.
    """

    def __init__(
        self, ttl_s: float = GRANT_TTL_S, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._grants: dict[str, Grant] = {}

    def issue(self, actor: str, evidence_id: int, incident_id: int, view_id: int) -> Grant:
        now = self._clock()
        self._grants = {k: g for k, g in self._grants.items() if g.expires > now}
        while len(self._grants) >= MAX_GRANTS:  # bounded: drop the oldest
            self._grants.pop(next(iter(self._grants)))
        grant = Grant(
            secrets.token_urlsafe(32), actor, evidence_id, incident_id, view_id, now + self.ttl_s
        )
        self._grants[grant.token] = grant
        return grant

    def redeem(self, token: str, actor: str) -> Grant | None:
        """The grant behind ``token`` if it is ``actor``'s and still valid, else None."""
        grant = self._grants.get(token)
        if grant is None:
            return None
        if grant.expires <= self._clock():
            self._grants.pop(token, None)
            return None
        return grant if grant.actor == actor else None

    def seconds_left(self, grant: Grant) -> float:
        return max(0.0, grant.expires - self._clock())
