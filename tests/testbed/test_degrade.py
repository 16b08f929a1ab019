"""Path degradations and leak constructions of the evaluation harness, and its corpus."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from canaries import Codebook, render
from testbed import corpus
from testbed.corpus import SKIMAGE, natural_crops, natural_images
from testbed.degrade import (
    DEGRADATIONS,
    grey_thumbnail,
    lost_macroblocks,
    splice,
    splice_box,
)
from testbed.playback import COVERAGE, draw_overlay

BOOK = Codebook(b"degrade tests: deployment secret")
AT = datetime(2026, 7, 19, 13, 47, 31, tzinfo=UTC)
SIZE = (640, 360)
# Degradations that draw on the rng; the others are fixed functions of the frame.
RANDOM = {
    "h264_40k",
    "macroblocks_grey_25",
    "macroblocks_smear_25",
    "crop_8",
    "overlay_15",
    "gamma_colour",
    "noise_blur",
}
GEOMETRY = {
    "h264_40k": (320, 180),
    "downscale_128": (128, 72),
    "letterbox": (640, 480),  # 4:3
    "pillarbox": (840, 360),  # 21:9
}


@pytest.fixture(scope="module")
def frame() -> Image.Image:
    return render(BOOK, "canary-03", AT, SIZE)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_registry_is_exactly_the_issue_list() -> None:
    assert set(DEGRADATIONS) == RANDOM | {
        "jpeg_q5",
        "downscale_128",
        "grayscale",
        "letterbox",
        "pillarbox",
    }


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_degradation_returns_decodable_bytes_of_the_right_geometry(
    frame: Image.Image, name: str
) -> None:
    image = decode(DEGRADATIONS[name](frame, rng()))
    assert image.format == ("PNG" if name == "h264_40k" else "JPEG")
    assert image.size == GEOMETRY.get(name, SIZE)
    assert image.mode == ("L" if name == "grayscale" else "RGB")


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_degradation_is_deterministic_for_a_seed(frame: Image.Image, name: str) -> None:
    first = DEGRADATIONS[name](frame, rng(7))
    assert DEGRADATIONS[name](frame, rng(7)) == first
    assert (DEGRADATIONS[name](frame, rng(8)) != first) == (name in RANDOM)


@pytest.mark.parametrize(("name", "axis", "bar"), [("letterbox", 0, 60), ("pillarbox", 1, 100)])
def test_boxing_adds_black_bars_of_the_right_size(
    frame: Image.Image, name: str, axis: int, bar: int
) -> None:
    pixels = np.asarray(decode(DEGRADATIONS[name](frame, rng())).convert("L"), np.float64)
    profile = pixels.mean(axis=1 - axis)  # mean luminance per row (letterbox) or column
    assert profile[: bar - 2].max() < 6
    assert profile[-(bar - 2) :].max() < 6
    assert profile[bar + 2 : -(bar + 2)].min() > 40  # the picture itself is not black
    assert profile.size - 2 * bar == frame.size[1 - axis]


def test_grayscale_keeps_the_frame_and_drops_colour(frame: Image.Image) -> None:
    image = decode(DEGRADATIONS["grayscale"](frame, rng()))
    assert image.mode == "L"
    diff = np.abs(np.asarray(image, np.float64) - np.asarray(frame, np.float64))
    assert diff.mean() < 3


@pytest.mark.parametrize("seed", range(5))
def test_a_quarter_of_macroblocks_is_lost_in_raster_runs(seed: int) -> None:
    lost = lost_macroblocks(45, 80, 0.25, rng(seed))
    assert lost.shape == (45, 80)
    assert lost.sum() == 900
    runs = np.count_nonzero(np.diff(lost.ravel().astype(int)) == 1)
    assert runs < 200  # runs of blocks, not scattered single blocks


def whole_blocks(pixels: np.ndarray) -> np.ndarray:
    """(rows, 16, cols, 16) view of the whole 16x16 blocks (360 px: 22 rows and a half)."""
    rows, cols = pixels.shape[0] // 16, pixels.shape[1] // 16
    whole = pixels[: rows * 16, : cols * 16].astype(np.float64)
    return whole.reshape(rows, 16, cols, 16)


def test_grey_macroblocks_cover_a_quarter_of_the_frame(frame: Image.Image) -> None:
    pixels = np.asarray(decode(DEGRADATIONS["macroblocks_grey_25"](frame, rng())).convert("L"))
    blocks = whole_blocks(pixels)
    flat = (np.abs(blocks.mean(axis=(1, 3)) - 128) < 3) & (blocks.std(axis=(1, 3)) < 3)
    assert 0.2 < flat.mean() < 0.3


def test_smeared_macroblocks_repeat_their_neighbours(frame: Image.Image) -> None:
    pixels = np.asarray(decode(DEGRADATIONS["macroblocks_smear_25"](frame, rng())).convert("L"))
    blocks = whole_blocks(pixels)
    same_as_above = np.abs(blocks[1:] - blocks[:-1]).mean(axis=(1, 3)) < 4
    assert 0.15 < same_as_above.mean() < 0.3


def test_crop_8_zooms_in(frame: Image.Image) -> None:
    image = decode(DEGRADATIONS["crop_8"](frame, rng()))
    diff = np.abs(np.asarray(image.convert("L"), np.float64) - np.asarray(frame, np.float64))
    assert image.size == SIZE
    assert diff.mean() > 5  # moved, not merely re-encoded


def test_overlay_covers_about_fifteen_percent(frame: Image.Image) -> None:
    drawn = np.asarray(draw_overlay(frame, rng()).convert("L"), np.float64)
    changed = np.abs(drawn - np.asarray(frame, np.float64)) > 2
    assert abs(changed.mean() - COVERAGE) < 0.03


@pytest.mark.parametrize("seed", range(20))
def test_splice_replaces_about_the_requested_fraction_in_one_region(seed: int) -> None:
    black, white = Image.new("RGB", (640, 360)), Image.new("RGB", (640, 360), "white")
    spliced = np.asarray(splice(black, white, 0.4, rng(seed)).convert("L")) > 127
    assert abs(spliced.mean() - 0.4) < 0.01
    ys, xs = np.nonzero(spliced)
    box_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert box_area == spliced.sum()  # one solid rectangle


def test_splice_takes_the_region_from_the_other_frame_at_the_same_place() -> None:
    base = render(BOOK, "canary-01", AT, SIZE)
    other = render(BOOK, "canary-02", AT, SIZE)
    x0, y0, x1, y1 = splice_box(SIZE, 0.4, rng(3))
    spliced = np.asarray(splice(base, other, 0.4, rng(3)).convert("L"))
    assert (spliced[y0:y1, x0:x1] == np.asarray(other)[y0:y1, x0:x1]).all()
    outside = np.ones(spliced.shape, dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert (spliced[outside] == np.asarray(base)[outside]).all()


def test_splice_shapes_include_both_bands_and_rectangles() -> None:
    boxes = [splice_box(SIZE, 0.4, rng(seed)) for seed in range(60)]
    assert any(x1 - x0 == SIZE[0] for x0, _, x1, _ in boxes)
    assert any(y1 - y0 == SIZE[1] for _, y0, _, y1 in boxes)
    assert any(x1 - x0 < SIZE[0] and y1 - y0 < SIZE[1] for x0, y0, x1, y1 in boxes)


def test_grey_thumbnail_is_160_px_wide_and_grey() -> None:
    image = decode(grey_thumbnail(Image.new("RGB", (1280, 720), "orange"), rng()))
    assert (image.size, image.mode) == ((160, 90), "L")


def test_corpus_has_at_least_15_photos_with_skimage_alone() -> None:
    photos = natural_images(sources=[SKIMAGE])
    assert len(photos) >= 15
    assert all(name.startswith("skimage/") for name, _ in photos)
    assert all(image.mode == "RGB" for _, image in photos)
    assert [name for name, _ in photos] == [name for name, _ in natural_images(sources=[SKIMAGE])]


def test_corpus_resizes_to_the_asked_size_and_limits() -> None:
    photos = natural_images(size=(320, 180), limit=4, sources=[SKIMAGE])
    assert len(photos) == 4
    assert {image.size for _, image in photos} == {(320, 180)}


def test_natural_crops_are_camera_frames_deterministic_by_seed() -> None:
    crops = natural_crops(25, (320, 180), seed=5, sources=[SKIMAGE])
    assert len(crops) == 25
    assert {image.size for _, image in crops} == {(320, 180)}
    assert len({name for name, _ in crops}) >= 15  # every photo in turn, not one photo
    again = natural_crops(25, (320, 180), seed=5, sources=[SKIMAGE])
    assert [np.asarray(a).tobytes() for _, a in crops] == [
        np.asarray(b).tobytes() for _, b in again
    ]
    other = natural_crops(25, (320, 180), seed=6, sources=[SKIMAGE])
    assert [name for name, _ in other] != [name for name, _ in crops]


def test_corpus_without_debian_wallpapers_is_skimage_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(corpus, "WALLPAPERS", tmp_path / "wallpapers")
    monkeypatch.setattr(corpus, "BACKGROUNDS", tmp_path / "backgrounds")
    assert corpus.sources_used() == {SKIMAGE: len(natural_images(sources=[SKIMAGE]))}
    assert [name for name, _ in natural_images(limit=3)] == [
        "skimage/astronaut",
        "skimage/brick",
        "skimage/camera",
    ]
