"""The contract of an impairment backend: where to dial to reach an upstream impaired."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from monitor.network.profiles import Profile

DEFAULT_TOXIPROXY_URL = "http://127.0.0.1:8474"


@dataclass(frozen=True)
class BackendOptions:
    """What a config says about the backends (its ``network:`` section, less the kind);
    each backend reads the options it has and ignores the others'."""

    toxiproxy_url: str = DEFAULT_TOXIPROXY_URL


class RouteBackend(ABC):
    """Gives impaired routes to upstreams; one instance serves a whole process.

    Routes are created on first use and reused per (upstream, profile). The clock
    of every profile's ``outage`` starts when the backend is created, and is shared
    by all its routes: "all routes down" means all routes of one backend.
    """

    @classmethod
    @abstractmethod
    def from_options(cls, options: BackendOptions) -> Self:
        """A new backend set up from ``options``."""

    @abstractmethod
    async def route(
        self, upstream_host: str, upstream_port: int, profile: Profile
    ) -> tuple[str, int]:
        """The (host, port) to dial instead of the upstream to get ``profile``.

        Raises OSError when the route cannot be set up (a port, the backend's API
        unreachable), RuntimeError once the backend is closed, ValueError when two
        different profiles carry the same name.
        """

    @abstractmethod
    async def close(self) -> None:
        """Tear down every route; further ``route()`` calls raise RuntimeError."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
