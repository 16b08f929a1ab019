"""Reading frames back: own code through lossy paths, nothing from real photos, bad input."""

from __future__ import annotations

import io
import resource
import struct
import time
import warnings
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from canaries import (
    EPOCH_SECONDS,
    Codebook,
    FrameDecodeError,
    FrameTooLargeError,
    Reader,
    VirtualCanaryCamera,
    render,
)
from canaries.reader import FULL_DECODE_MAX_PIXELS, JOINT_RADIUS
from testbed.corpus import SKIMAGE, natural_images
from tests.hostile_media import READ_FRAME, black_png, measured

SECRET = b"reader tests: deployment secret"
BOOK = Codebook(SECRET)
FLEET = [f"canary-{i:02d}" for i in range(20)]
AT = datetime(2026, 7, 19, 13, 47, 31, 250_000, tzinfo=UTC)
# Natural photos from scikit-image's wheel only, so the tests see the same corpus on
# every machine (bench/identify.py adds Debian's wallpaper photographs when installed).
PHOTOS = dict(natural_images(sources=[SKIMAGE]))
READ_OWN = (
    f"from canaries import Codebook, Reader\nreader = Reader(Codebook({SECRET!r}), ['canary-03'])",
    "assert reader.read(data).canary == 'canary-03'",
)
PER_FRAME_MIB = 100  # what reading one frame of at most the default pixel limit may cost


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(BOOK, FLEET)


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def floored(at: datetime) -> datetime:
    return datetime.fromtimestamp(int(at.timestamp()) // EPOCH_SECONDS * EPOCH_SECONDS, tz=UTC)


@pytest.mark.parametrize("canary", ["canary-00", "canary-07", "canary-19"])
@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (360, 640)], ids=str)
def test_jpeg_q30_round_trip_reads_own(reader: Reader, canary: str, size: tuple[int, int]) -> None:
    reading = reader.read(jpeg(render(BOOK, canary, AT, size), quality=30))
    assert (reading.width, reading.height) == size
    assert not reading.blank
    assert reading.canary == reading.nearest == canary
    assert reading.distance <= 2
    assert reading.tiles == (canary,) * 5
    assert reading.at == floored(AT) == datetime(2026, 7, 19, 13, 47, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC),
        AT - timedelta(days=3),
    ],
    ids=str,
)
def test_epoch_is_render_time_floored_to_epoch_seconds(reader: Reader, at: datetime) -> None:
    reading = reader.read(jpeg(render(BOOK, "canary-03", at, (640, 360)), quality=30))
    assert reading.epoch == int(at.timestamp()) // EPOCH_SECONDS
    assert reading.at == floored(at)


def test_reader_accepts_a_pil_image_as_well_as_bytes(reader: Reader) -> None:
    image = render(BOOK, "canary-05", AT, (640, 360))
    reading = reader.read(image)
    assert reading.canary == "canary-05"
    assert reading.distance == 0
    assert reading.at == floored(AT)


def test_thumbnail_320x180_jpeg_q40_still_reads_own(reader: Reader) -> None:
    full = render(BOOK, "canary-11", AT, (1280, 720))
    thumb = full.resize((320, 180), Image.Resampling.BILINEAR)
    reading = reader.read(jpeg(thumb, quality=40))
    assert (reading.width, reading.height) == (320, 180)
    assert reading.canary == "canary-11"
    assert reading.distance <= 4
    assert reading.tiles.count("canary-11") >= 4
    assert reading.at == floored(AT)


def test_another_canarys_frame_decodes_to_that_canary(reader: Reader) -> None:
    reading = reader.read(jpeg(render(BOOK, "canary-14", AT, (1280, 720)), quality=30))
    assert reading.canary == "canary-14"
    assert reading.tiles == ("canary-14",) * 5


def test_a_canary_from_another_deployment_is_no_canary_of_ours(reader: Reader) -> None:
    stranger = Codebook(b"someone else's secret")
    reading = reader.read(jpeg(render(stranger, "canary-04", AT, (1280, 720)), quality=30))
    assert reading.canary is None
    assert reading.distance > JOINT_RADIUS
    assert reading.tiles == (None,) * 5
    assert reading.epoch is None


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("name", PHOTOS)
def test_natural_photo_carries_no_canary_code(reader: Reader, name: str, mode: str) -> None:
    reading = reader.read(jpeg(PHOTOS[name].convert(mode), quality=85))
    assert not reading.blank
    assert reading.canary is None
    assert reading.nearest in FLEET
    assert reading.distance > JOINT_RADIUS
    assert reading.tiles == (None,) * 5
    assert reading.epoch is None
    assert reading.at is None


@pytest.mark.parametrize("name", ["skimage/astronaut", "skimage/coffee", "skimage/rocket"])
def test_natural_photo_at_camera_size_carries_no_canary_code(reader: Reader, name: str) -> None:
    frame = PHOTOS[name].resize((1280, 720), Image.Resampling.BILINEAR)
    reading = reader.read(jpeg(frame, quality=30))
    assert (reading.canary, reading.tiles, reading.epoch) == (None, (None,) * 5, None)


@pytest.mark.parametrize("level", [0, 128], ids=["black", "mid-grey"])
def test_uniform_frame_is_blank(reader: Reader, level: int) -> None:
    reading = reader.read(jpeg(Image.new("RGB", (1280, 720), (level,) * 3), quality=80))
    assert reading.blank
    assert reading.luminance_std < 1.0


def test_canary_frame_is_not_blank(reader: Reader) -> None:
    reading = reader.read(jpeg(render(BOOK, "canary-01", AT, (640, 360)), quality=30))
    assert not reading.blank
    assert reading.luminance_std > 10


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage" * 100, b"\x89PNG\r\n\x1a\n" + b"x" * 50, b"\xff\xd8\xff" + bytes(40)],
    ids=["empty", "garbage", "png-signature-only", "jpeg-soi-only"],
)
def test_garbage_bytes_raise_frame_decode_error_with_reason(reader: Reader, data: bytes) -> None:
    with pytest.raises(FrameDecodeError) as caught:
        reader.read(data)
    assert caught.value.reason.startswith(("not an image", "not a readable JPEG"))
    assert f"({len(data)} bytes)" in caught.value.reason


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_jpeg_raises_frame_decode_error_with_reason(reader: Reader, keep: float) -> None:
    data = jpeg(render(BOOK, "canary-02", AT, (1280, 720)), quality=80)
    with pytest.raises(FrameDecodeError) as caught:
        reader.read(data[: int(len(data) * keep)])
    assert not isinstance(caught.value, FrameTooLargeError)
    assert caught.value.reason.startswith("corrupt JPEG data: ")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bilevel_png(width: int, height: int) -> bytes:
    """A real, complete, all-black 1-bit PNG: huge when decoded, tiny as a file."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def test_bilevel_png_helper_makes_a_decodable_image() -> None:
    image = Image.open(io.BytesIO(bilevel_png(300, 200)))
    image.load()
    assert (image.size, image.mode) == ((300, 200), "1")
    assert image.getextrema() == (0, 0)


@pytest.fixture(scope="module")
def bomb_20k() -> bytes:
    return bilevel_png(20_000, 20_000)  # 400 Mpx: 400 MB once decoded to PIL's mode 1


@pytest.mark.parametrize(
    ("width", "height"),
    [(7_000, 7_000), (20_000, 20_000)],
    ids=["over-reader-limit", "over-pil-hard-limit"],
)
def test_png_declaring_huge_size_is_refused_before_decoding(
    reader: Reader, bomb_20k: bytes, width: int, height: int
) -> None:
    data = bomb_20k if width == 20_000 else bilevel_png(width, height)
    assert len(data) < 200_000  # the whole bomb is a small file
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    with pytest.raises(FrameTooLargeError) as caught:
        reader.read(data)
    elapsed = time.perf_counter() - started
    peak_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert elapsed < 1.0
    assert peak_growth_mib < 20  # decoding would need width*height bytes
    assert "pixels" in caught.value.reason


def test_patched_ihdr_declaring_100000_squared_is_refused(reader: Reader) -> None:
    data = bytearray(bilevel_png(8, 8))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    started = time.perf_counter()
    with pytest.raises(FrameTooLargeError):
        reader.read(bytes(data))
    assert time.perf_counter() - started < 1.0


def test_max_pixels_is_configurable(reader: Reader) -> None:
    data = jpeg(render(BOOK, "canary-02", AT, (640, 360)), quality=80)
    strict = Reader(BOOK, FLEET, max_pixels=640 * 360 - 1)
    with pytest.raises(FrameTooLargeError) as caught:
        strict.read(data)
    assert caught.value.reason == "image declares 640x360 pixels, over the limit of 230399"
    assert Reader(BOOK, FLEET, max_pixels=640 * 360).read(data).canary == "canary-02"


def test_png_declaring_100_megapixels_is_refused_without_a_pil_warning(reader: Reader) -> None:
    data = bytearray(bilevel_png(8, 8))
    data[16:24] = struct.pack(">II", 10_000, 10_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FrameTooLargeError):
            reader.read(bytes(data))
    assert [str(w.message) for w in caught] == []


def _declaring(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """``data`` (a small PNG, GIF or lossless WebP) with its header patched to declare
    ``width`` x ``height``; the pixel data is left as it was."""
    patched = bytearray(data)
    if fmt == "PNG":
        patched[16:24] = struct.pack(">II", width, height)
        patched[29:33] = struct.pack(">I", zlib.crc32(bytes(patched[12:29])))
    elif fmt == "GIF":
        patched[6:10] = struct.pack("<HH", width, height)
    else:  # VP8L: 14 bits of width - 1, then 14 of height - 1
        assert patched[12:16] == b"VP8L"
        bits = int.from_bytes(patched[21:25], "little") & ~0xFFFFFFF
        patched[21:25] = (bits | (width - 1) | (height - 1) << 14).to_bytes(4, "little")
    return bytes(patched)


def _small(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 90, 90)).save(
        buffer, fmt, **({"lossless": True} if fmt == "WEBP" else {})
    )
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP"])
def test_header_declaring_100_megapixels_is_refused_before_pil_opens_it(
    reader: Reader, fmt: str
) -> None:
    data = _declaring(_small(fmt), fmt, 10_000, 10_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FrameTooLargeError) as refused:
            reader.read(data)
    assert [str(w.message) for w in caught] == []  # PIL warns from 89 Mpx: it never looked
    assert refused.value.reason == (
        f"image declares 10000x10000 pixels, over the limit of {FULL_DECODE_MAX_PIXELS}"
    )


def test_png_just_under_the_old_40_megapixel_limit_is_refused_within_20_mib(
    tmp_path: Path,
) -> None:
    data = black_png(6_300, 6_300)  # 39.7 Mpx of RGB: 518 MB to read under the old limit
    growth_mib, outcome = measured(data, READ_FRAME, tmp_path)
    limit = FULL_DECODE_MAX_PIXELS
    assert outcome == (
        f"FrameTooLargeError: image declares 6300x6300 pixels, over the limit of {limit}"
    )
    assert growth_mib < 20


@pytest.mark.parametrize("size", [(3840, 2160), (4096, 2160)], ids=["uhd", "dci"])
def test_a_4k_png_frame_reads_own_within_the_per_frame_memory_bound(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    buffer = io.BytesIO()
    render(BOOK, "canary-03", AT, size).convert("RGB").save(buffer, "PNG", compress_level=1)
    growth_mib, outcome = measured(buffer.getvalue(), READ_OWN, tmp_path)
    assert outcome == "ok"
    assert growth_mib < PER_FRAME_MIB


def test_a_12_megapixel_jpeg_still_reads_own_but_the_same_png_is_refused(
    reader: Reader,
) -> None:
    # A JPEG is decoded at 1/8 scale, so a camera's 12 MP still stays cheap to read;
    # only full-size decodes (PNG, GIF, WebP) stop at DCI 4K.
    image = render(BOOK, "canary-05", AT, (4000, 3000))
    assert reader.read(jpeg(image, quality=80)).canary == "canary-05"
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=1)
    with pytest.raises(FrameTooLargeError, match="over the limit of 8847360"):
        reader.read(png.getvalue())


@pytest.mark.parametrize("canary", ["canary-00", "canary-13"])
def test_fleet_of_one_reads_the_same_as_fleet_of_twenty(reader: Reader, canary: str) -> None:
    data = jpeg(render(BOOK, canary, AT, (640, 360)), quality=30)
    alone = Reader(BOOK, [canary]).read(data)
    assert alone == reader.read(data)
    assert alone.canary == canary
    assert alone.tiles == (canary,) * 5


def test_empty_fleet_reads_no_canary_but_still_reads_time() -> None:
    reading = Reader(BOOK, []).read(jpeg(render(BOOK, "canary-00", AT, (640, 360)), quality=30))
    assert (reading.nearest, reading.canary, reading.distance) == (None, None, 243)
    assert reading.tiles == (None,) * 5
    assert reading.at == floored(AT)


def test_virtual_camera_captures_read_as_its_canary_with_rising_seq(reader: Reader) -> None:
    camera = VirtualCanaryCamera(BOOK, "canary-09", size=(640, 360), quality=85)
    frames = [camera.capture() for _ in range(3)]
    assert [frame.seq for frame in frames] == [1, 2, 3]
    assert camera.latest() is frames[-1]
    now = datetime.now(UTC)
    for frame in frames:
        assert frame.jpeg[:3] == b"\xff\xd8\xff"
        assert abs((now - frame.at).total_seconds()) < 5
        reading = reader.read(frame.jpeg)
        assert (reading.width, reading.height) == (640, 360)
        assert reading.canary == "canary-09"
        assert reading.tiles == ("canary-09",) * 5
        assert reading.at == floored(frame.at)
        assert reading.at is not None
        assert abs((now - reading.at).total_seconds()) < 5 + EPOCH_SECONDS


def test_virtual_camera_uses_its_clock() -> None:
    camera = VirtualCanaryCamera(BOOK, "canary-09", size=(320, 180), clock=lambda: AT)
    frame = camera.capture()
    assert frame.at == AT
    assert Reader(BOOK, ["canary-09"]).read(frame.jpeg).at == floored(AT)


def test_virtual_camera_rejects_non_positive_fps() -> None:
    with pytest.raises(ValueError, match="fps must be positive, got 0"):
        VirtualCanaryCamera(BOOK, "canary-09", fps=0)
