"""How fast and how right is reading a frame: imagehash's pHash vs camcanary's Reader.

    .venv/bin/python bench/reader_speed.py [--frames N]

Renders N canary frames (1280x720, JPEG q80, a fleet of 20 canaries) and N natural
JPEGs (``testbed.corpus``: scikit-image's bundled photos and, when installed, Debian's
wallpaper photographs; centre-cropped to 1280x720, JPEG q80), then times in
the same run, on the same bytes:

(a) ``imagehash.phash(Image.open(bytes))``: the naive/peer approach, a pHash only;
(b) ``Reader.read(bytes)``: global layer + tenant tiles + time tiles.

Accuracy for (a) uses the reader's rule on the global layer alone: nearest fleet word
within ``global_radius``. It also counts how often imagehash's pHash of a canary frame
equals that canary's global word bit for bit (the design's "pHash *is* the codeword").
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import imagehash
import numpy as np
from PIL import Image

from canaries import Codebook, Reader, Reading, epoch_of, render
from testbed.corpus import natural_images, sources_used

SECRET = b"bench: reader speed"
FLEET = [f"canary-{i:02d}" for i in range(20)]
SIZE = (1280, 720)
QUALITY = 80
START = datetime(2026, 7, 19, 0, 0, 0, tzinfo=UTC)


def to_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def canary_frames(book: Codebook, count: int) -> list[tuple[str, datetime, bytes]]:
    frames = []
    for i in range(count):
        canary = FLEET[i % len(FLEET)]
        at = START + timedelta(seconds=437 * i)
        frames.append((canary, at, to_jpeg(render(book, canary, at, SIZE))))
    return frames


def natural_frames(count: int) -> tuple[list[str], list[bytes]]:
    """``count`` JPEGs of the natural corpus at SIZE, cycling; later passes are mirrored."""
    photos = natural_images(size=SIZE)
    names, frames = [], []
    for i in range(count):
        name, image = photos[i % len(photos)]
        if (i // len(photos)) % 2:  # later passes mirror the photo, so bytes differ
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        names.append(name)
        frames.append(to_jpeg(image))
    return names, frames


def timed(fn: Callable[[bytes], object], frames: list[bytes]) -> tuple[list[object], list[float]]:
    for data in frames[:5]:  # warm-up: caches, lazy imports
        fn(data)
    results, seconds = [], []
    for data in frames:
        started = time.perf_counter()
        results.append(fn(data))
        seconds.append(time.perf_counter() - started)
    return results, seconds


def phash_of(data: bytes) -> imagehash.ImageHash:
    return imagehash.phash(Image.open(io.BytesIO(data)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="frames of each kind")
    args = parser.parse_args()
    n = args.frames

    book = Codebook(SECRET)
    reader = Reader(book, FLEET)
    words = np.array([np.concatenate([[True], book.global_word(name)]) for name in FLEET])

    made = time.perf_counter()
    canaries = canary_frames(book, n)
    natural_names, naturals = natural_frames(n)
    made = time.perf_counter() - made
    canary_bytes = [data for _, _, data in canaries]
    expected = [name for name, _, _ in canaries]
    shown = [at for _, at, _ in canaries]
    everything = canary_bytes + naturals

    hashes, hash_s = timed(phash_of, everything)
    readings, read_s = timed(reader.read, everything)

    def ph_nearest(h: object) -> tuple[str, int]:
        assert isinstance(h, imagehash.ImageHash)
        distances = np.count_nonzero(words != h.hash.ravel(), axis=1)
        best = int(distances.argmin())
        return FLEET[best], int(distances[best])

    radius = reader.global_radius
    ph = [ph_nearest(h) for h in hashes]
    rd = [r for r in readings if isinstance(r, Reading)]
    assert len(rd) == len(everything)  # every frame decoded

    ph_own = sum(ph[i][0] == expected[i] and ph[i][1] <= radius for i in range(n))
    ph_clean = sum(ph[n + i][1] > radius for i in range(n))
    rd_own = sum(rd[i].canary == expected[i] for i in range(n))
    rd_own_full = sum(
        rd[i].canary == expected[i]
        and rd[i].tiles == (expected[i],) * 5
        and rd[i].epoch == epoch_of(shown[i])
        for i in range(n)
    )
    rd_clean = sum(
        rd[n + i].canary is None and rd[n + i].tiles == (None,) * 5 and rd[n + i].epoch is None
        for i in range(n)
    )
    exact = sum(ph[i] == (expected[i], 0) for i in range(n))
    same_on_canaries = sum(ph[i][1] == rd[i].distance for i in range(n))
    same_on_naturals = sum(ph[n + i][1] == rd[n + i].distance for i in range(n))

    def row(method: str, seconds: list[float], own: int, clean: int, ratio: float) -> str:
        ms = [s * 1000 for s in seconds]
        mean = statistics.fmean(ms)
        p95 = float(np.percentile(ms, 95))
        return (
            f"| {method:<45} | {mean:8.2f} | {p95:8.2f} | {1000 / mean:8.0f} | {ratio:5.2f}x "
            f"| {own:>4}/{n:<4} | {clean:>4}/{n:<4} |"
        )

    hash_mean = statistics.fmean(hash_s)
    read_mean = statistics.fmean(read_s)
    print(
        f"reader_speed: {n} canary + {n} natural frames, {SIZE[0]}x{SIZE[1]} JPEG q{QUALITY}, "
        f"fleet of {len(FLEET)}; prepared in {made:.1f} s"
    )
    print(
        f"python {platform.python_version()}, pillow {version('pillow')}, "
        f"numpy {version('numpy')}, imagehash {version('imagehash')}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    corpus = ", ".join(f"{source} ({count})" for source, count in sources_used().items())
    print(f"natural corpus: {corpus}")
    print()
    print(
        "| method                                        | ms mean  | ms p95   | frames/s "
        "| vs ih  | own->own  | nat->none |"
    )
    print(
        "|-----------------------------------------------|----------|----------|----------"
        "|--------|-----------|-----------|"
    )
    print(row("(a) imagehash.phash(Image.open) [pHash only]", hash_s, ph_own, ph_clean, 1.0))
    print(
        row(
            "(b) camcanary Reader.read [global+tiles+time]",
            read_s,
            rd_own,
            rd_clean,
            read_mean / hash_mean,
        )
    )
    print()
    print("own->own: canary frames whose global code is the right canary within the radius")
    print(f"  ({radius}); nat->none: natural frames attributed to no canary (for (b): no")
    print("  global code, no tile, no time). 'vs ih' is time per frame relative to (a).")
    print(f"(b) own frames with all 5 tiles own and the right time epoch: {rd_own_full}/{n}")
    misread = sorted(
        {natural_names[i] for i in range(n) if any(rd[n + i].tiles) or rd[n + i].epoch}
    )
    if misread:
        print(f"(b) natural photos with a chance tile or time match: {', '.join(misread)}")
    print(f"imagehash pHash == [DC] + global word, bit for bit, on canary frames: {exact}/{n}")
    print(
        "imagehash and Reader agree on the global distance to the nearest canary: "
        f"canary frames {same_on_canaries}/{n}, natural frames {same_on_naturals}/{n}"
    )
    print("  (natural frames have coefficients near pHash's median, where the two")
    print("  resamplings, 32x32 Lanczos vs 96x96 box, may flip a bit)")


if __name__ == "__main__":
    main()
