"""The built-in backend: one local ``TcpProxy`` per (upstream, profile)."""

from __future__ import annotations

import asyncio
import time
from typing import Self

from monitor.network.base import BackendOptions, RouteBackend
from monitor.network.profiles import Profile
from monitor.network.proxy import TcpProxy


class ProxyPool(RouteBackend):
    """Local listeners per (upstream, profile), created on first use and reused."""

    def __init__(self, listen_host: str = "127.0.0.1") -> None:
        self._listen_host = listen_host
        self._proxies: dict[tuple[str, int, str], tuple[Profile, TcpProxy]] = {}
        self._lock = asyncio.Lock()
        self._closed = False
        self.started = time.monotonic()  # the outage clock of every proxy in the pool

    @classmethod
    def from_options(cls, options: BackendOptions) -> Self:
        return cls()

    async def route(
        self, upstream_host: str, upstream_port: int, profile: Profile
    ) -> tuple[str, int]:
        key = (upstream_host, upstream_port, profile.name)
        # Every probe asks for its route: the common case (the proxy exists) must not
        # queue on the lock, which hands over once per loop iteration and would cap
        # the pool at a few hundred probe starts per second under load.
        entry = self._proxies.get(key)
        if entry is not None and not self._closed:
            return _checked(entry, profile)
        async with self._lock:
            if self._closed:
                raise RuntimeError("ProxyPool is closed")
            entry = self._proxies.get(key)
            if entry is None:
                proxy = TcpProxy(
                    upstream_host,
                    upstream_port,
                    profile.toxics,
                    listen_host=self._listen_host,
                    outage=profile.outage,
                    started=self.started,
                )
                await proxy.start()
                self._proxies[key] = (profile, proxy)
                return proxy.address
            return _checked(entry, profile)

    def proxies(self) -> list[TcpProxy]:
        """The live proxies, for counters."""
        return [proxy for _, proxy in self._proxies.values()]

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            proxies = [proxy for _, proxy in self._proxies.values()]
            self._proxies.clear()
        await asyncio.gather(*(proxy.close() for proxy in proxies))


def _checked(entry: tuple[Profile, TcpProxy], profile: Profile) -> tuple[str, int]:
    known, proxy = entry
    if known != profile:
        raise ValueError(f"two different network profiles are named {profile.name!r}")
    return proxy.address
