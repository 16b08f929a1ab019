"""Keep FFmpeg's RTSP client on the route: its redirects are refused on the wire.

FFmpeg follows an RTSP ``3xx`` reply by itself, dialling the ``Location`` directly:
past ``allowed_hosts`` and past the impairment proxy. So the RTSP adapter dials a
guard in front of its route, a `TcpProxy` whose one toxic reads the server's side of
the conversation (RTSP messages and ``$``-framed interleaved RTP). A redirect (a
``3xx`` reply, or a ``REDIRECT`` request from the server) is never passed on: the
guard records it and resets the connection, and the adapter decides, hop by hop,
whether to follow it through the router. Anything that is not RTSP is refused the
same way, since the guard cannot vouch for what it cannot frame.

The guard only holds if it reads the stream exactly as FFmpeg does, so it frames
strictly and refuses whatever FFmpeg could read otherwise. FFmpeg's reader
(libavformat/rtsp.c ``ff_rtsp_read_reply``, ``ff_rtsp_parse_line``,
``ff_rtsp_skip_packet``; rtspdec.c ``ff_rtsp_tcp_read_packet``) ends a line at any
LF, drops every CR, keeps 4095 bytes of a line, sees a blank line at a NUL, takes
``$`` at the start of any line for an interleaved frame, keeps the last of repeated
headers, reads Content-Length with ``strtol`` into an ``int``, and, once streaming,
reads the payload of a frame under 8 bytes as RTSP. Each of those is refused here.

A second wall: the pull thread gives up TCP connects to every port but its guard's
(`confine_connects`, Landlock), so even a redirect the guard missed cannot be dialled,
except to the guard's port on another host. Landlock rules name ports, not addresses.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar, Final

from monitor.network import TcpProxy, Toxic, ToxicStub

MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 64 * 1024  # FFmpeg's own SDP limit is 16 KiB (SDP_MAX_SIZE)
MAX_LINE: Final = 4095  # FFmpeg's line buffer is char[4096]: it drops the rest of a line
MIN_FRAME: Final = 8  # ff_rtsp_tcp_read_packet: ``len < 8`` leaves the payload unread
_STATUS = re.compile(rb"RTSP/\d\.\d (\d{3})[ \r]")
_REQUEST = re.compile(rb"[A-Z_]{3,20} \S+ RTSP/\d\.\d\r\n")
_LENGTH = re.compile(rb"[ \t]*(\d+)[ \t]*")
_FIELDS: Final = {b"content-length": "Content-Length", b"location": "Location"}
# Bytes of a head that FFmpeg reads otherwise than CRLF-ended lines of text. Each
# pattern needs one byte of context, so a held head is rescanned from one byte before
# what is new (a CR held last is judged by the byte after it).
_AMBIGUOUS: Final = (
    (re.compile(rb"(?<!\r)\n"), "a bare LF in an RTSP message head"),
    (re.compile(rb"\r[^\n]"), "a bare CR in an RTSP message head"),
    (re.compile(rb"\n[ \t]"), "a folded (obs-fold) RTSP header line"),
    (re.compile(rb"\n\$"), "an interleaved frame inside an RTSP message head"),
    (re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"), "a control byte in an RTSP message head"),
)


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
        new = len(self._held)  # where ``data`` starts in ``buf``
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
                length = int.from_bytes(buf[i + 2 : i + 4], "big")
                if length < MIN_FRAME:  # FFmpeg, streaming, reads its payload as RTSP
                    raise GuardRefusal(f"an interleaved frame shorter than {MIN_FRAME} bytes")
                self._skip = 4 + length
            else:
                end = buf.find(b"\r\n\r\n", i)
                if end < 0:
                    if len(buf) - i > MAX_HEAD:
                        raise GuardRefusal(f"an RTSP message head over {MAX_HEAD} bytes")
                    held = buf[i:]
                    self._check_start(held)
                    _check_text(held, max(0, new - 1 - i))  # what is new, and a byte before
                    self._held = held
                    break
                head = buf[i : end + 4]
                _check_text(head)
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
        """A redirect the head announces, else the length of the body that follows it.

        ``head`` has passed `_check_text`: its lines are exactly FFmpeg's lines."""
        lines = head[:-4].split(b"\r\n")
        if max(map(len, lines)) > MAX_LINE:
            raise GuardRefusal(f"an RTSP header line over {MAX_LINE} bytes")
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            # FFmpeg matches a field by line prefix ("Content-Length:"), ASCII caseless.
            name, colon, value = line.partition(b":")
            if colon and name.lower() in _FIELDS:
                fields.setdefault(name.lower(), []).append(value)
        for key, values in fields.items():
            if len(values) > 1:  # FFmpeg keeps the last one
                raise GuardRefusal(f"more than one {_FIELDS[key]} header")
        location = fields.get(b"location", [b""])[0].strip(b" \t").decode("latin-1")
        status = _STATUS.match(head)
        if status is not None and 300 <= int(status.group(1)) < 400:
            return Redirect(int(status.group(1)), location), 0
        if status is None:
            if _REQUEST.match(head) is None:
                raise GuardRefusal("the server's reply is not RTSP")
            if head.startswith(b"REDIRECT "):
                return Redirect(0, location), 0
        if b"content-length" not in fields:
            return None, 0
        length = _LENGTH.fullmatch(fields[b"content-length"][0])
        if length is None:  # FFmpeg's strtol would take a sign, a prefix, or nothing as 0
            raise GuardRefusal("a malformed Content-Length")
        if int(length.group(1)) > MAX_BODY:
            raise GuardRefusal(f"a Content-Length over {MAX_BODY} bytes")
        return None, int(length.group(1))


def _check_text(head: bytes, start: int = 0) -> None:
    """Refuse bytes of a head, from ``start`` on, that FFmpeg could read otherwise."""
    for pattern, reason in _AMBIGUOUS:
        if pattern.search(head, start) is not None:
            raise GuardRefusal(reason)


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


# Landlock (Linux 6.7+, ABI 4) lets a thread give up TCP connects to all ports but
# some, for the rest of its life and the threads it starts; the other threads of the
# process are untouched. https://docs.kernel.org/userspace-api/landlock.html
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # x86-64, arm64
_CREATE_RULESET_VERSION: Final = 1
_ACCESS_NET_CONNECT_TCP: Final = 1 << 1
_RULE_NET_PORT: Final = 2
_PR_SET_NO_NEW_PRIVS: Final = 38


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _syscall(libc: ctypes.CDLL, number: int, *args: object) -> int:
    # syscall(2) is variadic and reads longs: pass every integer as one.
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(libc.syscall(ctypes.c_long(number), *wide))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = _syscall(libc, _SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    return libc if abi >= 4 else None


def can_confine() -> bool:
    """Whether `confine_connects` can work here (Landlock with TCP rules)."""
    return _libc() is not None


def confine_connects(port: int) -> bool:
    """From now on the calling thread (and any it starts) may open TCP connections to
    ``port`` only. Irreversible: call it only in a thread of its own. False, and
    nothing changed, where the kernel cannot."""
    libc = _libc()
    if libc is None:
        return False
    attr = _RulesetAttr(handled_access_fs=0, handled_access_net=_ACCESS_NET_CONNECT_TCP)
    fd = _syscall(libc, _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if fd < 0:
        return False
    try:
        rule = _NetPortAttr(allowed_access=_ACCESS_NET_CONNECT_TCP, port=port)
        if _syscall(libc, _SYS_ADD_RULE, fd, _RULE_NET_PORT, ctypes.byref(rule), 0) != 0:
            return False
        # Required of an unprivileged thread; it only stops set-uid gains from exec.
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return _syscall(libc, _SYS_RESTRICT_SELF, fd, 0) == 0
    finally:
        os.close(fd)
