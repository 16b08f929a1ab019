"""The slow path of reading: find the crop or zoom of the original frame a picture shows.

A frame that reads as no canary may be a cropped or zoomed canary (a player's zoom, a
smart display's fill). The search moves the analysis basis over crops and zooms of the
original frame, never resampling pixels, and compares against a shortlist of the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from canaries.codes import COMPONENTS, Packed, distances_to, read_words
from canaries.pattern import basis_view

Array = npt.NDArray[np.float64]
View = tuple[float, float, float, float]

# Crops/zooms tried on the slow path: zoom factors and centre offsets per axis.
ZOOMS = (1.0, 1.04, 1.08, 1.12)
OFFSETS = (-1.0, -0.5, 0.0, 0.5, 1.0)  # fractions of the largest offset a zoom allows
GOOD_ENOUGH = 12  # a search candidate this close to a canary's code ends the search
SHORTLIST = 32  # canaries per criterion the search compares against
REFINE_BELOW = 70  # the coarse search must come this close to a canary to refine


@dataclass(frozen=True)
class _Candidate:
    score: int
    view: View
    words: Packed
    distances: npt.NDArray[np.int64]


def search(
    luma: Array, view: View, words: Packed, distances: npt.NDArray[np.int64], fleet: Packed
) -> tuple[View, Packed, npt.NDArray[np.int64]]:
    """Try crops and zooms of the original frame; keep the best-reading one.

    ``words``/``distances`` are the unmoved reading's; ``fleet`` the fleet's packed codes.

    A coarse grid of zooms and centre offsets, then a coarse-to-fine local search
    around the best candidate; stops as soon as a candidate reads cleanly.
    """
    height, width = luma.shape
    best = _Candidate(int(distances.sum(axis=1).min()), view, words, distances)
    # Search against a shortlist: the canaries nearest by the whole code and by the
    # global (pHash) layer, which a crop disturbs least. Large fleets stay fast.
    shortlist = np.union1d(
        np.argsort(distances.sum(axis=1))[:SHORTLIST],
        np.argsort(distances[:, 0])[:SHORTLIST],
    )
    fleet_words = fleet[shortlist]
    found: View | None = None

    def trial(candidate: View) -> bool:
        nonlocal best, found
        read = read_words(basis_view(width, height, candidate).analyse(luma))
        score = int(np.bitwise_count(fleet_words ^ read[:COMPONENTS]).sum(axis=1).min())
        if score < best.score:
            best = _Candidate(score, candidate, read, distances)
            found = candidate
        return score <= GOOD_ENOUGH

    x0, y0, sx, sy = view
    for zoom in ZOOMS[1:]:
        span_x, span_y = sx / zoom, sy / zoom
        for fx in OFFSETS:
            for fy in OFFSETS:
                candidate = (
                    x0 + (sx - span_x) * (1 + fx) / 2,
                    y0 + (sy - span_y) * (1 + fy) / 2,
                    span_x,
                    span_y,
                )
                if trial(candidate):
                    return _finish(best, found, fleet)
    if best.score > REFINE_BELOW:
        return _finish(best, found, fleet)  # no canary anywhere near: not a crop of one
    step = 0.02
    for _level in range(3):
        bx, by, bsx, bsy = best.view
        for dz in (-step, 0.0, step):
            for dx in (-step, 0.0, step):
                for dy in (-step, 0.0, step):
                    scale = 1 + dz
                    candidate = (bx + dx, by + dy, bsx * scale, bsy * scale)
                    if candidate != best.view and trial(candidate):
                        return _finish(best, found, fleet)
        step /= 2
    return _finish(best, found, fleet)


def _finish(
    best: _Candidate, found: View | None, fleet: Packed
) -> tuple[View, Packed, npt.NDArray[np.int64]]:
    """The search's best view, with its distances to the whole fleet."""
    if found is None:
        return best.view, best.words, best.distances
    return best.view, best.words, distances_to(fleet, best.words)
