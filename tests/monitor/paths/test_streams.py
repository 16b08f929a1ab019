"""`capture_stream_url`: an untrusted stream URL (as Google Home or Alexa hand one out)
goes to the matching client by scheme and content type, reads the tenant's own canary
from each of the testbed's live streams, and is refused before any connection when it
points anywhere the path does not allow."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from canaries import Codebook, Reader
from monitor.config import GoogleHomeOptions
from monitor.judge import classify
from monitor.paths import Capture, CaptureFailure
from monitor.paths.streams import capture_stream_url
from monitor.verdict import Verdict
from tests.monitor.paths.stream_helpers import SECRET, TENANTS, Bed, grey_jpeg, serving


class Router:
    """Dials directly and records every (host, port) it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> tuple[str, int]:
        self.asked.append((host, port))
        return host, port


def capture(url: str, **path: Any) -> tuple[Capture | CaptureFailure, Router]:
    router = Router()
    # The options of a kind whose integration hands out stream URLs.
    config = GoogleHomeOptions.model_validate(
        {"name": "google", "url": "http://127.0.0.1:1/fulfil", **path}
    )
    return asyncio.run(capture_stream_url(url, config, router)), router


def own(result: Capture | CaptureFailure, canary: str) -> bool:
    assert isinstance(result, Capture), result
    reader = Reader(Codebook(SECRET.encode()), TENANTS)
    judgement = classify(reader, result.frames[0], canary, datetime.now(UTC), 60)
    return (judgement.verdict, judgement.canary) == (Verdict.OWN, canary)


@pytest.mark.parametrize(
    ("route", "content_type"),
    [
        ("/live/v1/cameras/cam-lobby/hls/master.m3u8", "application/vnd.apple.mpegurl"),
        ("/live/v1/cameras/cam-lobby/clip.mp4", "video/mp4"),
        ("/live/v1/cameras/cam-lobby/mjpeg", "multipart/x-mixed-replace"),
    ],
)
def test_http_stream_url_with_query_token_is_read_by_its_content_type(
    bed: Bed, route: str, content_type: str
) -> None:
    token = quote(bed.cloud.tenant("lobby").token, safe="")
    result, router = capture(f"{bed.server.url}{route}?token={token}")

    assert own(result, "lobby")
    assert isinstance(result, Capture)
    assert result.content_type == content_type
    assert {host for host, _ in router.asked} == {"127.0.0.1"}


def test_rtsp_stream_url_goes_to_the_rtsp_client(bed: Bed) -> None:
    token = quote(bed.cloud.tenant("nursery").token, safe="")
    result, router = capture(f"{bed.server.rtsp_url}/cameras/cam-nursery?token={token}")

    assert own(result, "nursery")
    assert isinstance(result, Capture)
    assert result.content_type == "application/sdp"
    assert len(router.asked) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/live.m3u8", "refused host '10.1.2.3': not in allowed_hosts"),
        (
            "http://169.254.169.254/latest/meta-data",
            "refused host '169.254.169.254': not in allowed_hosts",
        ),
        ("rtsp://localhost:554/cam", "refused host 'localhost': not in allowed_hosts"),
        ("file:///etc/passwd", "refused file URL (allowed: http, https, rtsp)"),
        ("/relative/live.m3u8", "refused relative URL (allowed: http, https, rtsp)"),
        ("http://127.0.0.1:99999/x", "malformed port in URL"),
    ],
)
def test_stream_url_outside_the_allowed_hosts_is_refused_before_connecting(
    url: str, reason: str
) -> None:
    result, router = capture(url)

    assert result == CaptureFailure(reason)
    assert router.asked == []


def test_allowed_hosts_admits_a_second_host_and_only_it() -> None:
    allowed, refused = (
        capture("http://localhost:1/live.m3u8", allowed_hosts=["LocalHost", "127.0.0.1"]),
        capture("http://127.0.0.2:1/live.m3u8", allowed_hosts=["localhost", "127.0.0.1"]),
    )

    assert allowed[1].asked == [("localhost", 1)]  # dialled (nothing listens there)
    assert isinstance(allowed[0], CaptureFailure)
    assert refused[0] == CaptureFailure("refused host '127.0.0.2': not in allowed_hosts")
    assert refused[1].asked == []


def hostile(routes: web.RouteTableDef, route: str, **path: Any) -> tuple[Any, Router]:
    async def run() -> tuple[Any, Router]:
        async with serving(routes) as base:
            return await asyncio.to_thread(capture, base + route, **path)

    return asyncio.run(run())


def test_redirect_to_a_host_not_allowed_is_refused_before_connecting() -> None:
    routes = web.RouteTableDef()

    @routes.get("/stream")
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://192.168.0.10/internal.m3u8")

    result, router = hostile(routes, "/stream")

    assert result == CaptureFailure("refused host '192.168.0.10': not in allowed_hosts")
    assert [host for host, _ in router.asked] == ["127.0.0.1"]


MP4 = {"Content-Type": "video/mp4"}


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"Content-Type": "video/mp4", "Content-Encoding": "gzip"}, gzip.compress(b"\0" * 10**6),
         "video exceeds 200000 bytes decoded"),
        ({"Content-Type": "text/html"}, b"<html></html>",
         "unexpected stream content type 'text/html'"),
        (MP4, b"\0\0\0\x20ftypisom" + b"\xff" * 500, "undecodable video: "),
        (MP4, b"x" * 300_000, "video exceeds 200000 bytes"),
    ],
)  # fmt: skip
def test_hostile_stream_bodies_are_clear_errors(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/stream")
    async def stream(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    result, _ = hostile(routes, "/stream", max_bytes=200_000)

    assert isinstance(result, CaptureFailure)
    assert result.reason.startswith(reason), result.reason


def test_a_still_image_url_is_passed_through_to_the_reader() -> None:
    routes = web.RouteTableDef()
    jpeg = grey_jpeg()

    @routes.get("/still.jpg")
    async def still(request: web.Request) -> web.Response:
        return web.Response(body=jpeg, content_type="image/jpeg")

    result, _ = hostile(routes, "/still.jpg")

    assert result == Capture((jpeg,), 200, len(jpeg), "image/jpeg")
