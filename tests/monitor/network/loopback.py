"""Loopback TCP servers and a bounded event loop, shared by the network tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
Address = tuple[str, int]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run_bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """``coro`` in a new event loop, failing after ``timeout`` s: a stuck proxy ends a test."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler, port: int = 0) -> AsyncIterator[Address]:
    """A TCP server of ``handler`` on 127.0.0.1 (``port`` 0: any free one); its address."""
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    try:
        host, bound_port = server.sockets[0].getsockname()[:2]
        yield host, bound_port
    finally:
        server.close()
        await server.wait_closed()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until EOF or a broken connection, then close."""
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def shut(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
