"""The keyed codebook: deterministic per secret, balanced words, a spread time code."""

from __future__ import annotations

import numpy as np
import pytest

from canaries import CanaryError, Codebook
from canaries.codebook import (
    GLOBAL_BITS,
    TILE_BITS,
    TIME_MIN_DISTANCE,
    TIME_SYMBOLS,
    _spread_codebook,
)

SECRET = b"codebook tests: deployment secret"
CANARIES = ["front-door", "garage", "nursery", "canary-07"]


def test_same_secret_gives_the_same_words_in_a_fresh_codebook() -> None:
    first = Codebook(SECRET)
    words = {name: first.global_word(name) for name in CANARIES}
    tiles = {(name, pos): first.tile_word(name, pos) for name in CANARIES for pos in range(5)}
    times = [first.time_codebook(pos).copy() for pos in range(4)]
    _spread_codebook.cache_clear()  # rebuild the time codebooks rather than reuse the cache

    second = Codebook(bytes(SECRET))
    for name in CANARIES:
        assert np.array_equal(second.global_word(name), words[name])
        for pos in range(5):
            assert np.array_equal(second.tile_word(name, pos), tiles[name, pos])
    for pos in range(4):
        assert np.array_equal(second.time_codebook(pos), times[pos])


@pytest.mark.parametrize("name", CANARIES)
def test_a_different_secret_gives_a_different_global_word_for_the_same_canary(name: str) -> None:
    ours = Codebook(SECRET).global_word(name)
    theirs = Codebook(SECRET + b"!").global_word(name)
    assert np.count_nonzero(ours != theirs) >= 8


def test_a_different_secret_gives_different_tile_and_time_words() -> None:
    ours, theirs = Codebook(SECRET), Codebook(b"another deployment")
    for pos in range(5):
        assert not np.array_equal(ours.tile_word("garage", pos), theirs.tile_word("garage", pos))
    for pos in range(4):
        assert not np.array_equal(ours.time_codebook(pos), theirs.time_codebook(pos))


def test_canaries_of_one_deployment_have_distinct_global_words() -> None:
    book = Codebook(SECRET)
    words = np.array([book.global_word(f"canary-{i}") for i in range(50)])
    distances = np.count_nonzero(words[:, None, :] != words[None, :, :], axis=-1)
    off_diagonal = distances[~np.eye(len(words), dtype=bool)]
    assert off_diagonal.min() >= 8


@pytest.mark.parametrize("name", CANARIES)
def test_global_word_has_63_bits_with_exactly_31_set(name: str) -> None:
    word = Codebook(SECRET).global_word(name)
    assert GLOBAL_BITS == 63
    assert word.dtype == np.bool_
    assert word.shape == (63,)
    assert int(word.sum()) == 31


@pytest.mark.parametrize("name", CANARIES)
def test_tile_words_are_balanced_and_differ_per_position(name: str) -> None:
    book = Codebook(SECRET)
    words = [book.tile_word(name, pos) for pos in range(5)]
    for word in words:
        assert word.dtype == np.bool_
        assert word.shape == (TILE_BITS,)
        assert int(word.sum()) == TILE_BITS // 2
    assert len({word.tobytes() for word in words}) == 5


@pytest.mark.parametrize("position", range(4))
def test_time_codebook_has_256_words_pairwise_at_least_min_distance(position: int) -> None:
    words = Codebook(SECRET).time_codebook(position)
    assert words.shape == (TIME_SYMBOLS, TILE_BITS) == (256, 36)
    distances = np.count_nonzero(words[:, None, :] != words[None, :, :], axis=-1)
    pairs = distances[np.triu_indices(TIME_SYMBOLS, k=1)]
    assert pairs.size == 256 * 255 // 2
    assert int(pairs.min()) >= TIME_MIN_DISTANCE


def test_time_codebooks_differ_between_positions() -> None:
    book = Codebook(SECRET)
    books = [book.time_codebook(pos) for pos in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(books[i], books[j])


@pytest.mark.parametrize("secret", [b"", bytearray()])
def test_empty_secret_is_rejected(secret: bytes) -> None:
    with pytest.raises(CanaryError, match="secret must not be empty"):
        Codebook(secret)
