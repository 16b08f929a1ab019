"""Connection faults: Toxiproxy's slow_close, timeout, reset_peer, slicer and limit_data.

Each follows the behaviour of Toxiproxy's own implementation (``toxics/*.go``), not
only its README, where the two differ; the docstrings say where.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from typing import ClassVar

from monitor.network.toxics import Toxic, ToxicStub, check_non_negative, check_number


@dataclass(frozen=True, kw_only=True)
class SlowCloseToxic(Toxic):
    """Pass data through; once the sender closes, wait ``delay`` ms before passing
    the close on."""

    type: ClassVar[str] = "slow_close"

    delay: float = 0

    def _validate(self) -> None:
        check_non_negative(self.type, "delay", self.delay)

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            await stub.write(chunk.data)
        await asyncio.sleep(self.delay / 1000)


@dataclass(frozen=True, kw_only=True)
class TimeoutToxic(Toxic):
    """Drop every byte; close the connection once ``timeout`` ms pass with nothing
    arriving (as Toxiproxy's code does: each arriving chunk restarts the clock).
    ``timeout`` 0 never closes: the connection stays open and silent for good."""

    type: ClassVar[str] = "timeout"

    timeout: float = 0

    def _validate(self) -> None:
        check_non_negative(self.type, "timeout", self.timeout)

    async def pipe(self, stub: ToxicStub) -> None:
        limit = self.timeout / 1000 if self.timeout else None
        while True:
            try:
                async with asyncio.timeout(limit):
                    chunk = await stub.read()
            except TimeoutError:
                stub.close()
                return
            if chunk is None:
                # The sender closed: Toxiproxy closes the connection too.
                stub.close()
                return


@dataclass(frozen=True, kw_only=True)
class ResetPeerToxic(Toxic):
    """When the first bytes arrive, drop them, wait ``timeout`` ms and reset the
    connection (TCP RST). Nothing passes, as in Toxiproxy's code; a connection on
    which this direction stays silent is never reset."""

    type: ClassVar[str] = "reset_peer"

    timeout: float = 0

    def _validate(self) -> None:
        check_non_negative(self.type, "timeout", self.timeout)

    async def pipe(self, stub: ToxicStub) -> None:
        if await stub.read() is not None:
            await asyncio.sleep(self.timeout / 1000)
            stub.close(reset=True)


@dataclass(frozen=True, kw_only=True)
class SlicerToxic(Toxic):
    """Slice each chunk into pieces of about ``average_size`` ± ``size_variation``
    bytes, waiting ``delay`` microseconds after each piece.

    The split is Toxiproxy's: halve at a point moved by up to ± ``size_variation``
    until a piece is within ``size_variation`` of ``average_size`` or smaller.
    """

    type: ClassVar[str] = "slicer"

    average_size: int = 0
    size_variation: int = 0
    delay: float = 0

    def _validate(self) -> None:
        for attr in ("average_size", "size_variation"):
            value = getattr(self, attr)
            check_non_negative(self.type, attr, value)
            if value != int(value):
                raise ValueError(f"{self.type} toxic: {attr} must be a whole number of bytes")
        check_non_negative(self.type, "delay", self.delay)
        if self.average_size < 1:
            raise ValueError(f"{self.type} toxic: average_size must be at least 1")
        if self.size_variation >= self.average_size:
            raise ValueError(
                f"{self.type} toxic: size_variation must be less than average_size, "
                f"got {self.size_variation} >= {self.average_size}"
            )

    def cuts(self, size: int) -> list[int]:
        """Offsets splitting ``size`` bytes: [0, a, b, ..., size]."""
        average, variation = int(self.average_size), int(self.size_variation)
        offsets = [0]
        pending = [(0, size)]  # a stack, right half pushed first so pieces come in order
        while pending:
            start, end = pending.pop()
            if end - start - average <= variation:
                offsets.append(end)
                continue
            shift = random.randint(-variation, variation) if variation else 0
            mid = start + (end - start) // 2 + shift
            pending.append((mid, end))
            pending.append((start, mid))
        return offsets

    async def pipe(self, stub: ToxicStub) -> None:
        pause = self.delay / 1_000_000
        while (chunk := await stub.read()) is not None:
            data = memoryview(chunk.data)
            offsets = self.cuts(len(data))
            for start, end in itertools.pairwise(offsets):
                await stub.write(bytes(data[start:end]))
                await asyncio.sleep(pause)


@dataclass(frozen=True, kw_only=True)
class LimitDataToxic(Toxic):
    """Pass the first ``bytes`` bytes of this direction, then close the connection."""

    type: ClassVar[str] = "limit_data"

    bytes: int = 0

    def _validate(self) -> None:
        check_number(self.type, "bytes", self.bytes)
        if self.bytes < 0 or self.bytes != int(self.bytes):
            raise ValueError(f"{self.type} toxic: bytes must be a whole number >= 0")

    async def pipe(self, stub: ToxicStub) -> None:
        # As Toxiproxy: the close comes with the chunk that reaches the limit (with
        # bytes 0, with the first chunk); an earlier EOF passes as usual.
        remaining = int(self.bytes)
        while (chunk := await stub.read()) is not None:
            piece = chunk.data[:remaining]
            await stub.write(piece)
            remaining -= len(piece)
            if remaining <= 0:
                stub.close()
                return
