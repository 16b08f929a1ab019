"""RTSP redirects: FFmpeg would follow them itself, straight past ``allowed_hosts`` and
the impairment proxy. The adapter's guard refuses them on the wire; the adapter then
follows an allowed one through the router, and refuses the rest before dialling."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import AsyncIterator

import pytest

from monitor.config import CanaryConfig, PathConfig
from monitor.paths import Capture, CaptureFailure
from monitor.paths.rtsp import RtspPath
from monitor.paths.rtsp_guard import (
    GuardRefusal,
    Redirect,
    RtspFraming,
    can_confine,
    confine_connects,
)
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


# A reply the guard and FFmpeg's RTSP client (libavformat/rtsp.c ff_rtsp_read_reply)
# read differently is a way past the guard: FFmpeg then follows a redirect the guard
# never saw. Each of these hides a ``302`` to the trap inside an innocent ``200``.


@contextlib.asynccontextmanager
async def answering(reply: bytes) -> AsyncIterator[Address]:
    """An RTSP server answering the first request with ``reply``, then only listening."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            while await reader.read(4096):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        server.close()
        await server.wait_closed()


def moved_to(trap: Address) -> bytes:
    host, port = trap
    return b"RTSP/1.0 302 Moved\r\nCSeq: 2\r\nLocation: rtsp://%s:%d/x\r\n\r\n" % (
        host.encode(),
        port,
    )


def bare_lf_head(trap: Address) -> bytes:
    # FFmpeg ends the 200's head at the bare-LF blank line and reads the 302 as the
    # DESCRIBE reply; a guard that looks for CRLF CRLF sees one long 200 head.
    return b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE\r\n\n" + moved_to(trap)


def two_lengths(trap: Address) -> bytes:
    # FFmpeg keeps the last Content-Length (0) and reads the 302 as the next reply; a
    # guard that keeps the first passes the 302 on as the 200's body.
    hidden = moved_to(trap)
    head = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: %d\r\nContent-Length: 0\r\n\r\n"
    return head % len(hidden) + hidden


BYPASSES = {
    "bare LF": (bare_lf_head, "RTSP: a bare LF in an RTSP message head"),
    "two lengths": (two_lengths, "RTSP: more than one Content-Length header"),
}


@pytest.mark.parametrize("bypass", BYPASSES)
def test_a_reply_ffmpeg_would_read_otherwise_is_refused_and_its_redirect_never_dialled(
    bypass: str,
) -> None:
    build, reason = BYPASSES[bypass]

    async def scenario() -> tuple[Capture | CaptureFailure, list[object]]:
        async with trap("127.0.0.2") as (address, dialled):
            async with answering(build(address)) as origin:
                url = f"rtsp://{origin[0]}:{origin[1]}/c"
                path = PathConfig(name="live", kind="rtsp", url=url, read_timeout_s=2.0)

                async def router(h: str, p: int) -> Address:
                    return h, p

                capture = await RtspPath(path).capture(lobby(), "good", router)
            await asyncio.sleep(0.3)  # time for a stray dial to land
        return capture, dialled

    capture, dialled = asyncio.run(scenario())
    assert dialled == []
    assert capture == CaptureFailure(reason)


def test_a_whole_probe_of_a_bare_lf_reply_is_an_error_naming_the_reason() -> None:
    async def scenario() -> tuple[ProbeResult, list[object]]:
        async with trap("127.0.0.2") as (address, dialled):
            async with answering(bare_lf_head(address)) as origin:
                url = f"rtsp://{origin[0]}:{origin[1]}/c"
                result = await asyncio.to_thread(probe, "rtsp", {"url": url, "read_timeout_s": 2})
            await asyncio.sleep(0.3)
        return result, dialled

    result, dialled = asyncio.run(scenario())
    assert dialled == []
    assert (result.verdict, result.detail) == (
        Verdict.ERROR,
        "RTSP: a bare LF in an RTSP message head",
    )


OK_HEAD = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n"


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (OK_HEAD + b"X: y\n\n", "bare LF"),
        (b"RTSP/1.0 200 OK\nCSeq: 1\r\n\r\n", "bare LF"),
        (OK_HEAD + b"Public: DESCRIBE\n", "bare LF"),  # refused before the head ends
        (b"\nRTSP/1.0 200 OK\r\n\r\n", "bare LF"),
        (OK_HEAD + b"Content-Length: 1\r0\r\n\r\n", "bare CR"),  # FFmpeg drops every CR
        (OK_HEAD + b"\x00Content-Length: 9\r\n\r\n", "control byte"),  # NUL: a blank line
        (OK_HEAD + b"X: a\x0bb\r\n\r\n", "control byte"),
        (OK_HEAD + b"X: a\r\n b\r\n\r\n", "folded"),
        (OK_HEAD + b"X: a\r\n\tb\r\n\r\n", "folded"),
        (OK_HEAD + b"$\x00\x00\x0cRTSP/1.0 302\r\n\r\n", "interleaved frame inside"),
        (OK_HEAD + b"X: " + b"a" * 4093 + b"\r\n\r\n", "line over 4095"),  # FFmpeg cuts it
        (OK_HEAD + b"Content-Length: 2\r\ncontent-length: 2\r\n\r\nab", "Content-Length"),
        (OK_HEAD + b"Location: rtsp://a/\r\nLOCATION: rtsp://b/\r\n\r\n", "Location"),
        (OK_HEAD + b"Content-Length: -5\r\n\r\n", "malformed Content-Length"),
        (OK_HEAD + b"Content-Length: +5\r\n\r\n", "malformed Content-Length"),
        (OK_HEAD + b"Content-Length: 5x\r\n\r\n", "malformed Content-Length"),
        (OK_HEAD + b"Content-Length:\r\n\r\n", "malformed Content-Length"),
        # strtol's long, kept in an int: 2**32 + 5 is 5 to FFmpeg.
        (OK_HEAD + b"Content-Length: 4294967301\r\n\r\n", "Content-Length over"),
        (OK_HEAD + b"Content-Length: 99999999\r\n\r\n", "Content-Length over"),
        # FFmpeg skips a frame under 8 bytes only when set up; streaming, it reads the
        # payload as RTSP.
        (b"$\x00\x00\x05RTSP/", "shorter than 8"),
    ],
)
def test_framing_refuses_what_ffmpeg_might_read_differently(stream: bytes, why: str) -> None:
    with pytest.raises(GuardRefusal, match=why):
        RtspFraming().feed(stream)


def test_framing_passes_a_plain_reply_with_its_body_and_a_server_request() -> None:
    reply = OK_HEAD + b"Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n"
    request = b"GET_PARAMETER rtsp://cam/x RTSP/1.0\r\nCSeq: 7\r\n\r\n"
    frame = b"$\x01\x00\x08" + b"\x80" * 8
    assert RtspFraming().feed(reply + request + frame) == (reply + request + frame, None)


# The second wall: FFmpeg's thread cannot connect to anything but its guard's port.
needs_landlock = pytest.mark.skipif(not can_confine(), reason="no Landlock TCP rules here")


@needs_landlock
def test_ffmpeg_cannot_dial_past_its_guard_even_when_the_guard_lets_a_redirect_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(RtspFraming, "feed", lambda self, data: (data, None))  # a blind guard

    async def scenario() -> tuple[Capture | CaptureFailure, list[object]]:
        async with trap("127.0.0.2") as ((host, port), dialled):
            async with redirecting(f"rtsp://{host}:{port}/x") as origin:
                url = f"rtsp://{origin[0]}:{origin[1]}/c"
                path = PathConfig(name="live", kind="rtsp", url=url, read_timeout_s=2.0)

                async def router(h: str, p: int) -> Address:
                    return h, p

                capture = await RtspPath(path).capture(lobby(), "good", router)
            await asyncio.sleep(0.3)
        return capture, dialled

    capture, dialled = asyncio.run(scenario())
    assert dialled == []
    assert capture == CaptureFailure("RTSP: FFmpeg tried to connect past its guard")


@needs_landlock
def test_a_confined_thread_connects_to_its_one_port_only_and_other_threads_are_free() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as allowed,
        socket.create_server(("127.0.0.1", 0)) as other,
    ):
        ports = allowed.getsockname()[1], other.getsockname()[1]
        seen: list[object] = []

        def confined() -> None:
            seen.append(confine_connects(ports[0]))
            for port in ports:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    seen.append("connected")
                except PermissionError:
                    seen.append("refused")

        worker = threading.Thread(target=confined)
        worker.start()
        worker.join(5)
        socket.create_connection(("127.0.0.1", ports[1]), timeout=2).close()  # this thread

    assert seen == [True, "connected", "refused"]
