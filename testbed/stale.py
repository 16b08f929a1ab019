"""The ``stale-cache`` bug: the vendor app's snapshots replay each camera from hours ago.

Modelled on a snapshot CDN whose update pointed the origin at the cold archive: every
tenant still gets its *own* camera, so nobody sees a stranger's home, but the picture
is a recording from ``lag`` ago, replayed in real time. A monitor that only checks
"whose frame is this" calls that clean; camcanary reads the frame's time code and
says ``own_stale``. The replay renders each camera's canary at ``now - lag`` (at most
``fps`` renders a second per camera, in a worker thread), so the frames are exactly
what the archive would hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Set
from datetime import UTC, datetime, timedelta
from typing import Final

from canaries import CameraFrame, Codebook, VirtualCanaryCamera

STALE_BUG: Final = "stale-cache"
STALE_LAG: Final = timedelta(hours=3)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StaleReplay:
    """Per camera, the frame the archive holds for ``clock() - lag``."""

    def __init__(
        self,
        book: Codebook,
        canaries: Mapping[str, str],
        *,
        lag: timedelta = STALE_LAG,
        fps: float = 2.0,
        size: tuple[int, int] = (640, 360),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """``canaries`` maps each camera id to the canary its camera shows."""
        if lag <= timedelta(0):
            raise ValueError(f"lag must be positive, not {lag}")
        self.lag = lag
        self._clock = clock
        self._period = timedelta(seconds=1 / fps)
        self._replays = {
            camera_id: VirtualCanaryCamera(
                book, canary, fps=fps, size=size, clock=lambda: clock() - lag
            )
            for camera_id, canary in canaries.items()
        }
        self._frames: dict[str, CameraFrame] = {}

    async def frame(self, camera_id: str) -> CameraFrame:
        """The archived frame of ``camera_id`` for now; KeyError for an unknown camera."""
        replay = self._replays[camera_id]
        frame = self._frames.get(camera_id)
        if frame is None or self._clock() - self.lag - frame.at >= self._period:
            frame = await asyncio.to_thread(replay.capture)
            self._frames[camera_id] = frame
        return frame


async def snapshot_frame(
    stale: StaleReplay | None, bugs: Set[str], camera_id: str, camera: VirtualCanaryCamera
) -> CameraFrame:
    """What the app path serves: the archive's frame with the bug deployed, else the live one.

    A cloud built without a replay (``stale`` None) always serves live frames.
    """
    if stale is not None and STALE_BUG in bugs:
        return await stale.frame(camera_id)
    return camera.latest()
