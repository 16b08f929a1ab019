"""Reading an untrusted HTTP body: wire bytes and decoded bytes, each bounded.

A camera cloud may compress what it sends (``Content-Encoding: gzip`` on a playlist or
a JSON answer is common). The body is decoded here, in steps, never producing more
than the limit allows: ``zlib``'s ``max_length`` stops a gzip bomb (1 KB on the wire,
1 GB decoded) at ``limit + 1`` decoded bytes, and the wire bytes are bounded too (a
stream of empty deflate blocks decodes to nothing, forever). httpx's own decoding
(``aiter_bytes``) decodes a whole network chunk at a time, unbounded, and its byte
count is of decoded bytes, so paths read ``aiter_raw`` through `read_body`.

`ByteCount` keeps the two figures apart: ``wire`` is what the network carried (the
transport fact a probe reports), ``decoded`` is what the parser was given.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import httpx

# What we ask for and decode. ``br`` and ``zstd`` would need a decoder with a bounded
# output step as zlib's; until then a server that sends them anyway is refused.
ACCEPT_ENCODING: Final = "gzip, deflate"
_WBITS: Final = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


class BodyError(Exception):
    """A body that could not be read within its limits; the message is safe to log."""


@dataclass
class ByteCount:
    """Bytes of one probe: as carried by the network, and as decoded for parsing."""

    wire: int = 0
    decoded: int = 0


class _OverLimit(BodyError):
    """More decoded bytes than the room left."""


class _Decoder:
    """One content coding, decoded in bounded steps."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib = None if encoding == "identity" else zlib.decompressobj(_WBITS[encoding])

    def feed(self, chunk: bytes, room: int) -> bytes:
        """The decoded bytes of ``chunk``; _OverLimit if there are more than ``room``."""
        if self._zlib is None:
            out = chunk
        else:
            try:  # room + 1: a max_length of 0 would mean "no limit"
                out = self._zlib.decompress(chunk, room + 1)
            except zlib.error:
                raise BodyError(f"corrupt {self.encoding} body") from None
        if len(out) > room:
            raise _OverLimit
        return out

    def finish(self) -> None:
        if self._zlib is not None and not self._zlib.eof:
            raise BodyError(f"truncated {self.encoding} body")


def decoder_for(response: httpx.Response) -> _Decoder:
    """The decoder of the response's ``Content-Encoding``; BodyError for one we refuse."""
    raw = response.headers.get("content-encoding", "identity").strip().lower() or "identity"
    if raw != "identity" and raw not in _WBITS:  # also a list ("gzip, gzip"): refused
        raise BodyError(f"refused content encoding {raw[:20]!r}")
    return _Decoder(raw)


async def decoded_chunks(
    response: httpx.Response, limit: int, count: ByteCount, what: str = "body"
) -> AsyncIterator[bytes]:
    """The body's decoded bytes as they arrive, at most ``limit`` on the wire and decoded.

    ``count`` is updated as bytes arrive, so a failure still reports what was read.
    Raises BodyError past either limit, for a refused or corrupt coding, and for a
    transport error (``httpx.HTTPError``).
    """
    decoder = decoder_for(response)
    wire = decoded = 0
    try:
        async for chunk in response.aiter_raw():
            wire += len(chunk)
            count.wire += len(chunk)
            if wire > limit:
                raise BodyError(f"{what} exceeds {limit} bytes")
            try:
                out = decoder.feed(chunk, limit - decoded)
            except _OverLimit:
                raise BodyError(f"{what} exceeds {limit} bytes decoded") from None
            decoded += len(out)
            count.decoded += len(out)
            if out:
                yield out
    except httpx.HTTPError as exc:
        raise BodyError(f"{what}: {type(exc).__name__}") from exc
    decoder.finish()


async def read_body(
    response: httpx.Response, limit: int, count: ByteCount, what: str = "body"
) -> bytes:
    """The whole decoded body (see `decoded_chunks`)."""
    return b"".join([chunk async for chunk in decoded_chunks(response, limit, count, what)])
