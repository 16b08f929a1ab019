"""The rendered pattern: its pHash (imagehash, the reference) is the canary's global word."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import imagehash
import numpy as np
import pytest
from PIL import Image

from canaries import CanaryError, Codebook, render

SECRET = b"pattern tests: deployment secret"
BOOK = Codebook(SECRET)
SIZES = [(1280, 720), (640, 360), (320, 180), (1920, 1080), (360, 640)]
CANARIES = ["front-door", "garage", "nursery"]
TIMES = [
    datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 7, 19, 13, 47, 31, tzinfo=UTC),
]


def expected_hash(canary: str) -> imagehash.ImageHash:
    bits = np.concatenate([[True], BOOK.global_word(canary)]).reshape(8, 8)
    return imagehash.ImageHash(bits)


def jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize("at", TIMES, ids=lambda t: t.strftime("%Y%m%dT%H%M%S"))
def test_phash_of_render_is_dc_bit_plus_global_word(
    size: tuple[int, int], canary: str, at: datetime
) -> None:
    image = render(BOOK, canary, at, size)
    assert image.size == size
    assert imagehash.phash(image) == expected_hash(canary)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("canary", CANARIES)
def test_phash_survives_jpeg_quality_30(size: tuple[int, int], canary: str) -> None:
    decoded = jpeg_round_trip(render(BOOK, canary, TIMES[1], size), quality=30)
    assert imagehash.phash(decoded) == expected_hash(canary)


def test_different_canaries_have_different_phashes() -> None:
    hashes = [imagehash.phash(render(BOOK, name, TIMES[0], (320, 180))) for name in CANARIES]
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            assert hashes[i] - hashes[j] >= 8


def test_render_is_luminance_only() -> None:
    image = render(BOOK, "garage", TIMES[0], (640, 360))
    assert image.mode == "L"
    assert image.getbands() == ("L",)


@pytest.mark.parametrize("size", [(1280, 720), (320, 180), (360, 640)], ids=str)
def test_label_does_not_change_the_phash(size: tuple[int, int]) -> None:
    plain = render(BOOK, "nursery", TIMES[1], size, label=False)
    labelled = render(BOOK, "nursery", TIMES[1], size, label=True)
    assert not np.array_equal(np.asarray(plain), np.asarray(labelled))  # a label was drawn
    assert imagehash.phash(plain) == imagehash.phash(labelled) == expected_hash("nursery")


def test_render_is_deterministic_for_canary_time_and_size() -> None:
    first = render(BOOK, "garage", TIMES[1], (640, 360))
    second = render(BOOK, "garage", TIMES[1], (640, 360))
    assert np.array_equal(np.asarray(first), np.asarray(second))


@pytest.mark.parametrize(
    "size",
    [(31, 720), (1280, 31), (0, 0), (-640, 360), (8193, 720), (1280, 10000)],
    ids=str,
)
def test_impossible_sizes_are_rejected(size: tuple[int, int]) -> None:
    with pytest.raises(CanaryError, match=r"outside 32\.\.8192 pixels per side"):
        render(BOOK, "garage", TIMES[0], size)


@pytest.mark.parametrize("size", [(32, 32), (8192, 32)], ids=str)
def test_extreme_but_allowed_sizes_render(size: tuple[int, int]) -> None:
    assert render(BOOK, "garage", TIMES[0], size, label=False).size == size


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("canary", CANARIES)
def test_pixels_rarely_clip_at_0_or_255(size: tuple[int, int], canary: str) -> None:
    pixels = np.asarray(render(BOOK, canary, TIMES[1], size, label=False))
    assert pixels.dtype == np.uint8
    clipped = np.count_nonzero((pixels == 0) | (pixels == 255)) / pixels.size
    assert clipped < 0.01
    # The pattern is visible: a real spread of luminance around mid-grey.
    assert 20 < pixels.std() < 60
    assert 118 < pixels.mean() < 138
