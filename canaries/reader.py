"""Read a frame back: which canary's code it carries, how far, and what time it shows.

The reader never judges (own, foreign, stale...): that needs to know who asked and
when, which is the monitor's verdict step. The fast path is one reduced-scale decode
(JPEG DCT-domain scaling to ~1/8), a black-border trim and one separable product that
reads both pattern layers at the decoded size; codes are packed into 64-bit words and
compared with the whole fleet at once. Only a frame that reads as no canary takes the
slow path: a search over crops and zooms of the original frame (by moving the basis,
not by resampling pixels).

Every frame is refused on its declared size before anything is decoded (the JPEG
header, or ``canaries.header`` for PNG, GIF and WebP). Codes and the fleet guarantee
live in ``canaries.codes``, the crop search in ``canaries.align``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt
import simplejpeg
from PIL import Image, UnidentifiedImageError

from canaries.align import View, search
from canaries.codebook import TIME_MIN_DISTANCE, Codebook
from canaries.codes import (
    COMPONENTS,
    FleetError,
    Packed,
    check_fleet,
    distances_to,
    pack,
    read_words,
)
from canaries.errors import FrameDecodeError, FrameTooLargeError
from canaries.header import FORMATS, MODES, declared_size
from canaries.pattern import (
    GRID,
    TENANT_TILES,
    TIME_TILES,
    Basis,
    analysis_basis,
    time_of,
)

Array = npt.NDArray[np.float64]

# A JPEG is decoded at its smallest DCT scale (1/8 for any large one), so even 40 Mpx
# costs about a megabyte; a PNG, GIF or WebP is decoded at full size, ~10 bytes a pixel
# on the way to luminance, so it stops at DCI 4K (UHD and 1080p pass): under 100 MB,
# where 40 Mpx let one PNG cost 518 MB.
DEFAULT_MAX_PIXELS = 40_000_000
FULL_DECODE_MAX_PIXELS = 4096 * 2160
DECODE_TARGET = 96  # decode JPEGs at the smallest DCT scale that keeps this many pixels wide
BLANK_STD = 3.0  # luminance std under which a frame is uniform
GLOBAL_RADIUS = 10  # a global layer within this of a canary's word votes for it (of 63)
TILE_RADIUS = 5  # a tile within this of a canary's tile word votes for it (of 36)
JOINT_RADIUS = 30  # the tenant code within this of a canary's is that canary (of 243)
TIME_RADIUS = (TIME_MIN_DISTANCE - 1) // 2  # unique decoding in the time codebooks


@dataclass(frozen=True)
class Reading:
    """What a frame carries, decoded against one fleet."""

    width: int  # as declared by the file
    height: int
    nearest: str | None  # the canary whose tenant code is nearest (all six components)
    distance: int  # joint distance (of 243 bits) to ``nearest``
    canary: str | None  # ``nearest`` if within JOINT_RADIUS, else None
    global_canary: str | None  # the canary the global (pHash) layer alone votes for
    global_distance: int  # the global layer's distance to its nearest canary
    phash: int  # the global layer as pHash's 64 bits (bit i = row-major DCT bit i)
    tiles: tuple[str | None, ...]  # the canary each tenant tile votes for, or None
    epoch: int | None  # the time epoch if every time tile decoded
    time_symbols: tuple[int | None, ...]  # each time tile's byte, or None
    view: View  # the part of the original frame the image shows (after trim, search)
    grid: Array = field(repr=False, compare=False)  # the analysed luminance
    joint: npt.NDArray[np.int64] = field(repr=False, compare=False)  # per fleet canary
    index: dict[str, int] = field(repr=False, compare=False)  # fleet name -> row of joint

    @cached_property
    def luminance_std(self) -> float:
        """Luminance std of the analysed image (computed on first use: a frame that
        reads as a canary is never blank, so the fast path never pays for it)."""
        return _std(self.grid)

    @property
    def blank(self) -> bool:
        return self.luminance_std < BLANK_STD

    @property
    def at(self) -> datetime | None:
        return None if self.epoch is None else time_of(self.epoch)

    def nearest_canaries(self, count: int) -> list[str]:
        """The ``count`` fleet canaries whose tenant codes are nearest this frame's."""
        names = list(self.index)
        return [names[int(i)] for i in np.argsort(self.joint, kind="stable")[:count]]

    def distance_to(self, canary: str) -> int | None:
        """The joint distance of this frame's tenant code to ``canary``'s (of 243)."""
        row = self.index.get(canary)
        return None if row is None else int(self.joint[row])


class Reader:
    """Decodes frames against the canaries of one fleet."""

    def __init__(
        self,
        book: Codebook,
        fleet: Sequence[str],
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_full_pixels: int = FULL_DECODE_MAX_PIXELS,
    ) -> None:
        self.book = book
        self.fleet = tuple(dict.fromkeys(fleet))
        self.max_pixels = max_pixels  # any frame
        self.max_full_pixels = min(max_full_pixels, max_pixels)  # one decoded at full size
        words = np.zeros((len(self.fleet), COMPONENTS), dtype=np.uint64)
        for i, name in enumerate(self.fleet):
            words[i, 0] = pack(np.concatenate([[True], book.global_word(name)]))
            for pos in range(len(TENANT_TILES)):
                words[i, 1 + pos] = pack(book.tile_word(name, pos))
        self._words = words
        self._index = {name: i for i, name in enumerate(self.fleet)}
        self._time = np.array(
            [[pack(w) for w in book.time_codebook(pos)] for pos in range(len(TIME_TILES))],
            dtype=np.uint64,
        )
        check_fleet(self.fleet, words)

    def read(self, frame: bytes | Image.Image) -> Reading:
        """Decode one frame; raises FrameDecodeError if it is not a readable image."""
        if isinstance(frame, Image.Image):
            luma, (width, height) = _luma(frame), frame.size
        elif frame[:2] == b"\xff\xd8":
            luma, (width, height) = self._decode_jpeg(bytes(frame))
        else:
            luma, (width, height) = self._decode_image(bytes(frame))
        luma, view = _trim_borders(luma)
        coefficients = analysis_basis(luma.shape[1], luma.shape[0]).project(luma)
        words = read_words(coefficients)
        distances = self._distances(words)
        if (
            distances.size
            and int(distances.sum(axis=1).min()) > JOINT_RADIUS
            and _std(luma) >= BLANK_STD  # the same gate as Reading.blank
        ):
            # The slow path: only for frames that read as no canary at all.
            found = search(luma, view, words, distances, self._words)
            if int(found[2].sum(axis=1).min()) <= JOINT_RADIUS:  # it made a canary readable
                view, words, distances = found
        return self._reading(width, height, luma, view, words, distances)

    def _decode_jpeg(self, data: bytes) -> tuple[Array, tuple[int, int]]:
        """libjpeg-turbo at the smallest DCT scale that keeps DECODE_TARGET columns."""
        try:
            height, width, _colour, _sub = simplejpeg.decode_jpeg_header(data)
        except ValueError as exc:
            raise FrameDecodeError(f"not a readable JPEG ({len(data)} bytes): {exc}") from exc
        self._check_size(width, height)
        try:
            grey = simplejpeg.decode_jpeg(
                data,
                colorspace="GRAY",
                fastdct=True,
                fastupsample=True,
                min_width=min(width, DECODE_TARGET),
                min_height=min(height, max(1, DECODE_TARGET * height // max(width, 1))),
            )
        except ValueError as exc:  # strict mode: truncated or corrupt entropy data
            raise FrameDecodeError(f"corrupt JPEG data: {exc}") from exc
        return grey[:, :, 0].astype(np.float32), (width, height)

    def _decode_image(self, data: bytes) -> tuple[Array, tuple[int, int]]:
        """PNG, GIF or WebP at full size: the header is checked before PIL sees the
        bytes, and each full-size copy is dropped as soon as the next one exists."""
        declared = declared_size(data)
        if declared is not None:
            self._check_size(*declared[1:], limit=self.max_full_pixels)
        with self._open(data) as image:
            size = image.size
            if image.mode == "L":
                return _luma(image), size
            grey = _convert(image, "L")
        with grey:
            return _luma(grey), size

    def _check_size(self, width: int, height: int, *, limit: int | None = None) -> None:
        limit = self.max_pixels if limit is None else limit
        if width * height > limit:
            raise FrameTooLargeError(
                f"image declares {width}x{height} pixels, over the limit of {limit}"
            )

    def _open(self, data: bytes) -> Image.Image:
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError as exc:  # PIL's own header check, not an OSError
            raise FrameTooLargeError(f"image declares too many pixels: {exc}") from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise FrameDecodeError(f"not an image ({len(data)} bytes)") from exc
        try:
            # e.g. a GIF frame larger than its screen
            self._check_size(*image.size, limit=self.max_full_pixels)
            if image.mode not in MODES:
                raise FrameDecodeError(f"unsupported {image.format} image mode {image.mode!r}")
            image.load()
        except (OSError, ValueError, SyntaxError) as exc:
            image.close()
            raise FrameDecodeError(f"corrupt {image.format or 'image'} data: {exc}") from exc
        except FrameDecodeError:
            image.close()
            raise
        return image

    def _distances(self, words: Packed) -> npt.NDArray[np.int64]:
        """(fleet, component) Hamming distances of the six tenant-code components."""
        return distances_to(self._words, words)

    def _reading(
        self,
        width: int,
        height: int,
        luma: Array,
        view: View,
        words: Packed,
        distances: npt.NDArray[np.int64],
    ) -> Reading:
        joint = distances.sum(axis=1)
        nearest = distance = None
        global_canary, global_distance = None, 64
        tiles: list[str | None] = [None] * len(TENANT_TILES)
        if len(self.fleet):
            best = int(joint.argmin())
            nearest, distance = self.fleet[best], int(joint[best])
            closest = distances.argmin(axis=0).tolist()
            least = distances[closest, np.arange(COMPONENTS)].tolist()
            global_distance = least[0]
            if global_distance <= GLOBAL_RADIUS:
                global_canary = self.fleet[closest[0]]
            for pos in range(len(TENANT_TILES)):
                if least[1 + pos] <= TILE_RADIUS:
                    tiles[pos] = self.fleet[closest[1 + pos]]
        symbols = self._time_symbols(words)
        epoch: int | None = 0
        for pos, symbol in enumerate(symbols):
            epoch = None if symbol is None or epoch is None else epoch | symbol << (8 * pos)
        return Reading(
            width=width,
            height=height,
            nearest=nearest,
            distance=243 if distance is None else distance,
            canary=nearest if distance is not None and distance <= JOINT_RADIUS else None,
            global_canary=global_canary,
            global_distance=global_distance,
            phash=int(words[0]),
            tiles=tuple(tiles),
            epoch=epoch,
            time_symbols=symbols,
            view=view,
            grid=luma,
            joint=joint,
            index=self._index,
        )

    def _time_symbols(self, words: Packed) -> tuple[int | None, ...]:
        distances = np.bitwise_count(self._time ^ words[COMPONENTS:, None])  # (tile, symbol)
        symbols = distances.argmin(axis=1)
        best = distances[np.arange(len(TIME_TILES)), symbols]
        return tuple(
            int(s) if d <= TIME_RADIUS else None for s, d in zip(symbols, best, strict=True)
        )


def _std(luma: Array) -> float:
    """Luminance std on every 4th pixel: all the blank gate needs, at a tenth the cost
    of ``ndarray.std`` (one BLAS dot instead of three reductions)."""
    sample = luma[::4, ::4].ravel().astype(np.float64)
    mean = float(sample.sum()) / sample.size
    return float(np.sqrt(max(0.0, float(sample @ sample) / sample.size - mean * mean)))


def _luma(image: Image.Image) -> Array:
    grey = image if image.mode == "L" else _convert(image, "L")
    return np.asarray(grey, dtype=np.float32)


def _convert(image: Image.Image, mode: str) -> Image.Image:
    try:
        return image.convert(mode)
    except (OSError, ValueError) as exc:
        raise FrameDecodeError(f"cannot convert image: {exc}") from exc


def _trim_borders(luma: Array) -> tuple[Array, View]:
    """Cut near-black letterbox/pillarbox bars; the view says what part is left."""
    height, width = luma.shape
    if min(luma[0, 0], luma[0, -1], luma[-1, 0], luma[-1, -1]) >= 48:
        return luma, (0.0, 0.0, 1.0, 1.0)  # bars would darken a corner: none here
    edges = (luma[0], luma[-1], luma[:, 0], luma[:, -1])
    if not any(edge.max() < 48 for edge in edges):
        return luma, (0.0, 0.0, 1.0, 1.0)  # the common case: no bar on any side
    rows = (luma.mean(axis=1) < 24) & (luma.std(axis=1) < 8)
    cols = (luma.mean(axis=0) < 24) & (luma.std(axis=0) < 8)
    top, bottom = _run(rows), _run(rows[::-1])
    left, right = _run(cols), _run(cols[::-1])
    if top + bottom > height // 2 or left + right > width // 2:
        return luma, (0.0, 0.0, 1.0, 1.0)  # mostly dark: nothing to trim reliably
    top, bottom = (top, bottom) if top + bottom >= height * 0.04 else (0, 0)
    left, right = (left, right) if left + right >= width * 0.04 else (0, 0)
    trimmed = luma[top : height - bottom, left : width - right]
    return trimmed, (0.0, 0.0, 1.0, 1.0)


def _run(flags: npt.NDArray[np.bool_]) -> int:
    """Length of the leading run of True."""
    return int(flags.argmin()) if not flags.all() else int(flags.size)


__all__ = ["GRID", "Basis", "FleetError", "Reader", "Reading", "pack"]
