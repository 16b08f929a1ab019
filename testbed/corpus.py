"""Natural photographs for evaluating frame identification, from installed packages only.

Two kinds of source, both read from disk, never downloaded at run time:

- ``skimage``: the photographs that ship inside scikit-image's wheel (always there);
- Debian wallpaper packages, when installed (``apt-get install plasma-workspace-wallpapers
  mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04``). Only the files
  listed here are used: they were picked by eye as real photographs, not vector art or
  3D renders (the packages gnome-backgrounds, sway-backgrounds, ukui-wallpapers and
  lomiri-wallpapers hold none and are not read).

The order is fixed (the tables below, skipping what is not installed), so a seed gives
the same frames on every machine with the same packages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import skimage.data
from PIL import Image, ImageOps

MAX_SIDE = 1280  # photos are loaded no larger: camera frames are 720p

SKIMAGE = "skimage"
PLASMA = "plasma-workspace-wallpapers"
MATE = "mate-backgrounds"
LOMIRI_16 = "lomiri-wallpapers-16.04"
LOMIRI_20 = "lomiri-wallpapers-20.04"

# skimage photos in the wheel ("motorcycle": the left view of stereo_motorcycle); "cat"
# (the same file as chelsea), the synthetic colorwheel and logo, and the data sets that
# need a download are left out.
_SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "moon",
    "motorcycle",
    "page",
    "retina",
    "rocket",
    "text",
)
_PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
_MATE_PHOTOS = (
    "Aqua",
    "Blinds",
    "Dune",
    "FreshFlower",
    "Garden",
    "GreenMeadow",
    "LadyBird",
    "RainDrops",
    "Storm",
    "TwoWings",
    "Wood",
    "YellowFlower",
)
_LOMIRI_16_PHOTOS = (
    "Bridge_by_Sander_Klootwijk",
    "Dragonfly_by_Bolly",
    "Picture_0B_by_freespace",
    "Picture_1A_by_freespace",
    "Wine_by_Jakkub_Mede",
    "aitzgorri_by_Aitzol_Berasategi",
    "analogpattern_by_Peter_Nerlich",
    "free_by_Peter_Nerlich",
    "friends_by_Aitzol_Berasategi",
    "greentock_by_Peter_Nerlich",
    "life_by_Aitzol_Berasategi",
    "picosdeeuropa_by_Aitzol_Berasategi",
    "seeding_by_Clements_Engelhardt",
    "sunset_by_Aitzol_Berasategi",
)
_LOMIRI_20_PHOTOS = ("Kleiber_by_Lukas_Baubkus",)

BACKGROUNDS = Path("/usr/share/backgrounds")
WALLPAPERS = Path("/usr/share/wallpapers")


@dataclass(frozen=True)
class Photo:
    name: str  # "<short source>/<stem>", unique
    source: str  # "skimage" or the Debian package
    path: Path | None  # None for skimage's loader functions


def _skimage_array(name: str) -> npt.NDArray[np.uint8]:
    if name == "motorcycle":
        stereo: Callable[[], tuple[npt.NDArray[np.uint8], ...]] = skimage.data.stereo_motorcycle
        return stereo()[0]
    array: npt.NDArray[np.uint8] = getattr(skimage.data, name)()
    return array


def _largest_landscape(folder: Path) -> Path | None:
    """A KDE wallpaper folder holds one file per resolution; take the largest landscape one."""
    best: tuple[int, Path] | None = None
    for path in sorted(folder.glob("*x*.*")):
        match = re.fullmatch(r"(\d+)x(\d+)\.(jpg|png)", path.name)
        if match and int(match[1]) > int(match[2]):
            pixels = int(match[1]) * int(match[2])
            if best is None or pixels > best[0]:
                best = (pixels, path)
    return None if best is None else best[1]


def catalogue(sources: Collection[str] | None = None) -> list[Photo]:
    """Every photo present on this machine, in the fixed order, optionally of some sources."""
    photos = [Photo(f"skimage/{name}", SKIMAGE, None) for name in _SKIMAGE_PHOTOS]
    for name in _PLASMA_PHOTOS:
        path = _largest_landscape(WALLPAPERS / name / "contents" / "images")
        if path is not None:
            photos.append(Photo(f"plasma/{name}", PLASMA, path))
    photos += [
        Photo(f"mate/{name}", MATE, BACKGROUNDS / "mate" / "nature" / f"{name}.jpg")
        for name in _MATE_PHOTOS
    ]
    photos += [
        Photo(f"lomiri/{name}", LOMIRI_16, BACKGROUNDS / f"{name}.jpg")
        for name in _LOMIRI_16_PHOTOS
    ]
    photos += [
        Photo(f"lomiri/{name}", LOMIRI_20, BACKGROUNDS / f"{name}.jpg")
        for name in _LOMIRI_20_PHOTOS
    ]
    return [
        photo
        for photo in photos
        if (photo.path is None or photo.path.is_file())
        and (sources is None or photo.source in sources)
    ]


def sources_used(sources: Collection[str] | None = None) -> dict[str, int]:
    """Photos per source present on this machine, in catalogue order."""
    counts: dict[str, int] = {}
    for photo in catalogue(sources):
        counts[photo.source] = counts.get(photo.source, 0) + 1
    return counts


@cache
def _load(photo: Photo) -> Image.Image:
    """The photo in RGB, its longer side at most MAX_SIDE (cached: callers get copies)."""
    if photo.path is None:
        array = _skimage_array(photo.name.removeprefix("skimage/"))
        image = Image.fromarray(array).convert("RGB")
    else:
        with Image.open(photo.path) as opened:
            scale = min(1.0, MAX_SIDE / max(opened.size))
            target = (round(opened.width * scale), round(opened.height * scale))
            opened.draft("RGB", target)  # JPEG: decode at 1/2, 1/4... when big enough
            image = opened.convert("RGB")
    scale = min(1.0, MAX_SIDE / max(image.size))
    if scale < 1.0:
        target = (round(image.width * scale), round(image.height * scale))
        image = image.resize(target, Image.Resampling.LANCZOS)
    return image


def natural_images(
    *,
    size: tuple[int, int] | None = None,
    limit: int | None = None,
    sources: Collection[str] | None = None,
) -> list[tuple[str, Image.Image]]:
    """``(name, RGB image)`` for each photo, in the fixed order.

    With ``size``, each photo is centre-cropped to that aspect ratio and resized to it
    exactly (no distortion); without, it keeps its own size (longer side <= MAX_SIDE).
    """
    photos = catalogue(sources)[:limit]
    if size is None:
        return [(photo.name, _load(photo).copy()) for photo in photos]
    return [
        (photo.name, ImageOps.fit(_load(photo), size, Image.Resampling.LANCZOS)) for photo in photos
    ]


def natural_crops(
    n: int,
    size: tuple[int, int],
    seed: int,
    *,
    sources: Collection[str] | None = None,
) -> list[tuple[str, Image.Image]]:
    """``n`` camera-like frames of ``size``: random crops (45..100% of the largest box of
    that aspect), offsets, mirrorings and rescales of the photos, each photo used in
    turn (a fresh random order per pass) so the corpus is covered evenly."""
    photos = catalogue(sources)
    if not photos:
        return []
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < n:
        order += [int(i) for i in rng.permutation(len(photos))]
    return [_crop(photos[i].name, _load(photos[i]), size, rng) for i in order[:n]]


def _crop(
    name: str, image: Image.Image, size: tuple[int, int], rng: np.random.Generator
) -> tuple[str, Image.Image]:
    width, height = image.size
    aspect = size[0] / size[1]
    full_w, full_h = min(width, height * aspect), min(height, width / aspect)
    zoom = rng.uniform(0.45, 1.0)
    crop_w, crop_h = max(1.0, full_w * zoom), max(1.0, full_h * zoom)
    x0 = rng.uniform(0, width - crop_w)
    y0 = rng.uniform(0, height - crop_h)
    resample = _RESAMPLERS[int(rng.integers(len(_RESAMPLERS)))]
    frame = image.resize(size, resample, box=(x0, y0, x0 + crop_w, y0 + crop_h))
    if rng.random() < 0.5:
        frame = frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return name, frame


_RESAMPLERS: tuple[Image.Resampling, ...] = (
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
)
