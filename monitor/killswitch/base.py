"""The kill-switch contract: tell the platform to switch one integration path off or on."""

from __future__ import annotations

from abc import ABC, abstractmethod


class KillSwitchBackend(ABC):
    @abstractmethod
    async def apply(self, path: str, state: str, reason: str) -> None:
        """Make ``path``'s switch ``state`` at the platform: "tripped" (off for everyone),
        "verifying" (on for canary accounts only, where the platform can tell) or
        "armed" (on).

        Returns once the platform has accepted it; raises KillSwitchError otherwise
        (``permanent=True`` when retrying cannot help: bad credentials, unknown path).
        Must be idempotent: applying the current state again is not an error.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
