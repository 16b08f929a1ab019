"""The declared size of an image, read from its first bytes without decoding anything.

The reader's decode gate: a frame is refused on what it *declares*, before any pixel
buffer exists (decompression bombs: a 60 KB PNG can declare 400 Mpx). Only fixed
header fields are read, so the check costs a slice and an unpack.

Formats with a header here: PNG (IHDR, `PNG spec 11.2.2`_), GIF (logical screen,
GIF89a section 18) and WebP (VP8X canvas, VP8 key frame, VP8L header, `RFC 9649`_).
JPEG goes through simplejpeg's ``decode_jpeg_header`` in the reader.

.. _PNG spec 11.2.2: https://www.w3.org/TR/png-3/#11IHDR
.. _RFC 9649: https://www.rfc-editor.org/rfc/rfc9649
"""

from __future__ import annotations

import struct
from typing import Final

from canaries.errors import FrameDecodeError

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
FORMATS: Final = ("PNG", "GIF", "WEBP")  # what PIL may open for the reader (never probed)

# The modes these formats open as, each at most 4 bytes a pixel in PIL's memory, so a
# frame costs at most 4 bytes per declared pixel; any other mode is refused unloaded.
MODES: Final = frozenset({"1", "L", "P", "I;16", "I", "LA", "La", "PA", "RGB", "RGBA", "RGBX"})


def declared_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) as the header of a PNG, GIF or WebP declares them; None
    for other bytes. Raises FrameDecodeError for such a header that is cut short."""
    if data[:8] == PNG_SIGNATURE:
        if data[12:16] != b"IHDR" or len(data) < 24:
            raise FrameDecodeError(f"not an image ({len(data)} bytes): PNG without IHDR")
        width, height = struct.unpack(">II", data[16:24])
        return "PNG", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) < 10:
            raise FrameDecodeError(f"not an image ({len(data)} bytes): GIF cut short")
        width, height = struct.unpack("<HH", data[6:10])
        return "GIF", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("WEBP", *_webp_size(data))
    return None


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + (bits >> 14 & 0x3FFF)
    raise FrameDecodeError(f"not an image ({len(data)} bytes): WebP without a known header")
