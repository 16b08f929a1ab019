"""The integration-path contract: one kind of client, asking for one canary's frames."""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from monitor.config import CanaryConfig, PathConfig

# One TLS context for every probe's client: building one per client loads the CA store
# each time (milliseconds of CPU), which starves the loop at hundreds of probes in flight.
_TLS = ssl.create_default_context()


def http_client(config: PathConfig) -> httpx.AsyncClient:
    """A fresh client for one probe: nothing (cookies, pooled sockets) crosses accounts.

    Redirects are followed by the adapters themselves (each hop checked against the
    allowed hosts), proxies from the environment are ignored (the impairment proxy is
    the route), and a read silent for ``read_timeout_s`` fails.
    """
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        verify=_TLS,
        timeout=httpx.Timeout(config.read_timeout_s),
    )


# Maps an upstream (host, port) to the (host, port) to dial instead: the impairment
# proxy for this probe's network profile.
Router = Callable[[str, int], Awaitable[tuple[str, int]]]


@dataclass(frozen=True)
class Capture:
    """What the path returned: frames plus transport facts."""

    frames: tuple[bytes, ...]
    status: int | None
    bytes_received: int  # off the wire
    content_type: str | None = None
    # After Content-Encoding; None: as received. Not part of equality: two captures of
    # the same frames and wire bytes are the same capture.
    bytes_decoded: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CaptureFailure:
    """The path gave no frame; ``reason`` is short, specific and safe to log."""

    reason: str
    status: int | None = None
    bytes_received: int = 0
    bytes_decoded: int | None = field(default=None, compare=False)


class IntegrationPath(ABC):
    """One adapter per kind of client (snapshot, mjpeg, hls, browser, ...).

    An adapter is created once per configured path and reused for every probe of it,
    so it may keep per-profile state (as a real client keeps its network estimate).
    Each adapter takes its own kind's option model (``monitor.config.paths``) and
    declares it as the type of ``config``.
    """

    kind: ClassVar[str]
    config: PathConfig

    def __init__(self, config: PathConfig) -> None:
        self.config = config

    @abstractmethod
    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        """Ask for ``canary``'s picture the way this path's clients do.

        Every connection must be dialled through ``router``. The remote's misbehaviour
        (refused connection, HTTP error, oversized or malformed body) is returned as a
        CaptureFailure, never raised. The caller enforces the deadline by cancelling
        this coroutine, so an implementation must release its connections on
        cancellation (``async with``) and must bound every read it makes.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release anything held across probes."""
