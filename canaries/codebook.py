"""Keyed codewords: who a canary is and what time it shows.

Every codeword is derived from the deployment secret with HMAC-SHA256, so nobody
without the secret can render a valid canary frame or predict another tenant's code.

Three kinds of word, each a vector of bits (numpy bool arrays):

- the **global word** of a canary: 63 bits, exactly 31 set. Together with the DC bit
  (always set by pHash) it is the frame's 64-bit pHash, balanced so that pHash's
  median threshold falls between the two coefficient clusters;
- a canary's **tile words**, one per tenant tile position: ``TILE_BITS`` bits, balanced;
- the **time codebooks**, one per time tile position: ``TIME_SYMBOLS`` words with a
  pairwise Hamming distance of at least ``TIME_MIN_DISTANCE`` (checked as built).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property, lru_cache

import numpy as np
import numpy.typing as npt

from canaries.errors import CanaryError

Bits = npt.NDArray[np.bool_]

GLOBAL_BITS = 63
TILE_BITS = 36
TIME_SYMBOLS = 256
TIME_MIN_DISTANCE = 10


class Codebook:
    """All codewords of one deployment, derived from its secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise CanaryError("the deployment secret must not be empty")
        self._secret = bytes(secret)

    def _rng(self, *label: object) -> np.random.Generator:
        message = "\x1f".join(str(part) for part in label).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return np.random.default_rng(int.from_bytes(digest, "big"))

    def global_word(self, canary: str) -> Bits:
        return _balanced(self._rng("global", canary), GLOBAL_BITS, 31)

    def tile_word(self, canary: str, position: int) -> Bits:
        return _balanced(self._rng("tile", position, canary), TILE_BITS, TILE_BITS // 2)

    def time_codebook(self, position: int) -> Bits:
        """``TIME_SYMBOLS`` x ``TILE_BITS`` words for time tile ``position``."""
        return self._time_codebooks[position]

    @cached_property
    def _time_codebooks(self) -> dict[int, Bits]:
        return {pos: _spread_codebook(self._secret, pos) for pos in range(4)}


def _balanced(rng: np.random.Generator, bits: int, ones: int) -> Bits:
    word = np.zeros(bits, dtype=bool)
    word[rng.choice(bits, size=ones, replace=False)] = True
    return word


@lru_cache(maxsize=16)
def _spread_codebook(secret: bytes, position: int) -> Bits:
    """Greedy random code: accept a candidate only if it keeps the minimum distance."""
    digest = hmac.new(secret, f"time\x1f{position}".encode(), hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    words = np.zeros((TIME_SYMBOLS, TILE_BITS), dtype=bool)
    count = 0
    while count < TIME_SYMBOLS:
        candidates = rng.random((64, TILE_BITS)) < 0.5
        for candidate in candidates:
            if count and hamming_to_many(candidate, words[:count]).min() < TIME_MIN_DISTANCE:
                continue
            words[count] = candidate
            count += 1
            if count == TIME_SYMBOLS:
                break
    return words


def hamming_to_many(word: Bits, words: Bits) -> npt.NDArray[np.int64]:
    """Hamming distance from ``word`` to each row of ``words``."""
    distances: npt.NDArray[np.int64] = np.count_nonzero(words != word, axis=-1).astype(np.int64)
    return distances
