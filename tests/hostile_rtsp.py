"""A hostile RTSP server on loopback: it plays any H.264 NAL units it is given (one
access unit, repeated as every frame), whatever they declare, from a thread of its own.

The framing is the testbed's (`testbed.rtsp.packetize`, `sdp`); the session handling is
the least FFmpeg needs: OPTIONS, DESCRIBE, SETUP over TCP, PLAY.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Iterator

from testbed.rtsp import packetize, sdp, split_nals

FPS = 5


async def _serve_one(
    nals: list[bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    pps = next(n for n in nals if n[0] & 0x1F == 8)
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, url = head.split(" ", 2)[:2]
            cseq = next(
                (line.split(":", 1)[1].strip() for line in head.split("\r\n")
                 if line.lower().startswith("cseq:")),
                "0",
            )  # fmt: skip
            extra, body = {"Session": "hostile"}, ""
            if method == "DESCRIBE":
                body = sdp("hostile", sps, pps)
                extra = {"Content-Base": url.rstrip("/") + "/", "Content-Type": "application/sdp"}
            elif method == "SETUP":
                extra["Transport"] = "RTP/AVP/TCP;unicast;interleaved=0-1"
            elif method == "OPTIONS":
                extra = {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"}
            lines = ["RTSP/1.0 200 OK", f"CSeq: {cseq}"]
            lines += [f"{name}: {value}" for name, value in extra.items()]
            if body:
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n" + body).encode())
            await writer.drain()
            if method == "PLAY":
                break
        seq = 0
        for index in range(10 * FPS):
            packets, seq = packetize(nals, seq, index * 90_000 // FPS, 0x1234)
            writer.write(b"".join(struct.pack("!cBH", b"$", 0, len(p)) + p for p in packets))
            await writer.drain()
            await asyncio.sleep(1 / FPS)
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


@contextlib.contextmanager
def rtsp_playing(annex_b: bytes) -> Iterator[str]:
    """The ``rtsp://`` URL of a server playing the NAL units of ``annex_b``."""
    nals = split_nals(annex_b)
    loop = asyncio.new_event_loop()
    tasks: set[asyncio.Task[None]] = set()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = loop.create_task(_serve_one(nals, reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def stop(server: asyncio.Server) -> None:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(accept, "127.0.0.1", 0), loop
    ).result(10)
    try:
        yield f"rtsp://127.0.0.1:{server.sockets[0].getsockname()[1]}/cameras/cam-lobby"
    finally:
        asyncio.run_coroutine_threadsafe(stop(server), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
