"""Issue-3 guarantees: fleet distance, time over 7 days, agreement with imagehash,
and the confirmation step that keeps damaged own frames from being called leaks."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta

import imagehash
import numpy as np
import pytest
from PIL import Image

from canaries import Codebook, Reader, render
from canaries.codes import FLEET_MIN_DISTANCE, FleetError, check_fleet, pack
from monitor.judge import classify, judge
from monitor.verdict import Verdict

BOOK = Codebook(b"identification tests: secret")
FLEET = ["alpha", "bravo", "charlie"]
NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def jpeg(image: Image.Image, quality: int = 60) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(BOOK, FLEET)


def test_a_2000_canary_fleet_keeps_the_stated_minimum_distance() -> None:
    fleet = [f"site-{i:04d}" for i in range(2000)]
    big = Reader(BOOK, fleet)  # check_fleet ran inside and did not raise
    words = big._words
    smallest = min(
        int(np.bitwise_count(words[i + 1 :] ^ words[i]).sum(axis=1).min())
        for i in range(0, len(fleet) - 1, 7)
    )
    assert smallest >= FLEET_MIN_DISTANCE


def test_two_canaries_with_close_codes_are_refused_with_both_names() -> None:
    words = Reader(BOOK, FLEET)._words.copy()
    words[2] = words[0]
    words[2, 0] ^= np.uint64(0b1111)  # charlie's code now 4 bits from alpha's
    with pytest.raises(FleetError) as caught:
        check_fleet(FLEET, words)
    assert str(caught.value) == (
        "canaries 'alpha' and 'charlie' have tenant codes only 4 bits apart "
        f"(at least {FLEET_MIN_DISTANCE} needed to tell them apart): rename one of them"
    )


@pytest.mark.parametrize(
    "age",
    [
        timedelta(seconds=62),
        timedelta(minutes=10),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=3, hours=5),
        timedelta(days=6, hours=23, minutes=59),
    ],
    ids=["62s", "10min", "1h", "1d", "3d5h", "6d23h59m"],
)
def test_replays_up_to_7_days_old_are_own_stale_with_their_age(
    reader: Reader, age: timedelta
) -> None:
    frame = jpeg(render(BOOK, "alpha", NOW - age, (1280, 720)), quality=40)
    judgement = classify(reader, frame, "alpha", NOW, 60)
    assert judgement.verdict is Verdict.OWN_STALE
    assert judgement.age_s == pytest.approx(age.total_seconds(), abs=2.0)


@pytest.mark.parametrize("age_s", [0, 20, 58])
def test_frames_within_the_tolerance_are_own(reader: Reader, age_s: int) -> None:
    frame = jpeg(render(BOOK, "bravo", NOW - timedelta(seconds=age_s), (640, 360)))
    judgement = classify(reader, frame, "bravo", NOW, 60)
    assert judgement.verdict is Verdict.OWN
    assert judgement.age_s == pytest.approx(age_s, abs=2.0)


@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (320, 180), (1920, 1080)])
@pytest.mark.parametrize("quality", [90, 30, 10])
def test_fast_global_layer_agrees_with_imagehash_phash(
    reader: Reader, size: tuple[int, int], quality: int
) -> None:
    for canary in FLEET:
        image = render(BOOK, canary, NOW, size)
        data = jpeg(image, quality)
        reference = imagehash.phash(Image.open(io.BytesIO(data))).hash.ravel()
        assert reader.read(data).phash == int(pack(reference))


def test_confirmation_keeps_a_misread_own_frame_from_being_a_leak(reader: Reader) -> None:
    """Force a misreading (tiles and global layer 'seen' as bravo) of alpha's damaged
    frame: the votes alone say foreign_canary, the comparison with alpha's expected
    render says it is alpha's frame, so the verdict is degraded, never a leak."""
    damaged = render(BOOK, "alpha", NOW, (1280, 720))
    pixels = np.array(damaged)
    pixels[::16, :] = 128  # damage: grey scan lines
    reading = reader.read(jpeg(Image.fromarray(pixels), quality=20))
    misread = dataclasses.replace(
        reading, tiles=("bravo",) * 5, global_canary="bravo", canary="bravo", nearest="bravo"
    )
    judgement = judge(misread, "alpha", NOW, 60, book=BOOK)
    assert judgement.verdict is Verdict.DEGRADED
    assert "matches the expected frame" in judgement.detail


def test_confirmation_passes_a_real_foreign_canary(reader: Reader) -> None:
    judgement = classify(reader, jpeg(render(BOOK, "charlie", NOW, (1280, 720))), "alpha", NOW, 60)
    assert (judgement.verdict, judgement.canary) == (Verdict.FOREIGN_CANARY, "charlie")
    assert "confirmed" in judgement.detail
    assert judgement.confidence > 0.5
