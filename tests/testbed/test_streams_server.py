"""The testbed's live streams: the HLS session table and its eufy-2021 bug, lazily encoded
segments, the HTTP routes' auth and kill switches, and the RTSP server's dialogue and
RTP packetization, each against the real thing (no monitor involved)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from canaries import Codebook, VirtualCanaryCamera
from testbed import TestbedCloud, TestbedServer
from testbed.rtsp import MAX_PAYLOAD, packetize, split_nals
from testbed.streams import (
    EUFY_BUG,
    MAX_SESSIONS,
    RECONNECT_WINDOW_S,
    SESSION_TTL_S,
    WINDOW,
    LiveSegments,
    SessionTable,
)

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the session table -----------------------------------------------------------------


def test_sessions_play_the_tenants_own_camera_without_the_bug(cloud: TestbedCloud) -> None:
    table = SessionTable(Clock())
    a, b = cloud.tenant("a"), cloud.tenant("b")

    assert table.attach(a, frozenset()).camera_id == "cam-a"
    assert table.attach(b, frozenset()).camera_id == "cam-b"
    assert table.reattached == 0


def test_eufy_2021_attaches_a_new_session_to_the_previous_sessions_camera(
    cloud: TestbedCloud,
) -> None:
    clock = Clock()
    table = SessionTable(clock)
    a, b = cloud.tenant("a"), cloud.tenant("b")
    bugs = frozenset({EUFY_BUG})

    first = table.attach(a, bugs)
    clock.now += RECONNECT_WINDOW_S - 0.1
    leaked = table.attach(b, bugs)
    clock.now += RECONNECT_WINDOW_S + 0.1
    calm = table.attach(b, bugs)

    assert first.camera_id == "cam-a"
    assert (leaked.tenant, leaked.camera_id) == ("b", "cam-a")  # b's session, a's stream
    assert calm.camera_id == "cam-b"
    assert table.reattached == 1


def test_a_server_update_starts_the_session_table_empty(cloud: TestbedCloud) -> None:
    table = SessionTable(Clock())
    a, b = cloud.tenant("a"), cloud.tenant("b")
    before = table.attach(a, frozenset())

    after = table.attach(b, frozenset({EUFY_BUG}))

    assert after.camera_id == "cam-b"  # no previous session survived the update
    assert table.get(before.id, a) is None


def test_sessions_are_the_tenants_own_expire_when_idle_and_are_bounded(
    cloud: TestbedCloud,
) -> None:
    clock = Clock()
    table = SessionTable(clock)
    a, b = cloud.tenant("a"), cloud.tenant("b")
    session = table.attach(a, frozenset())

    assert table.get(session.id, a) is session
    assert table.get(session.id, b) is None
    clock.now += SESSION_TTL_S
    assert table.get(session.id, a) is None
    oldest = table.attach(a, frozenset())
    for _ in range(MAX_SESSIONS):
        table.attach(a, frozenset())
    assert table.get(oldest.id, a) is None


# -- segments ---------------------------------------------------------------------------


def test_segments_are_encoded_lazily_once_each_and_kept_for_a_window() -> None:
    camera = VirtualCanaryCamera(Codebook(b"segments"), "a", size=(160, 90))
    clock = Clock(500.2)
    segments = LiveSegments(camera, clock)

    async def scenario() -> list[list[int]]:
        windows = [await segments.window()]
        windows.append(await segments.window())
        together = await asyncio.gather(*(segments.window() for _ in range(3)))
        windows += together
        for _ in range(WINDOW + 1):
            clock.now += 1.0
            windows.append(await segments.window())
        return windows

    windows = asyncio.run(scenario())

    assert windows[:5] == [[500]] * 5
    assert segments.encoded == 1 + WINDOW + 1
    assert windows[-1] == list(range(505 - WINDOW, 505))  # the clock is now at 504.2
    assert segments.segment(500) is None  # slid out of the window
    data = segments.segment(windows[-1][-1])
    assert data is not None
    assert data[0] == 0x47  # MPEG-TS sync byte


# -- HTTP routes ------------------------------------------------------------------------


def bearer(cloud: TestbedCloud, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cloud.tenant(name).token}"}


def test_hls_session_urls_refuse_other_tenants_and_old_segments(
    cloud: TestbedCloud, drive: Callable[[Scenario], None]
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        master = await client.get(
            "/live/v1/cameras/cam-a/hls/master.m3u8", headers=bearer(cloud, "a")
        )
        assert master.status_code == 200
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        media_uri = master.text.splitlines()[-1]
        assert re.fullmatch(r"/live/v1/sessions/[\w-]{20,}/media\.m3u8", media_uri)

        media = await client.get(media_uri, headers=bearer(cloud, "a"))
        segment_uri = media_uri.rsplit("/", 1)[0] + "/" + media.text.splitlines()[-1]
        own = await client.get(segment_uri, headers=bearer(cloud, "a"))
        foreign = await client.get(segment_uri, headers=bearer(cloud, "b"))
        stale = await client.get(
            media_uri.replace("media.m3u8", "7.ts"), headers=bearer(cloud, "a")
        )
        other_camera = await client.get(
            "/live/v1/cameras/cam-b/hls/master.m3u8", headers=bearer(cloud, "a")
        )

        assert (own.status_code, own.headers["content-type"]) == (200, "video/mp2t")
        assert foreign.status_code == 404
        assert stale.json() == {"error": "segment not in the live window"}
        assert other_camera.status_code == 404

    drive(scenario)


def test_a_query_token_is_carried_into_every_playlist_uri(
    cloud: TestbedCloud, drive: Callable[[Scenario], None]
) -> None:
    token = cloud.tenant("a").token

    async def scenario(client: httpx.AsyncClient) -> None:
        master = await client.get("/live/v1/cameras/cam-a/hls/master.m3u8", params={"token": token})
        media_uri = master.text.splitlines()[-1]
        media = await client.get(media_uri)
        segment_line = media.text.splitlines()[-1]

        assert media.status_code == 200
        assert "?token=" in media_uri
        assert "?token=" in segment_line

    drive(scenario)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("mjpeg", "/live/v1/cameras/cam-a/mjpeg"),
        ("hls", "/live/v1/cameras/cam-a/hls/master.m3u8"),
        ("hls", "/live/v1/cameras/cam-a/clip.mp4"),
    ],
)
def test_live_routes_honour_their_kill_switch_and_tokens(
    cloud: TestbedCloud, drive: Callable[[Scenario], None], path: str, route: str
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        anonymous = await client.get(route)
        cloud.set_killswitch(path, "tripped")
        tripped = await client.get(route, headers=bearer(cloud, "a"))

        assert anonymous.status_code == 401
        assert tripped.status_code == 503

    drive(scenario)


def test_mjpeg_sends_multipart_jpeg_parts_with_lengths(
    cloud: TestbedCloud, drive: Callable[[Scenario], None]
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        async with client.stream(
            "GET", "/live/v1/cameras/cam-a/mjpeg", headers=bearer(cloud, "a")
        ) as response:
            head = b""
            async for chunk in response.aiter_raw():
                head += chunk
                if len(head) > 200:
                    break

        assert response.headers["content-type"] == (
            "multipart/x-mixed-replace; boundary=camcanary-frame"
        )
        match = re.match(
            rb"--camcanary-frame\r\nContent-Type: image/jpeg\r\nContent-Length: (\d+)\r\n\r\n"
            rb"\xff\xd8",
            head,
        )
        assert match is not None

    drive(scenario)


# -- RTSP -------------------------------------------------------------------------------


def test_fu_a_packetization_reassembles_to_the_same_nal_units() -> None:
    big = bytes([0x65]) + bytes(range(256)) * 20  # an IDR slice over MAX_PAYLOAD
    small = bytes([0x67, 1, 2, 3])  # an SPS
    packets, next_seq = packetize([small, big], 65535, 1234, 42)

    units: list[bytes] = []
    for packet in packets:
        payload = packet[12:]
        if payload[0] & 0x1F == 28:
            if payload[1] & 0x80:
                units.append(bytes([(payload[0] & 0xE0) | (payload[1] & 0x1F)]))
            units[-1] += payload[2:]
        else:
            units.append(payload)

    assert units == [small, big]
    assert all(len(p) - 12 <= MAX_PAYLOAD + 2 for p in packets)
    assert [p[1] & 0x80 for p in packets][-1] == 0x80  # marker on the last packet only
    assert not any(p[1] & 0x80 for p in packets[:-1])
    assert next_seq == 65535 + len(packets)
    assert packets[1][2:4] == b"\x00\x00"  # the sequence number wraps at 16 bits


def test_split_nals_handles_three_and_four_byte_start_codes() -> None:
    stream = b"\x00\x00\x00\x01\x67ab\x00\x00\x01\x68cd\x00\x00\x00\x01\x65ef"
    assert split_nals(stream) == [b"\x67ab", b"\x68cd", b"\x65ef"]


UDP = "RTP/AVP;unicast;client_port=5000-5001"


async def rtsp_exchange(server: TestbedServer, requests: list[str]) -> list[str]:
    host, port = server.rtsp_url.removeprefix("rtsp://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    replies = []
    try:
        for cseq, request in enumerate(requests, start=1):
            writer.write(f"{request}\r\nCSeq: {cseq}\r\n\r\n".encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            length = re.search(r"Content-Length: (\d+)", head)
            body = (await reader.readexactly(int(length.group(1)))).decode() if length else ""
            replies.append(head + body)
    finally:
        writer.close()
        await writer.wait_closed()
    return replies


def test_rtsp_dialogue_describes_h264_and_only_allows_tcp_interleaving(
    cloud: TestbedCloud,
) -> None:
    token = cloud.tenant("a").token

    async def run() -> list[str]:
        async with TestbedServer(cloud) as server:
            base = f"{server.rtsp_url}/cameras/cam-a"
            return await rtsp_exchange(
                server,
                [
                    f"OPTIONS {base} RTSP/1.0",
                    f"SETUP {base}/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/TCP;interleaved=0-1",
                    f"DESCRIBE {base} RTSP/1.0",
                    f"DESCRIBE {base}?token=wrong RTSP/1.0",
                    f"DESCRIBE {server.rtsp_url}/cameras/cam-b?token={token} RTSP/1.0",
                    f"DESCRIBE {base}?token={token} RTSP/1.0",
                    f"SETUP {base}/trackID=0 RTSP/1.0\r\nTransport: {UDP}",
                    f"SETUP {base}/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/TCP;interleaved=0-1",
                ],
            )

    options, early, anonymous, wrong, other, describe, udp, tcp = asyncio.run(run())

    assert "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN" in options
    assert early.startswith("RTSP/1.0 455 ")
    assert anonymous.startswith("RTSP/1.0 401 ")
    assert wrong.startswith("RTSP/1.0 401 ")
    assert other.startswith("RTSP/1.0 404 ")
    assert describe.startswith("RTSP/1.0 200 OK\r\nCSeq: 6\r\n")
    assert "a=rtpmap:96 H264/90000" in describe
    sets = re.search(r"sprop-parameter-sets=([^,\s]+),([^;\s]+)", describe)
    assert sets is not None
    assert base64.b64decode(sets.group(1))[0] & 0x1F == 7  # SPS
    assert base64.b64decode(sets.group(2))[0] & 0x1F == 8  # PPS
    assert udp.startswith("RTSP/1.0 461 Unsupported Transport")
    assert "Transport: RTP/AVP/TCP;unicast;interleaved=0-1" in tcp
