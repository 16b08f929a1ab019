"""The kill-switch contract: tell the platform to switch one integration path off or on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from monitor.config import KillSwitchConfig


class KillSwitchBackend(ABC):
    @classmethod
    def from_config(cls, config: KillSwitchConfig) -> Self:
        """The backend ``config`` describes; backends that call nothing need nothing."""
        return cls()

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


def needs_url_and_secret(config: KillSwitchConfig) -> tuple[str, str]:
    """``config``'s target and secret, for the backends that call the platform."""
    if config.url is None or config.secret is None:  # the config validator forbids it
        raise ValueError(f"a {config.kind} kill switch needs url and secret")
    return config.url, config.secret.get_secret_value()
