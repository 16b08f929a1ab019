"""What a video path and a player do to a frame: a low-bitrate H.264 round trip, and the
player's on-screen overlay. Used by the degradation registry in ``testbed.degrade``."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

H264_SIZE = (320, 180)
H264_FPS = 15
H264_FRAMES = 15  # one second of a static scene
H264_BITRATE = 40_000
COVERAGE = 0.15  # share of the frame under the player overlay
SENSOR_NOISE = 2.0  # luminance std of per-frame noise, so the encoder sees a live camera


def h264_round_trip(
    image: Image.Image,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = H264_SIZE,
    bitrate: int = H264_BITRATE,
) -> Image.Image:
    """Encode a one-second clip of ``image`` with libx264, decode it, return the last frame.

    The rate control is held to ``bitrate`` by a one-second VBV buffer, as a constrained
    live stream is: https://trac.ffmpeg.org/wiki/Encode/H.264#AdditionalInformationTips
    """
    still = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BOX), np.float64)
    kbit = bitrate // 1000
    encoder = av.CodecContext.create("libx264", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height = size
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, H264_FPS)
    encoder.framerate = Fraction(H264_FPS, 1)
    encoder.bit_rate = bitrate
    encoder.thread_count = 1  # deterministic output, and one core like the benchmark
    encoder.options = {
        "preset": "veryfast",
        "x264-params": f"vbv-maxrate={kbit}:vbv-bufsize={kbit}:keyint={2 * H264_FPS}",
    }
    packets = []
    for index in range(H264_FRAMES):
        noisy = still + rng.normal(0.0, SENSOR_NOISE, still.shape)
        pixels = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    assert isinstance(decoder, av.VideoCodecContext)
    decoded: list[av.VideoFrame] = []
    for packet in [*packets, None]:
        decoded += decoder.decode(packet)
    rgb = decoded[-1].to_ndarray(format="rgb24")
    return Image.fromarray(np.asarray(rgb, dtype=np.uint8), mode="RGB")


def draw_overlay(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A player's controls over ``COVERAGE`` of ``image``: a semi-opaque bar along the
    bottom with play, volume and fullscreen icons, a progress line and a timestamp, and
    a title strip at the top with a LIVE badge and the camera's name."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    bar = round(base.height * rng.uniform(0.10, 0.12))
    _control_bar(draw, base.size, bar, rng)
    _title_strip(draw, base.width, round(base.height * COVERAGE) - bar, rng)
    return Image.alpha_composite(base, layer).convert("RGB")


def _control_bar(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], bar: int, rng: np.random.Generator
) -> None:
    width, height = size
    top = height - bar
    draw.rectangle((0, top, width, height), fill=(0, 0, 0, int(rng.integers(110, 180))))
    icon = bar // 2
    y0 = top + (bar - icon) // 2
    x = icon // 2
    draw.polygon([(x, y0), (x, y0 + icon), (x + icon, y0 + icon // 2)], fill="white")  # play
    x += 2 * icon
    draw.rectangle((x, y0 + icon // 3, x + icon // 3, y0 + 2 * icon // 3), fill="white")
    cone = [(x + icon // 3, y0 + icon // 3), (x + icon, y0), (x + icon, y0 + icon)]
    draw.polygon([*cone, (x + icon // 3, y0 + 2 * icon // 3)], fill="white")  # volume
    seconds = int(rng.integers(0, 86_400))
    stamp = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    font = ImageFont.load_default(size=max(8, icon))
    draw.text((x + 2 * icon, y0), stamp, fill="white", font=font)
    right = width - icon // 2 - icon  # fullscreen
    draw.rectangle((right, y0, right + icon, y0 + icon), outline="white", width=max(1, icon // 8))
    line_y = top + max(1, bar // 10)
    progress = round(width * rng.uniform(0.2, 0.9))
    draw.line((0, line_y, progress, line_y), fill=(230, 30, 30, 255), width=max(1, bar // 15))


def _title_strip(
    draw: ImageDraw.ImageDraw, width: int, strip: int, rng: np.random.Generator
) -> None:
    draw.rectangle((0, 0, width, strip), fill=(0, 0, 0, int(rng.integers(80, 150))))
    badge = strip * 2 // 3
    font = ImageFont.load_default(size=max(8, badge * 3 // 4))
    pad = (strip - badge) // 2
    draw.rectangle((pad, pad, pad + 3 * badge, pad + badge), fill=(210, 20, 20, 230))
    draw.text((pad + badge // 2, pad + badge // 8), "LIVE", fill="white", font=font)
    name = f"Camera {int(rng.integers(1, 10))} - Living room"
    draw.text((pad + 4 * badge, pad + badge // 8), name, fill="white", font=font)
