"""The ``rtsp`` path: FFmpeg's RTSP client (PyAV, RTP interleaved over TCP) pulls the
testbed's own RTSP server and reads the tenant's own canary; refusals, silent and
garbage servers end as clear errors, and the worker thread does not outlive a probe
by more than its read timeout."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.network import LimitDataToxic, TcpProxy
from monitor.paths import Capture, CaptureFailure
from monitor.paths.rtsp import RtspPath
from monitor.probe import ProbeSpec
from monitor.results import ProbeResult
from monitor.verdict import Verdict
from testbed import TestbedCloud, TestbedServer
from tests.harness import direct, fleet_of, probe_config, probing
from tests.hostile_media import h264_declaring, measured
from tests.hostile_rtsp import rtsp_playing
from tests.monitor.paths.stream_helpers import SECRET, TENANTS, Bed, probe, silent_server

CAMERA = "/cameras/{camera_id}"
HLS = "/live/v1/cameras/{camera_id}/hls/master.m3u8"


@pytest.mark.parametrize("profile", ["good", "3g"])
def test_rtsp_probe_reads_own_canary_through_h264_over_rtp(bed: Bed, profile: str) -> None:
    url = bed.server.rtsp_url + CAMERA
    result = probe("rtsp", {"url": url}, "nursery", profile, fleet=bed.fleet())

    assert (result.verdict, result.source_canary) == (Verdict.OWN, "nursery"), result
    assert result.bytes_received > 1000  # the H.264 payload demuxed


def test_rtsp_returns_the_first_n_frames_each_own(bed: Bed) -> None:
    tenant = bed.cloud.tenant("garage")
    canary = CanaryConfig(name="garage", camera_id=tenant.camera_id, token=tenant.token)
    path = PathConfig(name="live", kind="rtsp", url=bed.server.rtsp_url + CAMERA, frames=3)

    capture = asyncio.run(RtspPath(path).capture(canary, "good", direct))

    assert isinstance(capture, Capture), capture
    assert len(capture.frames) == 3
    reader = Reader(Codebook(SECRET.encode()), TENANTS)
    for frame in capture.frames:
        judgement = classify(reader, frame, "garage", datetime.now(UTC), 60)
        assert (judgement.verdict, judgement.canary) == (Verdict.OWN, "garage")


def test_refusals_are_errors_with_the_rtsp_status_and_no_token(bed: Bed) -> None:
    url = bed.server.rtsp_url + CAMERA
    fleet = bed.fleet()
    fleet[0]["token"] = "not-the-token"
    wrong_token = probe("rtsp", {"url": url}, "lobby", fleet=fleet)
    other_camera = probe("rtsp", {"url": url.replace("{camera_id}", "cam-garage")}, "lobby",
                         fleet=bed.fleet())  # fmt: skip
    bed.set_killswitch("rtsp", "tripped")
    try:
        tripped = probe("rtsp", {"url": url}, "lobby", fleet=bed.fleet())
    finally:
        bed.set_killswitch("rtsp", "armed")

    assert wrong_token.verdict is Verdict.ERROR
    assert "401 Unauthorized" in wrong_token.detail
    assert "404 Not Found" in other_camera.detail
    assert "5XX" in tripped.detail
    for result in (wrong_token, other_camera, tripped):
        assert "token" not in result.detail
        assert bed.cloud.tenant("lobby").token not in result.detail


def test_silent_server_fails_after_the_read_timeout_with_a_clear_reason() -> None:
    with silent_server() as (port, _):
        result = probe("rtsp", {"url": f"rtsp://127.0.0.1:{port}/x", "read_timeout_s": 1.0})

    assert (result.verdict, result.detail) == (Verdict.ERROR, "RTSP: no data for 1 s")
    assert 0.9 <= result.duration_s < 3


def test_garbage_server_is_an_error_not_a_crash() -> None:
    with silent_server(b"HTTP/1.0 200 OK\r\n\r\n" + b"\x00garbage" * 500) as (port, _):
        result = probe("rtsp", {"url": f"rtsp://127.0.0.1:{port}/x", "read_timeout_s": 1.0})

    assert result.verdict is Verdict.ERROR
    assert result.detail.startswith("RTSP: ")


def test_worker_thread_ends_within_the_read_timeout_after_the_deadline_cancels_it() -> None:
    canary = CanaryConfig(name="lobby", camera_id="cam-lobby", token="t")
    with silent_server() as (port, closed):
        path = PathConfig(
            name="live", kind="rtsp", url=f"rtsp://127.0.0.1:{port}/x", read_timeout_s=2.0
        )

        async def cancelled_at_deadline() -> CaptureFailure | Capture | None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):  # the prober's deadline
                    return await RtspPath(path).capture(canary, "good", direct)
            return None

        began = time.monotonic()
        outcome = asyncio.run(cancelled_at_deadline())  # also waits for the worker thread
        elapsed = time.monotonic() - began
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            time.sleep(0.05)

    assert outcome is None  # cancelled, not a result
    assert closed, "the worker never released its connection"
    # The upstream connection goes at the deadline: the probe's redirect guard closes.
    assert 0.4 <= closed[0] - began < 1.5
    assert elapsed < 4.0
    # The thread itself ends within FFmpeg's read timeout of its connection going.
    while any(t.name == "rtsp-pull" for t in threading.enumerate()):
        assert time.monotonic() - began < 4.0, "the worker thread outlived its read timeout"
        time.sleep(0.05)


def test_concurrent_rtsp_pulls_do_not_starve_a_testbed_in_the_same_event_loop() -> None:
    """More blocking pulls than the loop's default executor has threads (6 on 2 cores),
    next to HLS probes whose segments the same loop's testbed encodes in that executor:
    each pull has a thread of its own, so every probe still reads its own canary."""
    cloud = TestbedCloud.create(
        SECRET.encode(), TENANTS, size=(320, 180), killswitch_secret=b"k" * 8, admin_token="a"
    )

    async def run() -> list[ProbeResult]:
        async with TestbedServer(cloud) as server:
            rtsp = {"name": "rtsp", "kind": "rtsp", "url": server.rtsp_url + CAMERA}
            hls = {"name": "hls", "kind": "hls", "url": server.url + HLS}
            config = probe_config(SECRET, fleet_of(cloud), [rtsp, hls])
            async with probing(config, SECRET, deadline_s=15) as p:
                specs = [ProbeSpec(c, config.paths[0], "good") for c in config.canaries] * 3
                specs += [ProbeSpec(c, config.paths[1], "good") for c in config.canaries]
                return await asyncio.gather(*(p.prober.probe(spec) for spec in specs))

    results = asyncio.run(run())

    assert [(r.path, r.verdict, r.source_canary) for r in results] == [
        (r.path, Verdict.OWN, r.canary) for r in results
    ]
    assert max(r.duration_s for r in results) < 10


def test_a_stream_cut_mid_frame_is_never_judged_on_the_half_frame(bed: Bed) -> None:
    # A connection cut inside an H.264 frame (``truncating`` closes every connection
    # after N bytes): FFmpeg's parser flushes the half-received frame and the decoder
    # conceals the missing rows in grey. Judged, that half frame reads as a splice, a
    # false leak. Cut points every 1,500 bytes through the first frames: each capture
    # holds only complete own frames or fails.
    tenant = bed.cloud.tenant("garage")
    canary = CanaryConfig(name="garage", camera_id=tenant.camera_id, token=tenant.token)
    path = PathConfig(name="live", kind="rtsp", url=bed.server.rtsp_url + CAMERA, frames=2)
    reader = Reader(Codebook(SECRET.encode()), TENANTS)
    upstream = urlsplit(bed.server.rtsp_url)

    async def cut_after(limit: int) -> Capture | CaptureFailure:
        toxic = LimitDataToxic(stream="downstream", bytes=limit)
        async with TcpProxy(upstream.hostname or "", upstream.port or 554, [toxic]) as proxy:

            async def router(host: str, port: int) -> tuple[str, int]:
                return proxy.address

            return await RtspPath(path).capture(canary, "truncating", router)

    outcomes = []
    for limit in range(3_000, 30_001, 1_500):
        capture = asyncio.run(cut_after(limit))
        if isinstance(capture, CaptureFailure):
            outcomes.append("failure")
            continue
        for frame in capture.frames:
            judgement = classify(reader, frame, "garage", datetime.now(UTC), 60)
            outcomes.append(str(judgement.verdict))
            assert (judgement.verdict, judgement.canary) == (Verdict.OWN, "garage"), limit

    # The sweep crossed the first frames: early cuts fail, later ones give whole frames.
    assert "failure" in outcomes
    assert "own" in outcomes


RTSP_PULL = (
    """import asyncio
from monitor.config import PathConfig
from monitor.paths import CaptureFailure
from monitor.paths.rtsp import capture_rtsp
from monitor.paths.streams import StreamError
url = data.decode()
config = PathConfig(name="live", kind="rtsp", url=url, read_timeout_s=5.0)
async def direct(host, port):
    return host, port
def pull():
    result = asyncio.run(capture_rtsp(url, config, direct))
    if isinstance(result, CaptureFailure):
        raise StreamError(result.reason)
    raise StreamError(f"captured {len(result.frames)} frames")""",
    "pull()",
)


def test_an_rtsp_stream_declaring_a_huge_frame_is_refused_before_decoding(tmp_path: Path) -> None:
    """An SPS declaring 16000x16000 (in the SDP and in band) over 64x64 slices: FFmpeg's
    stream probing would decode it, sizing its buffers by the SPS (~400 MB a frame)."""
    with rtsp_playing(h264_declaring(16_000, 16_000, frames=1)) as url:
        growth_mib, outcome = measured(url.encode(), RTSP_PULL, tmp_path)

    assert outcome == "StreamError: frame size 16000x16000 exceeds the limit of 8294400 pixels"
    assert growth_mib < 100, f"{growth_mib:.0f} MiB for {outcome}"
