"""Compare a reading with the frame its canary should have shown.

Two uses, both against the expected pattern rendered in the reading's own geometry:

- **evidence per cell**: is each cell of an 8x8 grid the expected pattern
  (correlation), and if not, does it hold picture content (texture) or just damage
  (flat grey macroblocks, black, an overlay bar)? Content that is neither the expected
  pattern nor flat is *unexplained*: a spliced-in picture.
- **confirmation** (scikit-image): before any leak is reported, re-register the frame
  against the expected render (phase correlation) and compare them (SSIM), so that a
  damaged own frame is never called a leak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from skimage.metrics import structural_similarity
from skimage.registration import phase_cross_correlation

from canaries.codebook import Codebook
from canaries.pattern import expected_luma
from canaries.reader import Reading

Array = npt.NDArray[np.float64]

CELLS = 8  # evidence is weighed on an 8x8 grid of cells
MATCH_RESIDUAL = 0.6  # a cell whose residual is under this part of its spread is own
SEED_CORRELATION = 0.8  # cells this correlated with the pattern seed the gain fit
# Analysis pixels a cell may be displaced: about one 16-px macroblock sideways (at 1/8
# scale), four downwards, as lost slices are concealed by copying the rows above.
SHIFT_X, SHIFT_Y = 2, 8
DETAIL_RATIO = 2.0  # horizontal detail this many times the pattern's is picture content
TEXTURE_STD = 6.0  # luminance std above which a cell holds picture content, not damage


@dataclass(frozen=True)
class Comparison:
    correlation: float  # whole-frame correlation with the expected render, registered
    unexplained: float  # area fraction of cells that are textured but not the pattern
    cells: tuple[bool, ...]  # per cell (row-major 8x8): textured and not the pattern
    detailed: float  # share of unexplained cells with detail finer than any pattern has
    ssim: float  # SSIM with the expected render, registered (reported, scikit-image)
    shift: tuple[float, float]  # registration shift (rows, cols) in analysis pixels


def compare(reading: Reading, book: Codebook, canary: str, epoch: int) -> Comparison:
    """How ``reading``'s analysed image compares with ``canary``'s frame at ``epoch``."""
    observed = reading.grid.astype(np.float64)
    expected = expected_luma(book, canary, epoch, observed.shape, reading.view)
    shift, _error, _phase = phase_cross_correlation(expected, observed)  # type: ignore[no-untyped-call]
    aligned = np.roll(observed, tuple(int(s) for s in shift), axis=(0, 1))
    win = max(3, min(7, *observed.shape) | 1)
    ssim = float(
        structural_similarity(  # type: ignore[no-untyped-call]
            _standardise(expected), _standardise(aligned), data_range=8.0, win_size=win
        )
    )
    cells = _unexplained(aligned, expected)
    return Comparison(
        detailed=_detailed(aligned, expected, cells),
        correlation=_correlation(aligned, expected),
        unexplained=sum(cells) / len(cells),
        cells=cells,
        ssim=ssim,
        shift=(float(shift[0]), float(shift[1])),
    )


def _correlation(a: Array, b: Array) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 1e-9 else 0.0


def _unexplained(observed: Array, expected: Array) -> tuple[bool, ...]:
    """The textured cells the expected pattern does not explain.

    One gain and offset for the whole frame, fitted on the cells that clearly are the
    pattern and refitted once, so a cell cannot be "explained" by a gain of its own: a
    patch of another pattern or of a photograph correlates with the expected pattern
    by chance far more often than it fits the frame's own gain.
    """
    height, width = observed.shape
    cells = [
        (
            slice(r * height // CELLS, (r + 1) * height // CELLS),
            slice(c * width // CELLS, (c + 1) * width // CELLS),
        )
        for r in range(CELLS)
        for c in range(CELLS)
    ]
    textured = np.array([observed[rows, cols].std() > TEXTURE_STD for rows, cols in cells])
    own = np.array(
        [_correlation(observed[r, c], expected[r, c]) > SEED_CORRELATION for r, c in cells]
    )
    for _round in range(2):
        if not own.any():
            return tuple(bool(t) for t in textured)  # nothing here is the pattern
        mask = np.zeros(observed.shape, dtype=bool)
        for k in np.flatnonzero(own):
            mask[cells[k]] = True
        gain, offset = np.polyfit(expected[mask], observed[mask], 1)
        if gain <= 0:
            return tuple(bool(t) for t in textured)
        own = _cell_rms(observed, gain * expected + offset, last=_round == 1) < MATCH_RESIDUAL * (
            np.maximum([observed[rows, cols].std() for rows, cols in cells], TEXTURE_STD)
        )
    return tuple(bool(b) for b in ~own & textured)


def _detailed(observed: Array, expected: Array, cells: tuple[bool, ...]) -> float:
    """Of the unexplained cells, the share whose horizontal detail is well above the
    pattern's. Concealed (smeared) rows keep the pattern's smooth rows; a photograph
    brings edges the pattern never has."""
    if not any(cells):
        return 0.0
    height, width = observed.shape
    seen = np.abs(np.diff(observed, axis=1))
    baseline = float(np.abs(np.diff(expected, axis=1)).mean()) or 1.0
    detailed = 0
    for k, unexplained in enumerate(cells):
        if unexplained:
            r, c = divmod(k, CELLS)
            rows = slice(r * height // CELLS, (r + 1) * height // CELLS)
            cols = slice(c * width // CELLS, (c + 1) * width // CELLS)
            detailed += float(seen[rows, cols].mean()) > DETAIL_RATIO * baseline
    return detailed / sum(cells)


def _cell_rms(observed: Array, model: Array, *, last: bool) -> npt.NDArray[np.float64]:
    """RMS residual per cell (row-major). In the last pass each cell may match the
    model shifted by up to SHIFT_X/SHIFT_Y pixels: a smeared or displaced macroblock is
    still the frame's own pattern, a pasted picture or another pattern is not."""
    height, width = observed.shape
    row_starts = np.arange(CELLS) * height // CELLS
    col_starts = np.arange(CELLS) * width // CELLS
    counts = np.outer(np.diff([*row_starts, height]), np.diff([*col_starts, width]))
    best = np.full((CELLS, CELLS), np.inf)
    for dy in range(-SHIFT_Y, SHIFT_Y + 1) if last else range(1):
        for dx in range(-SHIFT_X, SHIFT_X + 1) if last else range(1):
            squared = (observed - np.roll(model, (dy, dx), axis=(0, 1))) ** 2
            sums = np.add.reduceat(np.add.reduceat(squared, row_starts, axis=0), col_starts, axis=1)
            best = np.minimum(best, sums / np.maximum(counts, 1))
    rms: npt.NDArray[np.float64] = np.sqrt(best).ravel()
    return rms


def _standardise(image: Array) -> Array:
    """Zero mean, unit variance, clipped: SSIM then ignores gain and offset changes."""
    std = float(image.std()) or 1.0
    result: Array = np.clip((image - image.mean()) / std, -4.0, 4.0)
    return result
