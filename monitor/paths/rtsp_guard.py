"""Keep FFmpeg's RTSP client on the route: its redirects are refused on the wire.

FFmpeg follows an RTSP ``3xx`` reply by itself, dialling the ``Location`` directly:
past ``allowed_hosts`` and past the impairment proxy. So the RTSP adapter dials a
guard in front of its route, a `TcpProxy` whose one toxic reads the server's side of
the conversation (RTSP messages and ``$``-framed interleaved RTP). A redirect (a
``3xx`` reply, or a ``REDIRECT`` request from the server) is never passed on: the
guard records it and resets the connection, and the adapter decides, hop by hop,
whether to follow it through the router. Anything that is not RTSP is refused the
same way, since the guard cannot vouch for what it cannot frame.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar, Final

from monitor.network import TcpProxy, Toxic, ToxicStub

MAX_HEAD: Final = 64 * 1024
_STATUS = re.compile(rb"RTSP/\d\.\d (\d{3})[ \r]")
_REQUEST = re.compile(rb"[A-Z_]{3,20} \S+ RTSP/\d\.\d\r\n")
_HEADER = re.compile(rb"\r\n(?i:(content-length|location)):[ \t]*([^\r\n]*)")


class GuardRefusal(Exception):
    """The server said something the guard does not pass on (safe to show)."""


@dataclass
class Redirect:
    status: int
    location: str


class RtspFraming:
    """The server-to-client byte stream cut into RTSP messages and RTP frames."""

    def __init__(self) -> None:
        self._held = b""  # the start of a head, or of a 4-byte frame header
        self._skip = 0  # bytes of a body or an RTP frame still to pass

    def feed(self, data: bytes) -> tuple[bytes, Redirect | None]:
        """The bytes that may go to the client, and a redirect found after them."""
        buf = self._held + data
        self._held = b""
        out = bytearray()
        i = 0
        while i < len(buf):
            if self._skip:
                n = min(self._skip, len(buf) - i)
                out += buf[i : i + n]
                i += n
                self._skip -= n
            elif buf[i] == 0x24:  # '$', channel, 16-bit length: interleaved RTP/RTCP
                if len(buf) - i < 4:
                    self._held = buf[i:]
                    break
                self._skip = 4 + int.from_bytes(buf[i + 2 : i + 4], "big")
            else:
                end = buf.find(b"\r\n\r\n", i)
                if end < 0:
                    if len(buf) - i > MAX_HEAD:
                        raise GuardRefusal(f"an RTSP message head over {MAX_HEAD} bytes")
                    self._check_start(buf[i:])
                    self._held = buf[i:]
                    break
                head = buf[i : end + 4]
                redirect, body = self._check_head(head)
                if redirect is not None:
                    return bytes(out), redirect
                self._skip = len(head) + body
        return bytes(out), None

    @staticmethod
    def _check_start(start: bytes) -> None:
        probe = start[:8]
        if not (b"RTSP/".startswith(probe[:5]) or probe[:1].isupper()):
            raise GuardRefusal("the server's reply is not RTSP")

    @staticmethod
    def _check_head(head: bytes) -> tuple[Redirect | None, int]:
        """A redirect the head announces, else the length of the body that follows it."""
        headers: dict[bytes, bytes] = {}
        for name, value in _HEADER.findall(head):
            headers.setdefault(name.lower(), value)  # the first of a repeated header
        location = headers.get(b"location", b"").decode("latin-1")
        status = _STATUS.match(head)
        if status is not None and 300 <= int(status.group(1)) < 400:
            return Redirect(int(status.group(1)), location), 0
        if status is None:
            if _REQUEST.match(head) is None:
                raise GuardRefusal("the server's reply is not RTSP")
            if head.startswith(b"REDIRECT "):
                return Redirect(0, location), 0
        length = headers.get(b"content-length", b"0").strip()
        if not length.isdigit():
            raise GuardRefusal("a malformed Content-Length")
        return None, int(length)


@dataclass(frozen=True, kw_only=True)
class RedirectGuard(Toxic):
    """Not a network fault: the RTSP adapter's guard, on the downstream of its own proxy.

    ``seen`` collects what it refused, for the one probe the guard serves.
    """

    type: ClassVar[str] = "rtsp_redirect_guard"

    seen: list[Redirect | str] = field(default_factory=list, compare=False)

    def _validate(self) -> None:
        pass

    def attributes(self) -> dict[str, float]:
        return {}

    async def pipe(self, stub: ToxicStub) -> None:
        framing = RtspFraming()
        while (chunk := await stub.read()) is not None:
            try:
                data, redirect = framing.feed(chunk.data)
            except GuardRefusal as exc:
                self.seen.append(str(exc))
                stub.close(reset=True)
                return
            await stub.write(data)
            if redirect is not None:
                self.seen.append(redirect)
                stub.close(reset=True)
                return


@contextlib.asynccontextmanager
async def guarded(route: tuple[str, int]) -> AsyncIterator[tuple[tuple[str, int], RedirectGuard]]:
    """A guard proxy in front of ``route`` for one probe: (its address, the guard)."""
    guard = RedirectGuard(stream="downstream")
    async with TcpProxy(*route, (guard,)) as proxy:
        yield proxy.address, guard
