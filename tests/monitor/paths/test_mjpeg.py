"""The ``mjpeg`` path: the testbed's live multipart stream reads back as the tenant's own
canary under impairment, and hostile multipart framing ends as a clear, bounded error."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from aiohttp import web

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.paths import Capture
from monitor.paths.mjpeg import MjpegPath
from monitor.verdict import Verdict
from tests.harness import direct
from tests.monitor.paths.stream_helpers import SECRET, TENANTS, Bed, grey_jpeg, probe, probe_hostile

MJPEG = "/live/v1/cameras/{camera_id}/mjpeg"
TYPE = "multipart/x-mixed-replace; boundary=frame"


@pytest.mark.parametrize("profile", ["good", "3g"])
def test_mjpeg_probe_reads_own_canary(bed: Bed, profile: str) -> None:
    result = probe("mjpeg", {"url": bed.server.url + MJPEG}, "garage", profile, fleet=bed.fleet())

    assert (result.verdict, result.source_canary, result.status) == (
        Verdict.OWN, "garage", 200,
    ), result  # fmt: skip
    assert result.bytes_received > 1000


def test_mjpeg_takes_the_first_n_frames_each_own(bed: Bed) -> None:
    tenant = bed.cloud.tenant("lobby")
    canary = CanaryConfig(name="lobby", camera_id=tenant.camera_id, token=tenant.token)
    path = PathConfig(name="live", kind="mjpeg", url=bed.server.url + MJPEG, frames=3)

    capture = asyncio.run(MjpegPath(path).capture(canary, "good", direct))

    assert isinstance(capture, Capture), capture
    assert len(capture.frames) == 3
    reader = Reader(Codebook(SECRET.encode()), TENANTS)
    for frame in capture.frames:
        judgement = classify(reader, frame, "lobby", datetime.now(UTC), 60)
        assert (judgement.verdict, judgement.canary) == (Verdict.OWN, "lobby")


def test_wrong_token_and_tripped_kill_switch_are_http_errors(bed: Bed) -> None:
    fleet = bed.fleet()
    fleet[0]["token"] = "not-the-token"
    wrong = probe("mjpeg", {"url": bed.server.url + MJPEG}, "lobby", fleet=fleet)
    bed.set_killswitch("mjpeg", "tripped")
    try:
        tripped = probe("mjpeg", {"url": bed.server.url + MJPEG}, "lobby", fleet=bed.fleet())
    finally:
        bed.set_killswitch("mjpeg", "armed")

    assert (wrong.verdict, wrong.status, wrong.detail) == (Verdict.ERROR, 401, "HTTP 401")
    assert (tripped.verdict, tripped.status) == (Verdict.ERROR, 503)


# -- hostile framing ----------------------------------------------------------------------


def multipart(
    chunks: list[bytes], content_type: str = TYPE, *, stall: bool = False
) -> web.RouteTableDef:
    """A route ``/stream`` that sends ``chunks`` as the body, then ends (or stalls)."""
    routes = web.RouteTableDef()

    @routes.get("/stream")
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for chunk in chunks:
                await response.write(chunk)
            if stall:
                await asyncio.sleep(3600)
        return response

    return routes


JPEG = grey_jpeg()


def part(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return b"--frame\r\n" + head.encode() + b"\r\n" + body + b"\r\n"


def test_parts_without_content_length_are_split_at_the_boundary() -> None:
    body = b"preamble\r\n" + part(JPEG, "Content-Type: image/jpeg") + b"--frame\r\n"
    result = probe_hostile("mjpeg", multipart([body[:100], body[100:]]), "/stream")

    assert result.verdict is Verdict.BLANK  # the grey frame decoded: framing worked


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ([part(JPEG, "Content-Length: 99999999")], "part length '99999999' is invalid or over"),
        ([part(JPEG, "Content-Length: -5")], "part length '-5' is invalid or over"),
        ([b"x" * 10_000], "multipart preamble exceeds 4096 bytes"),
        ([b"--frame\r\n" + b"X-Filler: y\r\n" * 20], "more than 16 part header lines"),
        ([b"--frame\r\n" + b"X" * 2000], "part header line exceeds 1024 bytes"),
        ([b"--frame\r\nno colon here\r\n"], "malformed part header line"),
        ([b"--frame--\r\n"], "stream ended (closing delimiter) before enough frames"),
        ([part(JPEG, "Content-Type: image/jpeg")[:200]], "stream ended before enough frames"),
        ([part(b"<p>hi</p>", "Content-Type: text/html")] * 18, "no JPEG in the first 16 parts"),
    ],
)
def test_malformed_multipart_is_a_clear_error(chunks: list[bytes], reason: str) -> None:
    result = probe_hostile("mjpeg", multipart(chunks), "/stream", max_bytes=1_000_000)

    assert result.verdict is Verdict.ERROR
    assert result.detail.startswith(reason), result.detail


def test_endless_part_without_boundary_is_cut_at_max_bytes() -> None:
    flood = [b"--frame\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8"] + [b"\x00" * 65536] * 64
    result = probe_hostile("mjpeg", multipart(flood), "/stream", max_bytes=500_000)

    assert (result.verdict, result.detail) == (Verdict.ERROR, "stream exceeds 500000 bytes")
    assert result.bytes_received < 700_000


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("multipart/x-mixed-replace", "multipart stream without a valid boundary"),
        ("text/html", "unexpected content type 'text/html'"),
    ],
)
def test_wrong_stream_headers_are_refused(content_type: str, reason: str) -> None:
    result = probe_hostile("mjpeg", multipart([part(JPEG)], content_type), "/stream")

    assert (result.verdict, result.detail) == (Verdict.ERROR, reason)


def test_stream_that_stalls_after_its_headers_ends_at_the_deadline() -> None:
    result = probe_hostile(
        "mjpeg", multipart([b"--frame\r\n"], stall=True), "/stream", deadline_s=1.0
    )

    assert (result.verdict, result.detail) == (Verdict.ERROR, "deadline of 1 s passed")
    assert result.duration_s < 3
