"""The canary pattern: a luminance image that names its tenant and its time.

Two layers share one frame, kept apart in frequency:

- **global layer**: the frame's 8x8 lowest DCT coefficients (at most 3.5 cycles per
  frame width) carry the canary's global word, so imagehash's pHash of the whole frame
  is that word (plus pHash's always-set DC bit);
- **tile layer**: a 3x3 grid of tiles; in each tile, the tile-local DCT band 3..8 in
  each axis (1.5 to 4 cycles per tile, i.e. 4.5 to 12 cycles per frame width, so no
  detail finer than 1/24 of the width) carries a word: the five corner and centre
  tiles repeat the tenant, the four edge tiles carry one byte each of the time epoch.

Both layers are solved together: the frame is the minimum-energy luminance image whose
analysis coefficients equal +-amplitude in the codeword's signs exactly. The
analysis functions are continuous cosines sampled at pixel centres, so the pattern
renders crisply at any size and reads the same after any resampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from canaries.codebook import TILE_BITS, Bits, Codebook
from canaries.errors import CanaryError

Array = npt.NDArray[np.float64]

GRID = 3
GLOBAL_SIZE = 8  # pHash's low-frequency block
BAND = tuple(range(3, 9))  # tile-local DCT indices of the tile layer
TENANT_TILES = ((0, 0), (0, 2), (1, 1), (2, 0), (2, 2))  # (row, col)
TIME_TILES = ((0, 1), (1, 0), (1, 2), (2, 1))
EPOCH_SECONDS = 2
# Target |coefficient| per layer, in Basis.analyse() units. Chosen so the global layer
# has a luminance std of ~22 and the tile layer ~20, ~30 together (tests/canaries).
GLOBAL_AMPLITUDE = 1.5
TILE_AMPLITUDE = 0.19
MEAN = 128.0
MIN_SIZE = 32
MAX_SIZE = 8192

assert len(BAND) ** 2 == TILE_BITS


def epoch_of(at: datetime) -> int:
    return int(at.timestamp()) // EPOCH_SECONDS


def time_of(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch * EPOCH_SECONDS, tz=UTC)


def _axis_basis(length: int, start: float = 0.0, span: float = 1.0) -> Array:
    """Rows: the 8 global cosines, then BAND cosines for each of the GRID tiles.

    The ``length`` samples cover ``[start, start + span)`` of the original frame's
    axis (0..1): a crop or zoom of the frame is read by moving the basis, not by
    resampling the pixels. Samples outside the original frame weigh nothing.
    """
    centres = start + (np.arange(length) + 0.5) / length * span
    # Positions on pHash's 32-sample grid (global rows) and on each tile's 32 samples.
    position = np.empty((len(_ROW_FREQ), length))
    position[:GLOBAL_SIZE] = centres * 32 - 0.5
    position[GLOBAL_SIZE:] = centres * 32 * GRID - 0.5 - 32 * _ROW_TILE[GLOBAL_SIZE:, None]
    rows = np.cos(np.pi * _ROW_FREQ[:, None] * (2 * position + 1) / 64)
    inside = (position >= -0.5) & (position < 31.5)
    inside[:GLOBAL_SIZE] = True
    visible = (centres >= 0) & (centres < 1)
    result: Array = np.where(inside & visible, rows, 0.0)
    return result


_ROW_FREQ = np.array([*range(GLOBAL_SIZE), *(BAND * GRID)], dtype=np.float64)
_ROW_TILE = np.array([0] * GLOBAL_SIZE + [t for t in range(GRID) for _ in BAND])


def tile_block(tile: tuple[int, int] | None) -> tuple[slice, slice]:
    """Rows/columns of the separable coefficient matrix that hold one layer's block."""
    if tile is None:
        return slice(0, GLOBAL_SIZE), slice(0, GLOBAL_SIZE)
    row, col = tile
    n = len(BAND)
    return (
        slice(GLOBAL_SIZE + n * row, GLOBAL_SIZE + n * (row + 1)),
        slice(GLOBAL_SIZE + n * col, GLOBAL_SIZE + n * (col + 1)),
    )


def _constrained_mask() -> npt.NDArray[np.bool_]:
    size = GLOBAL_SIZE + GRID * len(BAND)
    mask = np.zeros((size, size), dtype=bool)
    rows, cols = tile_block(None)
    mask[rows, cols] = True
    mask[0, 0] = False  # the mean is not a code bit
    for r in range(GRID):
        for c in range(GRID):
            rows, cols = tile_block((r, c))
            mask[rows, cols] = True
    return mask


CONSTRAINED = _constrained_mask()
_AMPLITUDES = np.full(CONSTRAINED.shape, TILE_AMPLITUDE)
_AMPLITUDES[:GLOBAL_SIZE, :GLOBAL_SIZE] = GLOBAL_AMPLITUDE


@dataclass(frozen=True)
class Basis:
    """Separable analysis/synthesis functions for one frame size."""

    ax: Array  # (n, width)
    ay: Array  # (n, height)

    def analyse(self, luma: Array) -> Array:
        """Mean-normalised projections of ``luma`` onto every basis product."""
        height, width = luma.shape
        result: Array = self.ay @ luma @ self.ax.T / (width * height)
        return result


@lru_cache(maxsize=256)
def basis(width: int, height: int) -> Basis:
    return Basis(ax=_axis_basis(width), ay=_axis_basis(height))


@lru_cache(maxsize=256)
def analysis_basis(width: int, height: int) -> Projector:
    """The reader's hot-path projection for one decoded size (float32, contiguous)."""
    b = basis(width, height)
    return Projector(
        ay=np.ascontiguousarray(b.ay, dtype=np.float32),
        ax_t=np.ascontiguousarray(b.ax.T, dtype=np.float32),
    )


@dataclass(frozen=True)
class Projector:
    """``Basis.analyse`` without its normalisation: the reader only compares signs and
    medians, which scaling does not change, so the hot path skips the division."""

    ay: npt.NDArray[np.float32]
    ax_t: npt.NDArray[np.float32]

    def project(self, luma: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
        result: npt.NDArray[np.floating[Any]] = (self.ay @ luma) @ self.ax_t
        return result


def basis_view(width: int, height: int, view: tuple[float, float, float, float]) -> Basis:
    """The basis for a frame that shows ``view = (x0, y0, sx, sy)`` of the original."""
    x0, y0, sx, sy = view
    return Basis(ax=_view_axis(width, x0, sx), ay=_view_axis(height, y0, sy))


@lru_cache(maxsize=2048)
def _view_axis(length: int, start: float, span: float) -> Array:
    # A crop search asks for the same axis under many candidates (one zoom and x
    # offset with every y offset): computing each once makes the search ~2x cheaper.
    return _axis_basis(length, start, span)


@lru_cache(maxsize=32)
def _gram_inverse(width: int, height: int) -> Array:
    b = basis(width, height)
    gx = b.ax @ b.ax.T / width
    gy = b.ay @ b.ay.T / height
    index = np.argwhere(CONSTRAINED)
    gram = gy[np.ix_(index[:, 0], index[:, 0])] * gx[np.ix_(index[:, 1], index[:, 1])]
    inverse: Array = np.asarray(np.linalg.inv(gram), dtype=np.float64)
    return inverse


def target_signs(book: Codebook, canary: str, epoch: int) -> Array:
    """+1/-1 for every constrained coefficient (same layout as CONSTRAINED)."""
    signs = np.zeros(CONSTRAINED.shape)
    rows, cols = tile_block(None)
    word = np.concatenate([[True], book.global_word(canary)]).reshape(8, 8)
    signs[rows, cols] = np.where(word, 1.0, -1.0)
    for position, tile in enumerate(TENANT_TILES):
        rows, cols = tile_block(tile)
        signs[rows, cols] = _as_signs(book.tile_word(canary, position))
    for position, tile in enumerate(TIME_TILES):
        symbol = (epoch >> (8 * position)) & 0xFF
        rows, cols = tile_block(tile)
        signs[rows, cols] = _as_signs(book.time_codebook(position)[symbol])
    return signs


def _as_signs(word: Bits) -> Array:
    n = len(BAND)
    return np.where(word, 1.0, -1.0).reshape(n, n)


def render_luma(book: Codebook, canary: str, at: datetime, size: tuple[int, int]) -> Array:
    """The pattern alone as float luminance (no label), shape (height, width)."""
    width, height = _check_size(size)
    b = basis(width, height)
    targets = (target_signs(book, canary, epoch_of(at)) * _AMPLITUDES)[CONSTRAINED]
    weights = np.zeros(CONSTRAINED.shape)
    weights[CONSTRAINED] = _gram_inverse(width, height) @ targets
    luma: Array = MEAN + b.ay.T @ weights @ b.ax
    return luma


def expected_luma(
    book: Codebook,
    canary: str,
    epoch: int,
    shape: tuple[int, int],
    view: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> Array:
    """The pattern ``canary`` shows at ``epoch``, as seen in an image of ``shape``
    (height, width) that shows ``view`` of the original frame: what a reading should
    be compared with."""
    height, width = shape
    targets = (target_signs(book, canary, epoch) * _AMPLITUDES)[CONSTRAINED]
    weights = np.zeros(CONSTRAINED.shape)
    weights[CONSTRAINED] = _gram_inverse(96, 96) @ targets
    b = basis_view(width, height, view)
    luma: Array = MEAN + b.ay.T @ weights @ b.ax
    return luma


def render(
    book: Codebook,
    canary: str,
    at: datetime | None = None,
    size: tuple[int, int] = (1280, 720),
    *,
    label: bool = True,
) -> Image.Image:
    """A canary frame (mode ``L``) whose pHash is ``canary``'s global word."""
    at = at or datetime.now(UTC)
    luma = render_luma(book, canary, at, size)
    image = Image.fromarray(np.clip(np.rint(luma), 0, 255).astype(np.uint8), mode="L")
    if label:
        _draw_label(image, f"{canary}  {at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z")
    return image


def _draw_label(image: Image.Image, text: str) -> None:
    # Thin strokes are far above the pattern's frequencies; a light fill with a dark
    # outline keeps the label's mean close to the background's, so no band moves.
    size = max(8, image.height // 32)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    margin = max(2, image.height // 60)
    draw.text(
        (margin, image.height - margin - size),
        text,
        fill=210,
        font=font,
        stroke_width=max(1, size // 12),
        stroke_fill=50,
    )


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise CanaryError(
            f"frame size {width}x{height} is outside {MIN_SIZE}..{MAX_SIZE} pixels per side"
        )
    return width, height
