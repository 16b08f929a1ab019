"""Compressed bodies (issue 15, item 9): every HTTP path decodes ``Content-Encoding``
through one bounded reader, and reports the bytes the network carried apart from the
bytes they decoded to. A gzip bomb stops at the limit of decoded bytes, a flood of
empty deflate blocks at the limit of wire bytes."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import httpx
import pytest
from aiohttp import web

from monitor.config import GoogleHomeOptions
from monitor.paths.streams import Fetcher, StreamError
from monitor.results import ProbeResult
from monitor.verdict import Verdict
from tests.monitor.paths.stream_helpers import Bed, probe, probe_hostile, serving

LIMIT = 200_000


def own_snapshot(bed: Bed) -> bytes:
    token = bed.cloud.tenant("lobby").token
    url = f"{bed.server.url}/app/v1/cameras/cam-lobby/snapshot"
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return response.content


def one_body(body: bytes, headers: dict[str, str]) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/body")
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    return routes


def test_a_gzipped_snapshot_is_read_and_its_wire_bytes_are_told_apart(bed: Bed) -> None:
    jpeg = own_snapshot(bed)
    wire = gzip.compress(jpeg + b"\0" * 50_000)  # trailing zeros: JPEG readers ignore them
    routes = one_body(wire, {"Content-Type": "image/jpeg", "Content-Encoding": "gzip"})

    async def run() -> ProbeResult:
        async with serving(routes) as base:
            path = {"url": base + "/body"}
            return await asyncio.to_thread(probe, "snapshot", path, fleet=bed.fleet())

    result = asyncio.run(run())

    assert (result.verdict, result.source_canary) == (Verdict.OWN, "lobby"), result.detail
    assert result.bytes_received == len(wire)
    assert result.bytes_decoded == len(jpeg) + 50_000


def test_a_snapshot_gzip_bomb_stops_at_the_decoded_limit() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~49 KB on the wire
    routes = one_body(bomb, {"Content-Type": "image/jpeg", "Content-Encoding": "gzip"})

    result = probe_hostile("snapshot", routes, "/body", max_bytes=LIMIT)

    assert result.verdict is Verdict.ERROR
    assert result.detail == f"body exceeds {LIMIT} bytes decoded"
    assert result.bytes_received < len(bomb)  # it stopped reading
    assert result.bytes_decoded is not None
    assert result.bytes_decoded <= LIMIT


def fetch(body: bytes, headers: dict[str, str]) -> tuple[bytes | StreamError, Fetcher]:
    async def run() -> tuple[bytes | StreamError, Fetcher]:
        async with serving(one_body(body, headers)) as base:
            config = GoogleHomeOptions.model_validate(
                {"name": "g", "url": base + "/body", "max_bytes": LIMIT}
            )

            async def direct(host: str, port: int) -> tuple[str, int]:
                return host, port

            async with Fetcher(config, direct) as fetcher:
                try:
                    return (await fetcher.get(base + "/body", LIMIT)).data, fetcher
                except StreamError as exc:
                    return exc, fetcher

    return asyncio.run(run())


def deflate(data: bytes, wbits: int = zlib.MAX_WBITS) -> bytes:
    packer = zlib.compressobj(wbits=wbits)
    return packer.compress(data) + packer.flush()


PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + b"#EXTINF:2,\nseg.ts\n" * 200


@pytest.mark.parametrize(
    ("encoding", "wire"),
    [
        ("gzip", gzip.compress(PLAYLIST)),
        ("x-gzip", gzip.compress(PLAYLIST)),
        ("deflate", deflate(PLAYLIST)),
        ("GZip", gzip.compress(PLAYLIST)),
        ("identity", PLAYLIST),
    ],
    ids=["gzip", "x-gzip", "deflate", "GZip", "identity"],
)
def test_the_shared_fetcher_decodes_and_counts_both(encoding: str, wire: bytes) -> None:
    data, fetcher = fetch(wire, {"Content-Encoding": encoding})

    assert data == PLAYLIST
    assert (fetcher.count.wire, fetcher.count.decoded) == (len(wire), len(PLAYLIST))
    assert fetcher.bytes_received == len(wire)


def empty_blocks(count: int) -> bytes:
    """A deflate stream of ``count`` empty sync-flush blocks: bytes that decode to none."""
    packer = zlib.compressobj()
    return packer.compress(b"") + packer.flush(zlib.Z_SYNC_FLUSH) * count + packer.flush()


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"Content-Encoding": "gzip"}, gzip.compress(b"\0" * 10**7),
         f"body exceeds {LIMIT} bytes decoded"),
        ({"Content-Encoding": "deflate"}, empty_blocks(LIMIT // 4), f"body exceeds {LIMIT} bytes"),
        ({"Content-Encoding": "gzip"}, gzip.compress(PLAYLIST)[:-20], "truncated gzip body"),
        ({"Content-Encoding": "gzip"}, b"\x1f\x8b" + b"\xff" * 100, "corrupt gzip body"),
        ({"Content-Encoding": "br"}, b"\x0b\x02\x80hello\x03", "refused content encoding 'br'"),
        ({"Content-Encoding": "gzip, gzip"}, gzip.compress(gzip.compress(PLAYLIST)),
         "refused content encoding 'gzip, gzip'"),
    ],
    ids=["gzip-bomb", "empty-blocks", "truncated", "corrupt", "br", "stacked"],
)  # fmt: skip
def test_hostile_codings_are_clear_errors_within_the_limits(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    result, fetcher = fetch(body, headers)

    assert isinstance(result, StreamError)
    assert result.reason == reason
    assert fetcher.count.wire <= LIMIT + 65_536  # at most one network chunk past the limit
    assert fetcher.count.decoded <= LIMIT


def test_a_google_home_answer_gzipped_is_decoded() -> None:
    """The integration's JSON answer goes through the same decoding."""
    answer = b'{"requestId": "not this probe"}'
    routes = web.RouteTableDef()

    @routes.post("/fulfil")
    async def fulfil(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(answer),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    result = probe_hostile("google_home", routes, "/fulfil")

    # Decoded, it is JSON naming another request (undecoded: "not valid JSON").
    assert result.detail == "answer is for another requestId"
    assert result.bytes_received == len(gzip.compress(answer))
    assert result.bytes_decoded == len(answer)
