"""Tenant codes as packed 64-bit words: reading them out of a projection, comparing
them with a fleet, and the fleet's minimum-distance guarantee.

A canary's **tenant code** is its global word (pHash's 64 bits, the DC bit always set:
63 informative) plus its five tenant-tile words (36 bits each): 243 informative bits
in six components. Time tiles are read alongside, as four more words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from canaries.errors import CanaryError
from canaries.pattern import BAND, GLOBAL_SIZE, GRID, TENANT_TILES, TIME_TILES, tile_block

Packed = npt.NDArray[np.uint64]

COMPONENTS = 1 + len(TENANT_TILES)
FLEET_MIN_DISTANCE = 72  # every two canaries' tenant codes differ in at least this


class FleetError(CanaryError):
    """Two canaries of a fleet are too close to tell apart; rename one of them."""


def _gather_index() -> npt.NDArray[np.intp]:
    """Flat indices into the coefficient matrix, one row of 64 per code word."""
    size = GLOBAL_SIZE + GRID * len(BAND)
    index = np.zeros((COMPONENTS + len(TIME_TILES), 64), dtype=np.intp)
    index[0] = (np.arange(GLOBAL_SIZE)[:, None] * size + np.arange(GLOBAL_SIZE)).ravel()
    for i, tile in enumerate((*TENANT_TILES, *TIME_TILES), start=1):
        rows, cols = tile_block(tile)
        block = (np.arange(size)[rows][:, None] * size + np.arange(size)[cols]).ravel()
        index[i, : block.size] = block
        index[i, block.size :] = -1  # padding bits: always read as 0 (see _read_words)
    return index


_GATHER = _gather_index()
_COMPONENT_INDEX = np.arange(COMPONENTS)
_PADDING = _GATHER < 0


def read_words(coefficients: npt.NDArray[np.floating[Any]]) -> Packed:
    """The ten code words a frame carries: global, 5 tenant tiles, 4 time tiles."""
    values = coefficients.ravel()[_GATHER]
    low = values[0]
    ordered = np.sort(low)
    values[0] -= (ordered[31] + ordered[32]) / 2  # pHash's median threshold
    bits = (values > 0) & ~_PADDING
    words: Packed = np.packbits(bits, axis=1, bitorder="little").view(np.uint64).ravel()
    return words


def pack(bits: npt.NDArray[np.bool_]) -> np.uint64:
    """Up to 64 bits as one unsigned integer (bit i of the array = bit i of the word)."""
    padded = np.zeros(64, dtype=bool)
    padded[: bits.size] = bits
    word: np.uint64 = np.packbits(padded, bitorder="little").view(np.uint64)[0]
    return word


def check_fleet(names: Sequence[str], words: Packed, block: int = 256) -> None:
    """Refuse a fleet in which two tenant codes are closer than FLEET_MIN_DISTANCE.

    All pairs, in blocks of rows: a 10,000-canary fleet is checked in about a second.
    """
    for start in range(0, len(names), block):
        rows = words[start : start + block]
        joint = np.zeros((len(rows), len(names)), dtype=np.int64)
        for component in range(words.shape[1]):
            joint += np.bitwise_count(rows[:, component, None] ^ words[None, :, component])
        for row in range(len(rows)):
            joint[row, : start + row + 1] = FLEET_MIN_DISTANCE  # each pair once, not itself
        k, j = (int(i) for i in np.unravel_index(int(joint.argmin()), joint.shape))
        if joint[k, j] < FLEET_MIN_DISTANCE:
            raise FleetError(
                f"canaries {names[start + k]!r} and {names[j]!r} have tenant codes only "
                f"{int(joint[k, j])} bits apart (at least {FLEET_MIN_DISTANCE} needed to "
                "tell them apart): rename one of them"
            )


def distances_to(fleet: Packed, words: Packed) -> npt.NDArray[np.int64]:
    """(fleet, component) Hamming distances of the six tenant-code components."""
    distances: npt.NDArray[np.int64] = np.bitwise_count(fleet ^ words[:COMPONENTS]).astype(np.int64)
    return distances
