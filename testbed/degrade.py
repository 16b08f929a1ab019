"""What real integration paths do to a frame, and how leaked frames are built.

``DEGRADATIONS`` maps a name to a Degradation: given the frame as the camera made it
and a numpy Generator (every random choice comes from it, so a seed fixes the output),
it returns the encoded bytes a client would receive. The list is issue 3's "What it
must survive"; each is one impairment, encoded once, at ``PATH_QUALITY`` unless the
impairment is the encoding itself.

Leak constructions: ``splice`` (a rectangle or band of another frame pasted in place,
as a cache mixing two streams does) and ``grey_thumbnail`` (an event thumbnail).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from testbed.playback import draw_overlay, h264_round_trip

Degradation = Callable[[Image.Image, np.random.Generator], bytes]
Pixels = npt.NDArray[np.float64]

PATH_QUALITY = 75  # JPEG quality of a path that re-encodes without meaning to degrade
MACROBLOCK = 16
LOST_SHARE = 0.25
CROP_KEEP = 0.92  # an 8% crop/zoom: 92% of each side is kept, then scaled back
THUMBNAIL_WIDTH = 160


def jpeg(image: Image.Image, quality: int = PATH_QUALITY) -> bytes:
    """Baseline JPEG (4:2:0 for colour, as browsers and cameras send); ``L`` stays grey."""
    buffer = io.BytesIO()
    _rgb_or_grey(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    _rgb_or_grey(image).save(buffer, "PNG")
    return buffer.getvalue()


def _rgb_or_grey(image: Image.Image) -> Image.Image:
    return image if image.mode in ("L", "RGB") else image.convert("RGB")


def _pixels(image: Image.Image) -> Pixels:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def _image(pixels: Pixels) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="RGB")


def jpeg_q5(image: Image.Image, rng: np.random.Generator) -> bytes:
    return jpeg(image.convert("RGB"), quality=5)


def downscale_128(image: Image.Image, rng: np.random.Generator) -> bytes:
    height = max(1, round(image.height * 128 / image.width))
    return jpeg(image.convert("RGB").resize((128, height), Image.Resampling.LANCZOS))


def grayscale(image: Image.Image, rng: np.random.Generator) -> bytes:
    return jpeg(image.convert("L"))


def h264_40k(image: Image.Image, rng: np.random.Generator) -> bytes:
    return png(h264_round_trip(image, rng))


def lost_macroblocks(
    rows: int, cols: int, share: float, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """Which macroblocks are lost: runs along raster order, as when a slice is dropped,
    until ``share`` of them (rounded) are lost."""
    lost = np.zeros(rows * cols, dtype=bool)
    wanted = round(share * rows * cols)
    while (count := int(lost.sum())) < wanted:
        start = int(rng.integers(rows * cols))
        run = np.arange(start, min(start + int(rng.integers(1, cols + 1)), rows * cols))
        fresh = run[~lost[run]][: wanted - count]
        lost[fresh] = True
    return lost.reshape(rows, cols)


def _blocks(image: Image.Image) -> tuple[Pixels, tuple[int, int]]:
    """The frame padded to whole macroblocks (edge pixels repeated), and its block grid."""
    pixels = _pixels(image)
    height, width = pixels.shape[:2]
    pad_y, pad_x = -height % MACROBLOCK, -width % MACROBLOCK
    padded: Pixels = np.pad(pixels, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")
    rows, cols = padded.shape[0] // MACROBLOCK, padded.shape[1] // MACROBLOCK
    return padded, (rows, cols)


def _block(pixels: Pixels, row: int, col: int) -> Pixels:
    y, x = row * MACROBLOCK, col * MACROBLOCK
    return pixels[y : y + MACROBLOCK, x : x + MACROBLOCK]


def macroblocks_grey_25(image: Image.Image, rng: np.random.Generator) -> bytes:
    padded, (rows, cols) = _blocks(image)
    lost = lost_macroblocks(rows, cols, LOST_SHARE, rng)
    for row, col in np.argwhere(lost):
        _block(padded, row, col)[:] = 128.0
    return jpeg(_image(padded[: image.height, : image.width]))


def macroblocks_smear_25(image: Image.Image, rng: np.random.Generator) -> bytes:
    """Each lost block takes the block above (the first row: the block below), in raster
    order, so a long loss smears downwards as a decoder's spatial concealment does."""
    padded, (rows, cols) = _blocks(image)
    lost = lost_macroblocks(rows, cols, LOST_SHARE, rng)
    for row, col in np.argwhere(lost):  # argwhere is in raster order
        source = row - 1 if row > 0 else min(row + 1, rows - 1)
        _block(padded, row, col)[:] = _block(padded, source, col)
    return jpeg(_image(padded[: image.height, : image.width]))


def crop_8(image: Image.Image, rng: np.random.Generator) -> bytes:
    width, height = image.size
    keep_w, keep_h = width * CROP_KEEP, height * CROP_KEEP
    x0, y0 = rng.uniform(0, width - keep_w), rng.uniform(0, height - keep_h)
    box = (x0, y0, x0 + keep_w, y0 + keep_h)
    return jpeg(image.convert("RGB").resize(image.size, Image.Resampling.BICUBIC, box=box))


def boxed(image: Image.Image, aspect: float) -> Image.Image:
    """``image`` centred on a black canvas of ``aspect`` (width / height), unscaled."""
    width, height = image.size
    if width / height > aspect:
        canvas = (width, round(width / aspect))  # letterbox: bars above and below
    else:
        canvas = (round(height * aspect), height)  # pillarbox: bars left and right
    out = Image.new("RGB", canvas)
    out.paste(image.convert("RGB"), ((canvas[0] - width) // 2, (canvas[1] - height) // 2))
    return out


def letterbox(image: Image.Image, rng: np.random.Generator) -> bytes:
    return jpeg(boxed(image, 4 / 3))


def pillarbox(image: Image.Image, rng: np.random.Generator) -> bytes:
    return jpeg(boxed(image, 21 / 9))


def overlay_15(image: Image.Image, rng: np.random.Generator) -> bytes:
    return jpeg(draw_overlay(image, rng))


def gamma_colour(image: Image.Image, rng: np.random.Generator) -> bytes:
    """Gamma 0.6..1.6, contrast +-25% about mid-grey, and a colour tint of up to 12%."""
    gamma, contrast = rng.uniform(0.6, 1.6), rng.uniform(0.75, 1.25)
    tint = 1.0 + rng.uniform(-0.12, 0.12, size=3)
    curve = ((np.arange(256) / 255.0) ** gamma - 0.5) * contrast + 0.5
    table = np.clip(np.rint(np.outer(tint, curve) * 255.0), 0, 255).astype(np.uint8)
    return jpeg(image.convert("RGB").point(table.ravel().tolist()))


def noise_blur(image: Image.Image, rng: np.random.Generator) -> bytes:
    """Blur of radius 1.5 (soft optics) and then gaussian noise of std 8 (the sensor)."""
    blurred = image.convert("RGB").filter(ImageFilter.GaussianBlur(1.5))
    pixels = np.asarray(blurred, dtype=np.float32)
    noisy = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * 8.0
    return jpeg(Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode="RGB"))


DEGRADATIONS: dict[str, Degradation] = {
    "jpeg_q5": jpeg_q5,
    "downscale_128": downscale_128,
    "grayscale": grayscale,
    "h264_40k": h264_40k,
    "macroblocks_grey_25": macroblocks_grey_25,
    "macroblocks_smear_25": macroblocks_smear_25,
    "crop_8": crop_8,
    "letterbox": letterbox,
    "pillarbox": pillarbox,
    "overlay_15": overlay_15,
    "gamma_colour": gamma_colour,
    "noise_blur": noise_blur,
}


def splice_box(
    size: tuple[int, int], fraction: float, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """A random contiguous region of ``fraction`` of the area: a full-width band, a
    full-height band, or a rectangle of random shape (a third each)."""
    width, height = size
    area = fraction * width * height
    kind = int(rng.integers(3))
    if kind == 0:
        box_w = float(width)
    elif kind == 1:
        box_w = area / height
    else:
        box_w = rng.uniform(area / height, width)
    box_w = min(max(1, round(box_w)), width)
    box_h = min(max(1, round(area / box_w)), height)
    x0 = int(rng.integers(0, width - box_w + 1))
    y0 = int(rng.integers(0, height - box_h + 1))
    return x0, y0, x0 + box_w, y0 + box_h


def splice(
    base: Image.Image, other: Image.Image, fraction: float, rng: np.random.Generator
) -> Image.Image:
    """``base`` (RGB) with one region of ``fraction`` of its area taken from ``other``
    at the same place (``other`` is first resized to ``base``'s size if it differs)."""
    out = base.convert("RGB")
    if other.size != out.size:
        other = other.resize(out.size, Image.Resampling.LANCZOS)
    box = splice_box(out.size, fraction, rng)
    out.paste(other.convert("RGB").crop(box), box[:2])
    return out


def grey_thumbnail(image: Image.Image, rng: np.random.Generator) -> bytes:
    """An event thumbnail: ``THUMBNAIL_WIDTH`` px wide, grayscale, JPEG."""
    height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
    small = image.convert("L").resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
    return jpeg(small)
