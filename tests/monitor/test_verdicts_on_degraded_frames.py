"""Every verdict from real degraded frames (testbed.degrade: what paths do to frames)."""

from __future__ import annotations

import io
import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from canaries import Codebook, Reader, render
from monitor.judge import classify
from monitor.verdict import Verdict
from testbed.corpus import natural_images
from testbed.degrade import DEGRADATIONS, grey_thumbnail, jpeg, splice

BOOK = Codebook(b"degraded verdict tests: secret")
FLEET = [f"cam-{i:02d}" for i in range(12)]
NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
PER_CASE = 4


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(BOOK, FLEET)


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [image for _name, image in natural_images(size=(1280, 720))][:8]


def own_frames(seed: int) -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(seed)
    return [
        (name, render(BOOK, name, NOW - timedelta(seconds=float(rng.uniform(0, 30))), (1280, 720)))
        for name in rng.choice(FLEET, PER_CASE, replace=False)
    ]


@pytest.mark.parametrize("degradation", sorted(DEGRADATIONS))
def test_degraded_own_frames_read_as_own_never_as_a_leak(reader: Reader, degradation: str) -> None:
    rng = np.random.default_rng(7)
    for canary, frame in own_frames(zlib.crc32(degradation.encode())):
        judgement = classify(reader, DEGRADATIONS[degradation](frame, rng), canary, NOW, 60)
        assert judgement.verdict in {Verdict.OWN, Verdict.DEGRADED}, (canary, judgement)
        assert judgement.canary == canary


def test_another_canarys_frame_is_foreign_canary_naming_it(reader: Reader) -> None:
    for canary, frame in own_frames(1):
        judgement = classify(
            reader, jpeg(frame), "cam-11" if canary != "cam-11" else "cam-00", NOW, 60
        )
        assert (judgement.verdict, judgement.canary) == (Verdict.FOREIGN_CANARY, canary)


def test_40_percent_of_another_canary_spliced_in_is_spliced_never_misattributed(
    reader: Reader,
) -> None:
    rng = np.random.default_rng(3)
    for canary, frame in own_frames(2):
        source = next(name for name in FLEET if name != canary)
        mixed = splice(frame, render(BOOK, source, NOW, (1280, 720)), 0.4, rng)
        judgement = classify(reader, jpeg(mixed), canary, NOW, 60)
        assert judgement.verdict is Verdict.SPLICED, judgement
        assert judgement.canary in {source, None}


def test_40_percent_of_a_photo_spliced_in_is_a_leak(
    reader: Reader, photos: list[Image.Image]
) -> None:
    rng = np.random.default_rng(4)
    for (canary, frame), photo in zip(own_frames(3), photos, strict=False):
        judgement = classify(reader, jpeg(splice(frame, photo, 0.4, rng)), canary, NOW, 60)
        assert judgement.verdict is Verdict.SPLICED, judgement
        assert judgement.canary is None


def test_natural_photos_in_colour_and_as_grey_thumbnails_are_foreign(
    reader: Reader, photos: list[Image.Image]
) -> None:
    rng = np.random.default_rng(5)
    for photo in photos:
        for data in (jpeg(photo), grey_thumbnail(photo, rng)):
            judgement = classify(reader, data, "cam-00", NOW, 60)
            assert (judgement.verdict, judgement.canary) == (Verdict.FOREIGN, None)


def test_stale_replay_of_a_degraded_frame_is_own_stale(reader: Reader) -> None:
    rng = np.random.default_rng(6)
    frame = render(BOOK, "cam-05", NOW - timedelta(days=2), (1280, 720))
    judgement = classify(reader, DEGRADATIONS["h264_40k"](frame, rng), "cam-05", NOW, 60)
    assert judgement.verdict is Verdict.OWN_STALE
    assert judgement.age_s == pytest.approx(2 * 86400, abs=2)


def test_uniform_and_undecodable_frames_are_blank_and_error(reader: Reader) -> None:
    black = io.BytesIO()
    Image.new("RGB", (1280, 720)).save(black, "JPEG")
    assert classify(reader, black.getvalue(), "cam-00", NOW, 60).verdict is Verdict.BLANK
    broken = classify(reader, black.getvalue()[:200], "cam-00", NOW, 60)
    assert broken.verdict is Verdict.ERROR
    assert broken.detail.startswith(("corrupt JPEG data", "not a readable JPEG"))
