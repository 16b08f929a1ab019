"""The built-in impairment proxy: a loopback TCP listener that applies toxics.

Each direction of a connection is a pipeline, as in Toxiproxy::

    socket reader -> queue -> toxic -> queue -> toxic -> ... -> queue -> socket writer

Bounded queues carry backpressure from the slow end back to the sending socket.
A toxic may end the whole connection (``ToxicStub.close``): the proxy then closes or
resets both sockets once the bytes before it are out. An ``Outage`` schedule,
shared by every proxy of a pool through a common start time, takes the link down
and up (see ``monitor.network.profiles.Outage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Literal

from monitor.network.profiles import Outage
from monitor.network.toxics import Chunk, Fate, Stream, Toxic, ToxicStub

logger = logging.getLogger(__name__)

_READ_SIZE = 32 * 1024
_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
_ChunkQueue = asyncio.Queue[Chunk | None]
_Ending = Literal["close", "abort", "reset"]


class _ConnectionCut(Exception):
    """A toxic ended the connection: ``reset`` the socket at the ``stream``'s far end."""

    def __init__(self, reset: bool, stream: Stream) -> None:
        super().__init__(f"{'reset' if reset else 'closed'} by a {stream} toxic")
        self.reset = reset
        self.stream = stream


class TcpProxy:
    """Forward every connection on a local listener to one upstream, with toxics.

    Each accepted connection opens its own upstream connection and draws, once,
    which toxics apply to it (``toxicity``). EOF from either side is passed on
    (half-close) after the data before it. A failing connection is closed on its
    own; the listener keeps serving. Counters: ``connections`` accepted, and
    ``bytes_up`` / ``bytes_down`` forwarded to the server / to the client.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        toxics: Sequence[Toxic] = (),
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        *,
        connect_timeout: float = 10.0,
        outage: Outage | None = None,
        started: float | None = None,
    ) -> None:
        """``outage`` runs on a clock from ``started`` (``time.monotonic()``, default
        when ``start()`` runs); proxies given the same ``started`` go down together."""
        self.upstream = (upstream_host, upstream_port)
        self.toxics = tuple(toxics)
        self.outage = outage
        self._started = started
        self._link_up = asyncio.Event()
        self._link_up.set()
        self._scheduler: asyncio.Task[None] | None = None
        self._doomed: set[asyncio.Task[None]] = set()
        self._listen = (listen_host, listen_port)
        self._connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._closing = False
        self._live: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.connections = 0
        self.bytes_up = 0
        self.bytes_down = 0

    @property
    def address(self) -> tuple[str, int]:
        """The listening (host, port); RuntimeError before ``start()``."""
        if self._address is None:
            raise RuntimeError("TcpProxy is not started")
        return self._address

    @property
    def active_connections(self) -> int:
        return len(self._live)

    async def start(self) -> None:
        if self._server is not None or self._closing:
            raise RuntimeError("TcpProxy can be started once")
        # A deep accept queue: a probe round opens hundreds of connections at once, and
        # asyncio's default backlog of 100 turns the overflow into 1 s, 3 s, ... SYN retries.
        self._server = await asyncio.start_server(self._accept, *self._listen, backlog=_BACKLOG)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (host, port)
        if self.outage is not None:
            if self._started is None:
                self._started = time.monotonic()
            self._scheduler = asyncio.get_running_loop().create_task(
                self._run_outage(self.outage, self._started)
            )
        logger.debug("proxy %s:%s -> %s:%s started", host, port, *self.upstream)

    async def close(self) -> None:
        """Stop listening and abort every live connection; returns once they are gone."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
        live = list(self._live)
        for task in live:
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        # A plain callback, so the connection task is ours: asyncio 3.11 logs an
        # error when a task it started for start_server ends cancelled.
        if self._closing:
            client_writer.transport.abort()
            return
        if self.outage is not None and self.outage.mode == "cut" and not self._link_up.is_set():
            _reset(client_writer)
            return
        self.connections += 1
        task = asyncio.get_running_loop().create_task(self._serve(client_reader, client_writer))
        self._live[task] = client_writer
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        client_writer = self._live.pop(task)
        doomed = task in self._doomed
        self._doomed.discard(task)
        # A task cancelled before its first step (the link cut, or close(), in the
        # same loop iteration as the accept) never runs _serve's finally: end the
        # client here, or its transport is left open for the garbage collector.
        if not client_writer.transport.is_closing():
            if doomed:
                _reset(client_writer)
            else:
                client_writer.transport.abort()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        peer = client_writer.get_extra_info("peername")
        upstream_writer: asyncio.StreamWriter | None = None
        client_end: _Ending = "abort"
        upstream_end: _Ending = "abort"
        try:
            # During a "hold" outage the client waits here, not yet dialled upstream.
            await self._link_up.wait()
            connected = await self._connect(peer)
            if connected is None:
                client_end = "close"  # the client gets a plain EOF, not a reset
                return
            upstream_reader, upstream_writer = connected
            try:
                async with asyncio.TaskGroup() as tg:
                    self._start_link(tg, client_reader, upstream_writer, "upstream")
                    self._start_link(tg, upstream_reader, client_writer, "downstream")
                client_end = upstream_end = "close"
            except* _ConnectionCut as cuts:
                cut = cuts.exceptions[0]
                assert isinstance(cut, _ConnectionCut)
                client_end = upstream_end = "close"
                if cut.reset and cut.stream == "downstream":
                    client_end = "reset"
                elif cut.reset:
                    upstream_end = "reset"
            except* OSError as group:
                logger.debug(
                    "proxy %s:%s: connection %s failed: %r",
                    *self.address,
                    peer,
                    group.exceptions[0],
                )
        except Exception:
            # A bug in a toxic must cost one connection, never the listener.
            logger.exception("proxy %s:%s: connection %s crashed", *self.address, peer)
        finally:
            if asyncio.current_task() in self._doomed:
                client_end = "reset"  # the link went down under a "cut" outage
            ends = [(client_writer, client_end)]
            if upstream_writer is not None:
                ends.append((upstream_writer, upstream_end))
            await _shut(ends)

    async def _connect(
        self, peer: object
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        # asyncio.timeout, not wait_for: wait_for cancelled just as the connection is
        # made drops the new StreamWriter unclosed (3.11), to be collected after the
        # loop closed; here the connection is made and returned in this very task.
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await asyncio.open_connection(*self.upstream)
        except (OSError, TimeoutError) as exc:
            logger.warning(
                "proxy %s:%s: upstream %s:%s unreachable (%s); closing client %s",
                *self.address,
                *self.upstream,
                str(exc) or "timeout",
                peer,
            )
            return None

    def _start_link(
        self,
        tg: asyncio.TaskGroup,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stream: Stream,
    ) -> None:
        toxics = [t for t in self.toxics if t.stream == stream and random.random() < t.toxicity]
        queues: list[_ChunkQueue] = [asyncio.Queue(t.buffer_size) for t in toxics]
        queues.append(asyncio.Queue(1))
        fate = Fate()
        tg.create_task(_pump_in(reader, queues[0]))
        for toxic, source, sink in zip(toxics, queues, queues[1:], strict=False):
            tg.create_task(_run_toxic(toxic, ToxicStub(source, sink, fate), sink))
        tg.create_task(self._pump_out(queues[-1], writer, stream, fate))

    async def _pump_out(
        self, source: _ChunkQueue, writer: asyncio.StreamWriter, stream: Stream, fate: Fate
    ) -> None:
        while (chunk := await source.get()) is not None:
            if not self._link_up.is_set():
                await self._link_up.wait()  # a "hold" outage freezes live connections
            writer.write(chunk.data)
            if stream == "upstream":
                self.bytes_up += len(chunk.data)
            else:
                self.bytes_down += len(chunk.data)
            await writer.drain()
        if fate.ending is not None:
            raise _ConnectionCut(fate.ending == "reset", stream)
        if writer.can_write_eof():
            writer.write_eof()

    async def _run_outage(self, outage: Outage, started: float) -> None:
        while True:
            elapsed = time.monotonic() - started
            if outage.is_down(elapsed):
                if self._link_up.is_set() and outage.mode == "cut":
                    self._cut_live()
                self._link_up.clear()
            else:
                self._link_up.set()
            # a hair past the change, so the next look lands on the new phase
            await asyncio.sleep(outage.next_change(elapsed) + 0.001)

    def _cut_live(self) -> None:
        for task in self._live:
            self._doomed.add(task)
            task.cancel()


async def _pump_in(reader: asyncio.StreamReader, sink: _ChunkQueue) -> None:
    loop = asyncio.get_running_loop()
    while data := await reader.read(_READ_SIZE):
        await sink.put(Chunk(data, loop.time()))
    await sink.put(None)


async def _run_toxic(toxic: Toxic, stub: ToxicStub, sink: _ChunkQueue) -> None:
    await toxic.pipe(stub)
    await sink.put(None)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with SO_LINGER 0, so the peer gets a TCP RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _shut(ends: list[tuple[asyncio.StreamWriter, _Ending]]) -> None:
    """Close after flushing ("close"), drop at once ("abort") or send an RST ("reset")."""
    for writer, ending in ends:
        if ending == "close":
            writer.close()
        elif ending == "reset":
            _reset(writer)
        else:
            writer.transport.abort()
    try:
        for writer, _ in ends:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    except asyncio.CancelledError:
        for writer, _ in ends:
            writer.transport.abort()  # a peer stopped reading; do not wait for it
        raise
