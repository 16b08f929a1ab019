"""RTSP redirects: FFmpeg would follow them itself, straight past ``allowed_hosts`` and
the impairment proxy. The adapter's guard refuses them on the wire; the adapter then
follows an allowed one through the router, and refuses the rest before dialling."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import pytest

from monitor.config import CanaryConfig, PathConfig
from monitor.paths import Capture, CaptureFailure
from monitor.paths.rtsp import RtspPath
from monitor.paths.rtsp_guard import GuardRefusal, Redirect, RtspFraming
from monitor.results import ProbeResult
from monitor.verdict import Verdict
from tests.monitor.paths.stream_helpers import Bed, probe

Address = tuple[str, int]


@contextlib.asynccontextmanager
async def redirecting(location: str, host: str = "127.0.0.1") -> AsyncIterator[Address]:
    """An RTSP server answering every request with ``302`` to ``location``
    (``{self}`` in it is this server's own address)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                cseq = re.search(rb"CSeq: *(\d+)", head)
                here = location.replace("{self}", f"{address[0]}:{address[1]}")
                writer.write(
                    b"RTSP/1.0 302 Moved Temporarily\r\nCSeq: %s\r\nLocation: %s\r\n\r\n"
                    % (cseq.group(1) if cseq else b"0", here.encode())
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, 0)
    address: Address = server.sockets[0].getsockname()[:2]
    try:
        yield address
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def trap(host: str) -> AsyncIterator[tuple[Address, list[object]]]:
    """A listener that records every connection made to it."""
    dialled: list[object] = []

    def hit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dialled.append(writer.get_extra_info("peername"))
        writer.transport.abort()

    server = await asyncio.start_server(hit, host, 0)
    try:
        yield server.sockets[0].getsockname()[:2], dialled
    finally:
        server.close()
        await server.wait_closed()


def lobby() -> CanaryConfig:
    return CanaryConfig(name="lobby", camera_id="cam-lobby", token="t")


def test_a_redirect_to_a_host_not_allowed_is_refused_and_never_dialled() -> None:
    async def scenario() -> tuple[Capture | CaptureFailure, list[object]]:
        async with (
            trap("127.0.0.2") as ((host, port), dialled),
            redirecting(f"rtsp://{host}:{port}/cameras/cam-lobby") as origin,
        ):
            url = f"rtsp://{origin[0]}:{origin[1]}/c"
            path = PathConfig(name="live", kind="rtsp", url=url, read_timeout_s=2.0)
            routed: list[Address] = []

            async def router(h: str, p: int) -> Address:
                routed.append((h, p))
                return h, p

            capture = await RtspPath(path).capture(lobby(), "good", router)
            await asyncio.sleep(0.3)  # time for a stray dial to land
        assert routed == [origin]
        return capture, dialled

    capture, dialled = asyncio.run(scenario())
    assert isinstance(capture, CaptureFailure)
    assert capture.reason == "refused host '127.0.0.2': not in allowed_hosts"
    assert dialled == []


def test_an_allowed_redirect_is_followed_through_the_router(bed: Bed) -> None:
    tenant = bed.cloud.tenant("nursery")
    canary = CanaryConfig(name="nursery", camera_id=tenant.camera_id, token=tenant.token)
    target = f"{bed.server.rtsp_url}/cameras/{tenant.camera_id}"

    async def scenario() -> tuple[Capture | CaptureFailure, list[Address]]:
        async with redirecting(target) as origin:
            path = PathConfig(name="live", kind="rtsp", url=f"rtsp://{origin[0]}:{origin[1]}/c")
            routed: list[Address] = []

            async def router(h: str, p: int) -> Address:
                routed.append((h, p))
                return h, p

            return await RtspPath(path).capture(canary, "good", router), routed

    capture, routed = bed.call(scenario())
    assert isinstance(capture, Capture), capture
    testbed = bed.server.rtsp_url.removeprefix("rtsp://").split(":")
    assert routed[1] == (testbed[0], int(testbed[1]))  # the second hop, routed too
    assert len(routed) == 2


def test_a_redirect_loop_ends_after_max_redirects() -> None:
    async def scenario() -> tuple[Capture | CaptureFailure, int]:
        async with redirecting("rtsp://{self}/again") as origin:
            path = PathConfig(
                name="live", kind="rtsp", url=f"rtsp://{origin[0]}:{origin[1]}/c", max_redirects=2
            )
            hops = 0

            async def router(h: str, p: int) -> Address:
                nonlocal hops
                hops += 1
                return h, p

            return await RtspPath(path).capture(lobby(), "good", router), hops

    capture, hops = asyncio.run(scenario())
    assert capture == CaptureFailure("RTSP: more than 2 redirects")
    assert hops == 3


def test_a_whole_probe_reports_the_refused_redirect_as_an_error() -> None:
    async def scenario() -> tuple[ProbeResult, list[object]]:
        async with (
            trap("127.0.0.2") as ((host, port), dialled),
            redirecting(f"rtsp://{host}:{port}/x") as origin,
        ):
            url = f"rtsp://{origin[0]}:{origin[1]}/c"
            # probe() runs a loop of its own: in a thread, beside these servers.
            result = await asyncio.to_thread(probe, "rtsp", {"url": url, "read_timeout_s": 2})
        return result, dialled

    result, dialled = asyncio.run(scenario())
    assert result.verdict is Verdict.ERROR
    assert result.detail == "refused host '127.0.0.2': not in allowed_hosts"
    assert dialled == []


def test_framing_passes_rtp_frames_whatever_bytes_they_carry() -> None:
    framing = RtspFraming()
    payload = b"RTSP/1.0 302 Moved\r\nLocation: rtsp://evil/\r\n\r\n"
    frame = b"$\x00" + len(payload).to_bytes(2, "big") + payload
    reply = b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nv=0\r\n"
    stream = reply + frame + frame
    passed = b""
    for i in range(0, len(stream), 7):  # in pieces that cut heads and frames anywhere
        data, redirect = framing.feed(stream[i : i + 7])
        assert redirect is None
        passed += data
    assert passed == stream


def test_framing_stops_at_a_redirect_cut_across_pieces_and_passes_nothing_of_it() -> None:
    framing = RtspFraming()
    ok = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"
    moved = b"RTSP/1.0 301 Moved\r\nCSeq: 2\r\nlocation: rtsp://other:8554/x\r\n\r\n"
    data, redirect = framing.feed(ok + moved[:12])
    assert (data, redirect) == (ok, None)
    data, redirect = framing.feed(moved[12:])
    assert (data, redirect) == (b"", Redirect(301, "rtsp://other:8554/x"))


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"HTTP/1.0 200 OK\r\n\r\n", "not RTSP"),
        (b"\x00garbage" * 10, "not RTSP"),
        (b"RTSP/1.0 200 OK\r\nContent-Length: lots\r\n\r\n", "malformed Content-Length"),
        (b"RTSP/1.0 200 OK\r\nX: " + b"a" * 70_000, "head over"),
    ],
)
def test_framing_refuses_what_it_cannot_frame(stream: bytes, why: str) -> None:
    with pytest.raises(GuardRefusal, match=why):
        RtspFraming().feed(stream)


def test_framing_treats_a_server_redirect_request_as_a_redirect() -> None:
    request = b"REDIRECT rtsp://cam/x RTSP/1.0\r\nCSeq: 9\r\nLocation: rtsp://b/y\r\n\r\n"
    assert RtspFraming().feed(request) == (b"", Redirect(0, "rtsp://b/y"))
