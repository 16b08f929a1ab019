"""The ``hls`` path: probes of the loopback testbed's live HLS (PyAV-encoded segments)
read back as the tenant's own canary, the eufy-2021 session bug is caught, and hostile
playlists and segments end as clear errors within their bounds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from monitor.config import CanaryConfig, PathConfig
from monitor.paths.hls import HlsPath, parse_playlist
from monitor.paths.streams import MAX_PIXELS, PixelBudget, StreamError, decode_video
from monitor.verdict import Verdict
from testbed.streams import encode_video
from tests.harness import direct
from tests.hostile_media import (
    DECODE_MP4,
    DECODE_TS,
    h264_ts_declaring,
    measured,
    mpeg2_declaring,
)
from tests.monitor.paths.stream_helpers import (
    TENANTS,
    Bed,
    grey_jpeg,
    probe,
    probe_hostile,
    silent_server,
)

HLS = "/live/v1/cameras/{camera_id}/hls/master.m3u8"


# -- the testbed ------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["good", "3g"])
def test_hls_probe_reads_own_canary_through_h264_segments(bed: Bed, profile: str) -> None:
    result = probe("hls", {"url": bed.server.url + HLS}, "nursery", profile, fleet=bed.fleet())

    assert (result.verdict, result.source_canary, result.status) == (
        Verdict.OWN, "nursery", 200,
    ), result  # fmt: skip
    assert result.age_s is not None
    assert result.age_s < 10
    assert result.bytes_received > 1000  # two playlists and an MPEG-TS segment


def test_eufy_2021_attaches_a_reconnecting_session_to_the_previous_tenants_camera(
    bed: Bed,
) -> None:
    url = bed.server.url + HLS
    bed.set_bug("eufy-2021", True)
    try:
        first = probe("hls", {"url": url}, "lobby", fleet=bed.fleet())
        second = probe("hls", {"url": url}, "nursery", fleet=bed.fleet())
        third = probe("hls", {"url": url}, "garage", "3g", fleet=bed.fleet())
        mjpeg_url = bed.server.url + "/live/v1/cameras/{camera_id}/mjpeg"
        other_path = probe("mjpeg", {"url": mjpeg_url}, "nursery", fleet=bed.fleet())
    finally:
        bed.set_bug("eufy-2021", False)

    assert first.verdict is Verdict.OWN
    assert (second.verdict, second.source_canary) == (Verdict.FOREIGN_CANARY, "lobby")
    assert (third.verdict, third.source_canary) == (Verdict.FOREIGN_CANARY, "lobby")
    assert (other_path.verdict, other_path.source_canary) == (Verdict.OWN, "nursery")


def test_without_eufy_2021_back_to_back_sessions_stay_own(bed: Bed) -> None:
    url = bed.server.url + HLS
    results = [probe("hls", {"url": url}, name, fleet=bed.fleet()) for name in TENANTS]

    assert [(r.verdict, r.source_canary) for r in results] == [
        (Verdict.OWN, name) for name in TENANTS
    ]


def test_tripped_hls_kill_switch_refuses_the_playlist(bed: Bed) -> None:
    bed.set_killswitch("hls", "tripped")
    try:
        result = probe("hls", {"url": bed.server.url + HLS}, "lobby", fleet=bed.fleet())
    finally:
        bed.set_killswitch("hls", "armed")

    assert (result.verdict, result.status, result.detail) == (Verdict.ERROR, 503, "HTTP 503")


# -- hostile servers ----------------------------------------------------------------------


def media(*uris: str) -> str:
    body = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    return body + "".join(f"#EXTINF:1.0,\n{uri}\n" for uri in uris)


def playlist_of(*uris: str) -> web.RouteTableDef:
    """Routes whose ``/live.m3u8`` is the media playlist of ``uris``; tests add the rest."""
    routes = web.RouteTableDef()

    @routes.get("/live.m3u8")
    async def playlist(request: web.Request) -> web.Response:
        return web.Response(text=media(*uris), content_type="application/vnd.apple.mpegurl")

    return routes


def test_endless_playlist_is_cut_at_max_playlist_bytes() -> None:
    routes = web.RouteTableDef()

    @routes.get("/live.m3u8")
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.apple.mpegurl"})
        await response.prepare(request)
        await response.write(b"#EXTM3U\n")
        with contextlib.suppress(ConnectionError):
            while True:
                await response.write(b"#EXTINF:1.0,\nsegment.ts\n" * 1000)
        return response

    result = probe_hostile("hls", routes, "/live.m3u8", max_playlist_bytes=100_000)

    assert result.verdict is Verdict.ERROR
    assert result.detail == "playlist exceeds 100000 bytes"
    assert 100_000 < result.bytes_received < 400_000
    assert result.duration_s < 5


def test_a_one_gigabyte_segment_is_cut_at_max_bytes() -> None:
    routes = playlist_of("huge.ts")

    @routes.get("/huge.ts")
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp2t"})
        response.content_length = 1 << 30
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range((1 << 30) // 65536):
                await response.write(b"\x47" * 65536)
        return response

    result = probe_hostile("hls", routes, "/live.m3u8", max_bytes=2_000_000)

    assert result.verdict is Verdict.ERROR
    assert result.detail == "segment exceeds 2000000 bytes"
    assert result.bytes_received < 3_000_000
    assert result.duration_s < 5


def test_segment_on_a_host_outside_allowed_hosts_is_refused_before_connecting() -> None:
    routes = playlist_of("http://10.0.0.1/private.ts")

    result = probe_hostile("hls", routes, "/live.m3u8")

    assert result.verdict is Verdict.ERROR
    assert result.detail == "refused host '10.0.0.1': not in allowed_hosts"
    assert result.duration_s < 3  # nothing waited for an unroutable address


def test_redirect_to_loopback_name_not_allowed_is_refused() -> None:
    routes = web.RouteTableDef()

    @routes.get("/live.m3u8")
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://localhost:9/admin.m3u8")

    result = probe_hostile("hls", routes, "/live.m3u8")

    assert (result.verdict, result.detail) == (
        Verdict.ERROR, "refused host 'localhost': not in allowed_hosts",
    )  # fmt: skip


def test_redirect_loop_ends_after_max_redirects() -> None:
    routes = web.RouteTableDef()
    hops: list[str] = []

    @routes.get("/{name}.m3u8")
    async def loop(request: web.Request) -> web.Response:
        hops.append(request.path)
        raise web.HTTPFound("/live.m3u8")

    result = probe_hostile("hls", routes, "/live.m3u8", max_redirects=2)

    assert (result.verdict, result.detail) == (Verdict.ERROR, "more than 2 redirects")
    assert len(hops) == 3


def test_garbage_segment_is_an_undecodable_video_error() -> None:
    routes = playlist_of("junk.ts")

    @routes.get("/junk.ts")
    async def junk(request: web.Request) -> web.Response:
        return web.Response(body=b"#EXTM3U\nhttp://10.0.0.1/x.ts\n" * 50, content_type="video/mp2t")

    result = probe_hostile("hls", routes, "/live.m3u8")

    assert result.verdict is Verdict.ERROR
    # FFmpeg names the failure (EOFError, InvalidDataError): never a crash, never a frame.
    assert result.detail.startswith("undecodable video: "), result.detail


HUGE_REASON = f"frame size 16000x16000 exceeds the limit of {MAX_PIXELS} pixels"


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        # H.264: the SPS gives the size without decoding; MPEG-2: FFmpeg's probe refused it.
        (h264_ts_declaring, HUGE_REASON),
        (mpeg2_declaring, f"no frame size within the limit of {MAX_PIXELS} pixels"),
    ],
    ids=["h264", "mpeg2"],
)
def test_a_small_segment_declaring_16000x16000_is_refused_by_its_declared_size(
    build: Callable[[int, int], bytes], reason: str
) -> None:
    segment = build(16_000, 16_000)
    assert len(segment) < 56_000
    routes = playlist_of("huge.ts")

    @routes.get("/huge.ts")
    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=segment, content_type="video/mp2t")

    result = probe_hostile("hls", routes, "/live.m3u8")

    assert (result.verdict, result.detail) == (Verdict.ERROR, reason)
    assert result.duration_s < 5


@pytest.mark.parametrize(
    ("segment", "work"),
    [
        (lambda: mpeg2_declaring(16_000, 16_000), DECODE_TS),
        (lambda: mpeg2_declaring(16_000, 16_000, "mp4"), DECODE_MP4),
        (lambda: h264_ts_declaring(16_000, 16_000), DECODE_TS),
    ],
    ids=["mpeg2-ts", "mpeg2-mp4", "h264-ts"],
)
def test_a_segment_declaring_16000x16000_costs_under_20_mib_to_refuse(
    tmp_path: Path, segment: Callable[[], bytes], work: tuple[str, str]
) -> None:
    # A decoded 16000x16000 frame alone is 384 MB (yuv420p), probing used to decode it;
    # and an H.264 decoder sizes its tables by the SPS before any frame (64 MB here).
    growth_mib, outcome = measured(segment(), work, tmp_path)
    assert outcome.startswith("StreamError: "), outcome
    assert growth_mib < 20


def test_all_segments_of_a_probe_share_one_pixel_budget() -> None:
    segment = encode_video([grey_jpeg((64, 32))] * 4, 25, "mpegts")
    budget = PixelBudget(64 * 32 * 6)
    assert len(decode_video(segment, 4, "mpegts", budget)) == 4
    with pytest.raises(StreamError) as caught:
        decode_video(segment, 4, "mpegts", budget)
    assert caught.value.reason == f"probe decoded more than its budget of {64 * 32 * 6} pixels"


def test_playlist_that_stalls_forever_ends_at_the_probe_deadline() -> None:
    routes = web.RouteTableDef()

    @routes.get("/live.m3u8")
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.apple.mpegurl"})
        await response.prepare(request)
        await response.write(b"#EXTM3U\n")
        await asyncio.sleep(3600)
        return response

    result = probe_hostile("hls", routes, "/live.m3u8", deadline_s=1.0)

    assert (result.verdict, result.detail) == (Verdict.ERROR, "deadline of 1 s passed")
    assert result.duration_s < 4


def split_fmp4(data: bytes) -> tuple[bytes, bytes]:
    """(ftyp + moov, the moof/mdat fragments) of a fragmented MP4, by top-level boxes."""
    offset = 0
    while offset < len(data):
        size, kind = int.from_bytes(data[offset : offset + 4], "big"), data[offset + 4 : offset + 8]
        if kind == b"moof":
            return data[:offset], data[offset:]
        offset += size
    raise AssertionError("no moof box: not a fragmented MP4")


def test_master_playlist_picks_the_lowest_bandwidth_variant_and_decodes_fmp4() -> None:
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    fragmented = encode_video([grey_jpeg()] * 2, 2, "mp4", options=options)
    init, fragments = split_fmp4(fragmented)
    fetched: list[str] = []
    routes = web.RouteTableDef()

    @routes.get("/live.m3u8")
    async def master(request: web.Request) -> web.Response:
        body = (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\nhigh.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=100000\nlow.m3u8\n"
        )
        return web.Response(text=body, content_type="application/vnd.apple.mpegurl")

    @routes.get("/{name}")
    async def anything(request: web.Request) -> web.Response:
        fetched.append(request.path)
        if request.path == "/low.m3u8":
            body = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1.0,\nclip.m4s\n'
            return web.Response(text=body, content_type="application/vnd.apple.mpegurl")
        return web.Response(body=init if request.path == "/init.mp4" else fragments)

    result = probe_hostile("hls", routes, "/live.m3u8")

    assert fetched == ["/low.m3u8", "/init.mp4", "/clip.m4s"]
    # A grey frame has no canary code: the point is that it decoded.
    assert result.verdict is Verdict.BLANK, result


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"<html>hello</html>", "not an HLS playlist (no #EXTM3U)"),
        (b"\xff\xfe#EXTM3U", "playlist is not UTF-8 text"),
        (
            b'#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n',
            "encrypted HLS segments are not supported",
        ),
        (b"#EXTM3U\n" + b"#\n" * 10_001, "playlist has more than 10000 lines"),
        (b"#EXTM3U\n" + b"a" * 5000 + b"\n", "playlist line longer than 4096 characters"),
    ],
)
def test_malformed_playlists_are_refused_with_the_reason(text: bytes, reason: str) -> None:
    with pytest.raises(StreamError) as caught:
        parse_playlist(text, "http://camera.example/live.m3u8")
    assert caught.value.reason == reason


def test_a_cancelled_probe_closes_its_connection_at_once() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\n"
    stalled = head + b"Content-Length: 100000\r\n\r\n#EXTM3U\n"
    canary = CanaryConfig(name="lobby", camera_id="cam-lobby", token="t")

    with silent_server(stalled) as (port, closed):
        path = PathConfig(name="live", kind="hls", url=f"http://127.0.0.1:{port}/live.m3u8")

        async def cancelled_at_deadline() -> float:
            began = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):  # the prober's deadline
                    await HlsPath(path).capture(canary, "good", direct)
            await asyncio.sleep(1.0)  # the loop lives on: only the adapter can have closed it
            return began

        began = asyncio.run(cancelled_at_deadline())

    assert closed, "the stalled connection was never closed"
    assert 1.0 <= closed[0] - began < 2.5  # at the deadline, not at a read timeout (10 s)
