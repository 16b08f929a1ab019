"""Read a frame back: which canary's code it carries, how far, and what time it shows.

The reader never judges (own, foreign, stale...): that needs to know who asked and
when, which is the monitor's verdict step. It decodes at reduced resolution: JPEGs
are decoded with DCT-domain scaling (PIL's draft mode), then area-downscaled to the
96x96 analysis grid, where both pattern layers are read in one separable product.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from canaries.codebook import TIME_MIN_DISTANCE, Codebook, hamming_to_many
from canaries.errors import FrameDecodeError, FrameTooLargeError
from canaries.pattern import (
    GLOBAL_SIZE,
    GRID,
    TENANT_TILES,
    TIME_TILES,
    basis,
    tile_block,
    time_of,
)

ANALYSIS = 32 * GRID  # the analysis grid, pixels per side
DEFAULT_MAX_PIXELS = 40_000_000
BLANK_STD = 3.0  # luminance std under which a frame is uniform
TIME_RADIUS = (TIME_MIN_DISTANCE - 1) // 2  # unique decoding in the time codebooks


@dataclass(frozen=True)
class Reading:
    """What a frame carries, decoded against one fleet."""

    width: int
    height: int
    blank: bool
    luminance_std: float
    nearest: str | None  # the fleet canary nearest to the global layer
    distance: int  # Hamming distance of the global layer (64 bits) to ``nearest``
    canary: str | None  # ``nearest`` if within the global radius, else None
    tiles: tuple[str | None, ...]  # the canary each tenant tile decodes to, or None
    epoch: int | None  # the time epoch if every time tile decoded

    @property
    def at(self) -> datetime | None:
        return None if self.epoch is None else time_of(self.epoch)


class Reader:
    """Decodes frames against the canaries of one fleet."""

    def __init__(
        self,
        book: Codebook,
        fleet: Sequence[str],
        *,
        global_radius: int = 12,
        tile_radius: int = 7,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.fleet = tuple(dict.fromkeys(fleet))
        self.global_radius = global_radius
        self.tile_radius = tile_radius
        self.max_pixels = max_pixels
        self._global = np.array(
            [np.concatenate([[True], book.global_word(name)]) for name in self.fleet],
            dtype=bool,
        ).reshape(len(self.fleet), 64)
        self._tiles = [
            np.array([book.tile_word(name, pos) for name in self.fleet], dtype=bool)
            for pos in range(len(TENANT_TILES))
        ]
        self._time = [book.time_codebook(pos) for pos in range(len(TIME_TILES))]
        self._basis = basis(ANALYSIS, ANALYSIS)

    def read(self, frame: bytes | Image.Image) -> Reading:
        """Decode one frame; raises FrameDecodeError if it is not a readable image."""
        if isinstance(frame, bytes | bytearray):
            image, (width, height) = self._open(frame)
        else:
            image, (width, height) = frame, frame.size
        luma = self._analysis_grid(image)
        std = float(luma.std())
        coefficients = self._basis.analyse(luma)
        low = coefficients[:GLOBAL_SIZE, :GLOBAL_SIZE].ravel()
        global_bits = low > np.median(low)
        nearest, distance = _nearest(global_bits, self._global, self.fleet)
        return Reading(
            width=width,
            height=height,
            blank=std < BLANK_STD,
            luminance_std=std,
            nearest=nearest,
            distance=distance,
            canary=nearest if distance <= self.global_radius else None,
            tiles=tuple(self._read_tile(coefficients, pos) for pos in range(len(TENANT_TILES))),
            epoch=self._read_epoch(coefficients),
        )

    def _open(self, data: bytes) -> tuple[Image.Image, tuple[int, int]]:
        """The image, loaded (JPEGs at reduced scale), and its size as declared in the file."""
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:  # PIL's own header check, not an OSError
            raise FrameTooLargeError(f"image declares too many pixels: {exc}") from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise FrameDecodeError(f"not an image ({len(data)} bytes)") from exc
        width, height = image.size
        if width * height > self.max_pixels:
            raise FrameTooLargeError(
                f"image declares {width}x{height} pixels, over the limit of {self.max_pixels}"
            )
        if image.format == "JPEG":
            # DCT-domain scaling: decode at 1/2..1/8 size, never below the analysis grid.
            image.draft("L", (max(ANALYSIS * 2, 1), max(ANALYSIS * 2, 1)))
        try:
            image.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise FrameDecodeError(f"corrupt {image.format or 'image'} data: {exc}") from exc
        return image, (width, height)

    def _analysis_grid(self, image: Image.Image) -> npt.NDArray[np.float64]:
        try:
            small = image.convert("L").resize((ANALYSIS, ANALYSIS), Image.Resampling.BOX)
        except (OSError, ValueError) as exc:
            raise FrameDecodeError(f"cannot convert image: {exc}") from exc
        return np.asarray(small, dtype=np.float64)

    def _read_tile(self, coefficients: npt.NDArray[np.float64], position: int) -> str | None:
        rows, cols = tile_block(TENANT_TILES[position])
        bits = coefficients[rows, cols].ravel() > 0
        name, distance = _nearest(bits, self._tiles[position], self.fleet)
        return name if distance <= self.tile_radius else None

    def _read_epoch(self, coefficients: npt.NDArray[np.float64]) -> int | None:
        epoch = 0
        for position, tile in enumerate(TIME_TILES):
            rows, cols = tile_block(tile)
            bits = coefficients[rows, cols].ravel() > 0
            distances = hamming_to_many(bits, self._time[position])
            symbol = int(distances.argmin())
            if distances[symbol] > TIME_RADIUS:
                return None
            epoch |= symbol << (8 * position)
        return epoch


def _nearest(
    bits: npt.NDArray[np.bool_], words: npt.NDArray[np.bool_], names: Sequence[str]
) -> tuple[str | None, int]:
    if not names:
        return None, bits.size
    distances = hamming_to_many(bits, words)
    best = int(distances.argmin())
    return names[best], int(distances[best])
