"""Hostile media built cheaply: small files that declare frames far larger than they
carry, and a way to measure what decoding one costs, in a fresh interpreter.

Shared by the reader and stream path tests and ``bench/hostile_memory.py``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def mpeg2_declaring(
    width: int, height: int, container_format: str = "mpegts", frames: int = 3
) -> bytes:
    """MPEG-2 video in ``mpegts`` or ``mp4``, encoded at 64x64 and then declaring
    ``width`` x ``height`` in every sequence header (an MP4's sample entry still says 64).

    MPEG-2 gives each dimension fixed bit fields (12 in the sequence header, 2 more in
    its extension, ISO/IEC 13818-2 6.2.2.1 and 6.2.2.3), so the patch keeps every TS
    packet and MP4 box intact: a few KB that a decoder would make a full-size frame of.
    """
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as out:
        stream = out.add_stream("mpeg2video", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        grey = np.full((64, 64, 3), 128, dtype=np.uint8)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = bytearray(buffer.getvalue())
    headers = extensions = 0
    at = data.find(b"\x00\x00\x01\xb3")
    while at != -1:
        data[at + 4 : at + 7] = ((width & 0xFFF) << 12 | height & 0xFFF).to_bytes(3, "big")
        headers += 1
        at = data.find(b"\x00\x00\x01\xb3", at + 4)
    at = data.find(b"\x00\x00\x01\xb5")
    while at != -1:
        if data[at + 4] >> 4 == 1:  # the sequence extension
            h_ext, v_ext = width >> 12 & 3, height >> 12 & 3
            data[at + 5] = data[at + 5] & 0xFE | h_ext >> 1
            data[at + 6] = data[at + 6] & 0x1F | (h_ext & 1) << 7 | v_ext << 5
            extensions += 1
        at = data.find(b"\x00\x00\x01\xb5", at + 4)
    if not (headers and extensions):
        raise AssertionError("the encoder wrote no MPEG-2 sequence header and extension")
    return bytes(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def black_png(width: int, height: int, colour_type: int = 2) -> bytes:
    """A real, complete all-black 8-bit PNG (RGB by default): tiny as a file."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = bytes(1 + width * channels)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


MEASURE = """
import json, sys
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])  # KiB
data = Path(sys.argv[1]).read_bytes()
{setup}
Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS (Linux >= 4.0)
before = status("VmRSS")
try:
    {call}
    outcome = "ok"
except Exception as exc:
    outcome = f"{{type(exc).__name__}}: {{getattr(exc, 'reason', exc)}}"
print(json.dumps({{"growth_mib": (status("VmHWM") - before) / 1024, "outcome": outcome}}))
"""

READ_FRAME = (
    "from canaries import Codebook, Reader\nreader = Reader(Codebook(b'secret'), ['a'])",
    "reader.read(data)",
)
DECODE_TS = ("from monitor.paths.streams import decode_video", "decode_video(data, 1, 'mpegts')")
DECODE_MP4 = ("from monitor.paths.streams import decode_video", "decode_video(data, 1, 'mp4')")


def measured(data: bytes, work: tuple[str, str], tmp: Path) -> tuple[float, str]:
    """(peak RSS growth in MiB, outcome) of ``work`` on ``data`` in a fresh interpreter:
    its peak RSS is reset after the imports and setup, so the peak is the work's own."""
    path = tmp / "input.bin"
    path.write_bytes(data)
    setup, call = work
    code = MEASURE.format(setup=setup, call=call)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code, str(path)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout.splitlines()[-1])
    return float(result["growth_mib"]), str(result["outcome"])


class _Bits:
    """MSB-first bit reading of an RBSP, with Exp-Golomb (H.264 9.1)."""

    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{byte:08b}" for byte in data)
        self.at = 0

    def u(self, n: int) -> int:
        value = int(self.bits[self.at : self.at + n], 2)
        self.at += n
        return value

    def ue(self) -> int:
        zeros = self.bits.index("1", self.at) - self.at
        self.at += zeros
        return self.u(zeros + 1) - 1


def _ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps_declaring(nal: bytes, width: int, height: int) -> bytes:
    """An H.264 SPS NAL unit (header byte included) rewritten to ``width`` x ``height``
    (multiples of 16), every other field as it was (H.264 7.3.2.1.1)."""
    bits = _Bits(_unescape(nal[1:]))
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        if bits.ue() == 3:  # chroma_format_idc
            bits.u(1)
        bits.ue()
        bits.ue()
        bits.u(1)
        if bits.u(1):
            raise AssertionError("x264 wrote scaling matrices: not handled here")
    bits.ue()  # log2_max_frame_num_minus4
    if bits.ue() == 0:  # pic_order_cnt_type
        bits.ue()
    bits.ue()  # max_num_ref_frames
    bits.u(1)
    before = bits.bits[: bits.at]
    bits.ue()
    bits.ue()
    rest = bits.bits[bits.at :].rstrip("0")  # up to the rbsp stop bit
    new = before + _ue(width // 16 - 1) + _ue(height // 16 - 1) + rest
    new += "0" * (-len(new) % 8)
    rbsp = int(new, 2).to_bytes(len(new) // 8, "big")
    return nal[:1] + _escape(rbsp)


def h264_declaring(width: int, height: int, frames: int = 3) -> bytes:
    """An H.264 Annex B stream encoded by x264 at 64x64, its SPS then declaring ``width``
    x ``height``: the slices still cover 64x64, the decoder would allocate the rest."""
    raw = io.BytesIO()
    with av.open(raw, mode="w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        grey = np.full((64, 64, 3), 128, dtype=np.uint8)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    units = raw.getvalue().split(b"\x00\x00\x01")
    rewritten = [
        _sps_declaring(unit.rstrip(b"\x00"), width, height)
        if unit and unit[0] & 0x1F == 7
        else unit
        for unit in units
    ]
    return b"\x00\x00\x01".join(rewritten)


def h264_ts_declaring(width: int, height: int, frames: int = 3) -> bytes:
    """`h264_declaring` in MPEG-TS."""
    stream_bytes = h264_declaring(width, height, frames)
    # One access unit per frame: split before each slice of a new picture (AUD-free).
    ts = io.BytesIO()
    with av.open(ts, mode="w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        packet = av.Packet(stream_bytes)
        packet.stream = stream
        packet.pts = packet.dts = 0
        packet.time_base = Fraction(1, 25)
        packet.is_keyframe = True
        out.mux(packet)
    return ts.getvalue()
