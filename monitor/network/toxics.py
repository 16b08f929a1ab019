"""Toxics: faults the built-in proxy applies, named and shaped like Toxiproxy's.

Names, attributes and units follow https://github.com/Shopify/toxiproxy#toxics so
the same objects can later drive a real Toxiproxy through its HTTP API.
"""

from __future__ import annotations

import asyncio
import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, cast

Stream = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes moving through one direction; ``arrived`` is the loop time they reached the stage."""

    data: bytes
    arrived: float


class Fate:
    """How one connection must end, set by a toxic and read by the proxy.

    ``None`` (default): pass EOF on as a half-close. ``"close"``: once the bytes
    written so far have gone out, close the whole connection (FIN). ``"reset"``:
    abort the destination socket of that direction with a TCP RST (SO_LINGER 0).
    """

    __slots__ = ("ending",)

    def __init__(self) -> None:
        self.ending: Literal["close", "reset"] | None = None


class ToxicStub:
    """One toxic's view of one direction of one connection: an input and an output.

    ``read()`` returns the next chunk, or ``None`` once the sender has sent EOF.
    ``write()`` hands bytes to the next stage; it blocks while that stage is full,
    which is how backpressure reaches the socket the bytes came from.
    ``close()`` ends the whole connection after what was written (see ``Fate``);
    the toxic then returns.
    """

    def __init__(
        self,
        source: asyncio.Queue[Chunk | None],
        sink: asyncio.Queue[Chunk | None],
        fate: Fate | None = None,
    ) -> None:
        self._source = source
        self._sink = sink
        self.fate = fate if fate is not None else Fate()

    def close(self, *, reset: bool = False) -> None:
        if reset or self.fate.ending is None:
            self.fate.ending = "reset" if reset else "close"

    async def read(self) -> Chunk | None:
        return await self._source.get()

    async def write(self, data: bytes) -> None:
        if data:
            await self._sink.put(Chunk(data, asyncio.get_running_loop().time()))


@dataclass(frozen=True, kw_only=True)
class Toxic(ABC):
    """A fault on one direction of every connection through a proxy.

    Common fields, as in Toxiproxy: ``stream`` is the direction it acts on
    (``"upstream"`` = client to server, ``"downstream"`` = server to client);
    ``toxicity`` is the probability (0..1) that it applies to a given connection,
    drawn once per connection; ``name`` defaults to ``"<type>_<stream>"``.
    Subclasses add their attributes as fields, validate them in ``_validate`` and
    set ``type`` (the registry key) and, if they must keep reading while they
    hold data back, ``buffer_size``.
    """

    type: ClassVar[str]
    #: Chunks that may wait in front of this toxic before the sender is blocked.
    buffer_size: ClassVar[int] = 1

    name: str = ""
    stream: Stream = "downstream"
    toxicity: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"{self.type} toxic: name must be a string, got {self.name!r}")
        if self.stream not in STREAMS:
            raise ValueError(
                f"{self.type} toxic: stream must be one of {list(STREAMS)}, got {self.stream!r}"
            )
        check_number(self.type, "toxicity", self.toxicity)
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(
                f"{self.type} toxic: toxicity must be between 0 and 1, got {self.toxicity!r}"
            )
        if not self.name:
            object.__setattr__(self, "name", f"{self.type}_{self.stream}")
        self._validate()

    @abstractmethod
    def _validate(self) -> None:
        """Raise ValueError, naming the attribute, if an attribute is out of range."""

    @abstractmethod
    async def pipe(self, stub: ToxicStub) -> None:
        """Move one direction of one connection from ``stub.read()`` to ``stub.write()``.

        Runs in its own task, once per connection and direction the toxic applies
        to. It must forward the bytes in order, return once ``read()`` gives
        ``None`` (the runner then passes EOF on, after everything written so far),
        and let cancellation through: the connection is closing. It may sleep,
        split chunks and delay; it must not read ahead without bound (the input
        queue holds ``buffer_size`` chunks, that is the whole allowance). An
        exception resets this connection only; the proxy logs it and keeps serving.
        """

    def attributes(self) -> dict[str, float]:
        """The toxic-specific attributes, as Toxiproxy's ``attributes`` object."""
        common = {"name", "stream", "toxicity"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in common}

    def to_dict(self) -> dict[str, Any]:
        """This toxic in Toxiproxy's JSON shape (the inverse of ``toxic_from_dict``)."""
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes(),
        }


@dataclass(frozen=True, kw_only=True)
class LatencyToxic(Toxic):
    """Delay every chunk by ``latency`` ± uniform ``jitter`` milliseconds.

    The delay counts from the chunk's arrival and chunks keep reading while earlier
    ones wait (a pipe with delayed delivery), so throughput is not divided by the
    latency. Order is kept: a chunk never overtakes one with a longer jitter.
    """

    type: ClassVar[str] = "latency"
    buffer_size: ClassVar[int] = 1024  # as Toxiproxy's LatencyToxic.GetBufferSize

    latency: float = 0
    jitter: float = 0

    def _validate(self) -> None:
        check_non_negative(self.type, "latency", self.latency)
        check_non_negative(self.type, "jitter", self.jitter)

    def delay(self) -> float:
        """One draw of the delay, in seconds (never negative)."""
        ms = self.latency + (random.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        return max(ms, 0.0) / 1000.0

    async def pipe(self, stub: ToxicStub) -> None:
        loop = asyncio.get_running_loop()
        while (chunk := await stub.read()) is not None:
            wait = chunk.arrived + self.delay() - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await stub.write(chunk.data)


@dataclass(frozen=True, kw_only=True)
class BandwidthToxic(Toxic):
    """Forward no faster than ``rate`` KB/s (1 KB = 1000 bytes); 0 means unlimited.

    Big chunks go out in 100 ms slices, as in Toxiproxy. While a slice waits its
    turn the toxic reads nothing, so a slow link blocks the sender for real.
    Idle time is not banked: a pause is not followed by a burst.
    """

    type: ClassVar[str] = "bandwidth"

    rate: float = 0

    def _validate(self) -> None:
        check_non_negative(self.type, "rate", self.rate)

    async def pipe(self, stub: ToxicStub) -> None:
        loop = asyncio.get_running_loop()
        bytes_per_second = self.rate * 1000
        slice_size = max(1, int(bytes_per_second / 10))
        free_at = loop.time()  # when the link has sent everything handed to it
        while (chunk := await stub.read()) is not None:
            if not bytes_per_second:
                await stub.write(chunk.data)
                continue
            data = memoryview(chunk.data)
            for start in range(0, len(data), slice_size):
                piece = data[start : start + slice_size]
                free_at = max(free_at, loop.time()) + len(piece) / bytes_per_second
                await asyncio.sleep(free_at - loop.time())
                await stub.write(bytes(piece))


def check_number(kind: str, attr: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{kind} toxic: {attr} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{kind} toxic: {attr} must be finite, got {value!r}")


def check_non_negative(kind: str, attr: str, value: object) -> None:
    check_number(kind, attr, value)
    if cast(float, value) < 0:
        raise ValueError(f"{kind} toxic: {attr} must not be negative, got {value!r}")
