"""The built-in impairment proxy: a loopback TCP listener that applies toxics.

Each direction of a connection is a pipeline, as in Toxiproxy::

    socket reader -> queue -> toxic -> queue -> toxic -> ... -> queue -> socket writer

Bounded queues carry backpressure from the slow end back to the sending socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from types import TracebackType

from monitor.network.profiles import Profile
from monitor.network.toxics import Chunk, Stream, Toxic, ToxicStub

logger = logging.getLogger(__name__)

_READ_SIZE = 32 * 1024
_ChunkQueue = asyncio.Queue[Chunk | None]


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
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.toxics = tuple(toxics)
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
        self._server = await asyncio.start_server(self._accept, *self._listen)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (host, port)
        logger.debug("proxy %s:%s -> %s:%s started", host, port, *self.upstream)

    async def close(self) -> None:
        """Stop listening and abort every live connection; returns once they are gone."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        live = dict(self._live)
        for task in live:
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)
        for client in live.values():
            client.transport.abort()  # covers a connection cancelled before it started
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
        self.connections += 1
        task = asyncio.get_running_loop().create_task(self._serve(client_reader, client_writer))
        self._live[task] = client_writer
        task.add_done_callback(self._live.pop)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        peer = client_writer.get_extra_info("peername")
        upstream_writer: asyncio.StreamWriter | None = None
        graceful = False
        try:
            connected = await self._connect(peer)
            if connected is None:
                graceful = True  # the client gets a plain EOF, not a reset
                return
            upstream_reader, upstream_writer = connected
            try:
                async with asyncio.TaskGroup() as tg:
                    self._start_link(tg, client_reader, upstream_writer, "upstream")
                    self._start_link(tg, upstream_reader, client_writer, "downstream")
                graceful = True
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
            writers = [w for w in (client_writer, upstream_writer) if w is not None]
            await _shut(writers, graceful)

    async def _connect(
        self, peer: object
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), self._connect_timeout
            )
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
        tg.create_task(_pump_in(reader, queues[0]))
        for toxic, source, sink in zip(toxics, queues, queues[1:], strict=False):
            tg.create_task(_run_toxic(toxic, source, sink))
        tg.create_task(self._pump_out(queues[-1], writer, stream))

    async def _pump_out(
        self, source: _ChunkQueue, writer: asyncio.StreamWriter, stream: Stream
    ) -> None:
        while (chunk := await source.get()) is not None:
            writer.write(chunk.data)
            if stream == "upstream":
                self.bytes_up += len(chunk.data)
            else:
                self.bytes_down += len(chunk.data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def _pump_in(reader: asyncio.StreamReader, sink: _ChunkQueue) -> None:
    loop = asyncio.get_running_loop()
    while data := await reader.read(_READ_SIZE):
        await sink.put(Chunk(data, loop.time()))
    await sink.put(None)


async def _run_toxic(toxic: Toxic, source: _ChunkQueue, sink: _ChunkQueue) -> None:
    await toxic.pipe(ToxicStub(source, sink))
    await sink.put(None)


async def _shut(writers: list[asyncio.StreamWriter], graceful: bool) -> None:
    """Close after flushing if the connection ended well, else reset it at once."""
    for writer in writers:
        if graceful:
            writer.close()
        else:
            writer.transport.abort()
    try:
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    except asyncio.CancelledError:
        for writer in writers:
            writer.transport.abort()  # a peer stopped reading; do not wait for it
        raise


class ProxyPool:
    """Local listeners per (upstream, profile), created on first use and reused."""

    def __init__(self, listen_host: str = "127.0.0.1") -> None:
        self._listen_host = listen_host
        self._proxies: dict[tuple[str, int, str], tuple[Profile, TcpProxy]] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    async def route(
        self, upstream_host: str, upstream_port: int, profile: Profile
    ) -> tuple[str, int]:
        """The (host, port) to dial instead of the upstream to get ``profile``."""
        key = (upstream_host, upstream_port, profile.name)
        async with self._lock:
            if self._closed:
                raise RuntimeError("ProxyPool is closed")
            entry = self._proxies.get(key)
            if entry is None:
                proxy = TcpProxy(
                    upstream_host, upstream_port, profile.toxics, listen_host=self._listen_host
                )
                await proxy.start()
                self._proxies[key] = (profile, proxy)
                return proxy.address
            known, proxy = entry
            if known != profile:
                raise ValueError(f"two different network profiles are named {profile.name!r}")
            return proxy.address

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            proxies = [proxy for _, proxy in self._proxies.values()]
            self._proxies.clear()
        await asyncio.gather(*(proxy.close() for proxy in proxies))

    async def __aenter__(self) -> ProxyPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
