"""A virtual canary camera: renders its canary's frame a few times a second."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from canaries.codebook import Codebook
from canaries.pattern import render


@dataclass(frozen=True)
class CameraFrame:
    jpeg: bytes
    at: datetime
    seq: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


class VirtualCanaryCamera:
    """Produces time-stamped JPEG frames of one canary at ``fps``.

    ``start()`` runs a background task that renders in a worker thread, so a slow
    render never blocks the event loop; ``latest()`` works without it (tests, tools).
    """

    def __init__(
        self,
        book: Codebook,
        canary: str,
        *,
        fps: float = 2.0,
        size: tuple[int, int] = (640, 360),
        quality: int = 85,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.canary = canary
        self.fps = fps
        self.size = size
        self.quality = quality
        self._book = book
        self._clock = clock
        self._frame: CameraFrame | None = None
        self._seq = 0
        self._task: asyncio.Task[None] | None = None

    def capture(self) -> CameraFrame:
        """Render a fresh frame now and make it the latest."""
        at = self._clock()
        buffer = io.BytesIO()
        render(self._book, self.canary, at, self.size).convert("RGB").save(
            buffer, "JPEG", quality=self.quality
        )
        self._seq += 1
        self._frame = CameraFrame(jpeg=buffer.getvalue(), at=at, seq=self._seq)
        return self._frame

    def latest(self) -> CameraFrame:
        return self._frame or self.capture()

    async def start(self) -> None:
        if self._task is None:
            await asyncio.to_thread(self.capture)
            self._task = asyncio.create_task(self._run(), name=f"camera-{self.canary}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        period = 1.0 / self.fps
        while True:
            await asyncio.sleep(period)
            await asyncio.to_thread(self.capture)
