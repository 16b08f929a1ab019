"""Pixelation really destroys the private detail; reveal grants are short and personal."""

from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageDraw, ImageFont
from skimage.metrics import structural_similarity

from monitor.web.pages.evidence import (
    BLOCKS_WIDE,
    EvidenceImageError,
    RevealGrants,
    as_png,
    grid_size,
    pixelate,
)


def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, quality=90) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def grey(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def astronaut() -> Image.Image:
    """A real photograph with a face and readable text (the name patch)."""
    return Image.fromarray(skimage.data.astronaut())


def test_pixelated_face_is_no_closer_to_the_original_than_flat_grey() -> None:
    """SSIM against the original: the pixelated frame scores about what a uniform grey
    square of the same mean scores, far below a 48-block (recognisable) reduction."""
    original = astronaut().convert("L")
    reference = np.asarray(original, dtype=np.float64)

    def ssim(image: Image.Image) -> float:
        resized = np.asarray(image.convert("L").resize(original.size), dtype=np.float64)
        return float(structural_similarity(reference, resized, data_range=255))

    pixelated = ssim(Image.open(io.BytesIO(pixelate(encode(astronaut())))))
    flat = ssim(Image.new("L", original.size, round(reference.mean())))
    recognisable = ssim(original.resize((48, 48), Image.Resampling.BOX))
    assert pixelated < flat + 0.05, (pixelated, flat)
    assert pixelated < recognisable - 0.2, (pixelated, recognisable)


def test_pixelation_keeps_nothing_finer_than_a_block() -> None:
    """The output is a function of the block means alone: replacing every block by its
    mean (all faces, text and edges inside blocks gone) changes nothing visible."""
    original = astronaut().convert("L").resize((480, 480))
    columns, rows = grid_size(*original.size)
    means = original.resize((columns, rows), Image.Resampling.BOX)
    flattened = means.resize(original.size, Image.Resampling.NEAREST)
    a = grey(pixelate(encode(original, "PNG")))
    b = grey(pixelate(encode(flattened, "PNG")))
    assert np.abs(a - b).max() <= 2


def test_different_words_pixelate_alike() -> None:
    font = ImageFont.load_default(size=40)

    def sign(word: str) -> bytes:
        image = Image.new("L", (640, 360), 200)
        ImageDraw.Draw(image).text((40, 150), word, fill=20, font=font)
        return encode(image, "PNG")

    raw_gap = np.abs(grey(sign("ALICE SMITH")) - grey(sign("BOB JONES 42"))).mean()
    pixel_gap = np.abs(grey(pixelate(sign("ALICE SMITH"))) - grey(pixelate(sign("BOB JONES 42"))))
    assert raw_gap > 5 * pixel_gap.mean()
    assert pixel_gap.max() < 20  # no letter shape survives


def test_pixelated_output_is_a_coarse_grey_png_of_the_asked_width() -> None:
    png = pixelate(encode(astronaut()), width=360)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.mode == "L"
        assert image.width == 360
        small = image.resize(grid_size(*image.size), Image.Resampling.BOX)
    assert grid_size(512, 512) == (BLOCKS_WIDE, BLOCKS_WIDE)
    assert len(set(small.tobytes())) <= BLOCKS_WIDE * BLOCKS_WIDE


@pytest.mark.parametrize("data", [b"", b"not an image", encode(astronaut())[:200]])
def test_undecodable_evidence_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(EvidenceImageError, match="does not decode"):
        pixelate(data)
    with pytest.raises(EvidenceImageError):
        as_png(data)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    header = Image.new("L", (1, 1))
    raw = encode(header, "PNG")
    # Patch the IHDR width/height to 100000 x 100000 (CRC is not checked by the size probe).
    bomb = raw[:16] + (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big") + raw[24:]
    with pytest.raises(EvidenceImageError):
        pixelate(bomb)


def test_clear_png_is_the_same_picture() -> None:
    original = astronaut()
    clear = grey(as_png(encode(original, "PNG")))
    assert np.array_equal(clear, np.asarray(original.convert("L"), dtype=np.float64))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_grant_is_only_for_its_operator_and_expires() -> None:
    clock = Clock()
    grants = RevealGrants(ttl_s=60, clock=clock)
    grant = grants.issue("alice", evidence_id=3, incident_id=1, view_id=9)
    assert len(grant.token) >= 40
    assert grants.redeem(grant.token, "alice") == grant
    assert grants.redeem(grant.token, "alice") == grant  # the browser may fetch again
    assert grants.redeem(grant.token, "bob") is None
    assert grants.redeem("guessed-token", "alice") is None
    clock.now += 61
    assert grants.redeem(grant.token, "alice") is None


def test_grants_are_bounded() -> None:
    grants = RevealGrants(ttl_s=60, clock=Clock())
    first = grants.issue("alice", 1, 1, 1)
    for i in range(1500):
        grants.issue("alice", i, 1, i)
    assert grants.redeem(first.token, "alice") is None
    assert len(grants._grants) <= 1000
