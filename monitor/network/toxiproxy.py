"""The Toxiproxy backend: routes through a real Toxiproxy server, set up over its HTTP API.

One Toxiproxy proxy per (upstream, profile), named ``<prefix>_<profile>_<host>_<port>``,
listening on a free port (``listen: "<listen_host>:0"``) with the profile's toxics
(``toxiproxy_json``: Toxiproxy's integer attributes). A profile's ``outage`` is
played through the same API on the backend's clock: ``cut`` disables and re-enables
the proxy (Toxiproxy then refuses connections and drops live ones); ``hold`` adds a
latency toxic on both streams for the rest of the down phase and removes it at
recovery, when Toxiproxy flushes what it held. Unlike the built-in ``hold``,
Toxiproxy dials the upstream at once: the storm is of requests, not of connections.
API failures are mapped once, here, to OSError with the server's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from monitor.network.base import DEFAULT_TOXIPROXY_URL, BackendOptions, RouteBackend
from monitor.network.profiles import Outage, Profile
from monitor.network.registry import toxiproxy_json

logger = logging.getLogger(__name__)

DEFAULT_URL = DEFAULT_TOXIPROXY_URL


class ToxiproxyBackend(RouteBackend):
    """Routes through the Toxiproxy server at ``url``.

    ``dial_host`` is where the monitor reaches the proxies' listeners; by default
    the API's host. ``listen_host`` is where Toxiproxy listens: by default loopback
    for a local Toxiproxy, every interface for a remote one. Proxies left over from
    an earlier run under the same names are replaced; ``close()`` deletes the ones
    this backend made.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        listen_host: str | None = None,
        dial_host: str | None = None,
        prefix: str = "camcanary",
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._dial_host = dial_host or urlsplit(self.url).hostname or "127.0.0.1"
        # A Toxiproxy on another host (a compose service) must listen where we can reach it.
        local = self._dial_host in ("127.0.0.1", "localhost", "::1")
        self._listen_host = listen_host or ("127.0.0.1" if local else "0.0.0.0")  # noqa: S104
        self._prefix = prefix
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)
        self._routes: dict[tuple[str, int, str], tuple[Profile, str, tuple[str, int]]] = {}
        self._schedules: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._closed = False
        self.started = time.monotonic()

    @classmethod
    def from_options(cls, options: BackendOptions) -> Self:
        return cls(options.toxiproxy_url)

    async def version(self) -> str:
        """The server's version (``GET /version``: JSON in 2.6+, plain text before)."""
        response = await self._call("GET", "/version")
        try:
            return str(response.json()["version"])
        except (ValueError, KeyError, TypeError):
            return response.text.strip()

    async def route(
        self, upstream_host: str, upstream_port: int, profile: Profile
    ) -> tuple[str, int]:
        key = (upstream_host, upstream_port, profile.name)
        async with self._lock:
            if self._closed:
                raise RuntimeError("ToxiproxyBackend is closed")
            entry = self._routes.get(key)
            if entry is not None:
                if entry[0] != profile:
                    raise ValueError(f"two different network profiles are named {profile.name!r}")
                return entry[2]
            name = re.sub(
                r"[^A-Za-z0-9_.-]",
                "_",
                f"{self._prefix}_{profile.name}_{upstream_host}_{upstream_port}",
            )
            address = await self._create(name, f"{upstream_host}:{upstream_port}", profile)
            self._routes[key] = (profile, name, address)
            if profile.outage is not None:
                task = asyncio.get_running_loop().create_task(self._play(name, profile.outage))
                self._schedules.append(task)
            return address

    async def _create(self, name: str, upstream: str, profile: Profile) -> tuple[str, int]:
        body = {
            "name": name,
            "listen": f"{self._listen_host}:0",
            "upstream": upstream,
            "enabled": True,
        }
        response = await self._call("POST", "/proxies", json=body, ok=(201, 409))
        if response.status_code == 409:  # left over from an earlier run
            await self._call("DELETE", f"/proxies/{name}", ok=(204, 404))
            response = await self._call("POST", "/proxies", json=body)
        listen = str(response.json()["listen"])  # the port Toxiproxy picked
        for toxic in profile.toxics:
            await self._call("POST", f"/proxies/{name}/toxics", json=toxiproxy_json(toxic))
        port = int(listen.rpartition(":")[2])
        logger.debug("toxiproxy %s: %s -> %s (%s)", self.url, listen, upstream, profile.name)
        return self._dial_host, port

    async def _play(self, name: str, outage: Outage) -> None:
        """Drive one proxy through ``outage``'s phases until the backend closes."""
        down = False
        while True:
            elapsed = time.monotonic() - self.started
            now_down = outage.is_down(elapsed)
            try:
                if now_down != down:
                    await self._switch(name, outage, now_down, outage.next_change(elapsed))
                    down = now_down
            except OSError as exc:  # keep the clock; the next phase tries again
                logger.warning("toxiproxy %s: outage step on %s failed: %s", self.url, name, exc)
            await asyncio.sleep(outage.next_change(time.monotonic() - self.started) + 0.001)

    async def _switch(self, name: str, outage: Outage, down: bool, remaining_s: float) -> None:
        if outage.mode == "cut":
            await self._call("POST", f"/proxies/{name}", json={"enabled": not down})
            return
        for stream in ("upstream", "downstream"):
            toxic = f"{self._prefix}_outage_{stream}"
            if down:
                latency = {"latency": round(remaining_s * 1000), "jitter": 0}
                body = {"name": toxic, "type": "latency", "stream": stream, "attributes": latency}
                await self._call("POST", f"/proxies/{name}/toxics", json=body, ok=(200, 409))
            else:
                await self._call("DELETE", f"/proxies/{name}/toxics/{toxic}", ok=(204, 404))

    async def _call(
        self, method: str, path: str, *, json: Any = None, ok: tuple[int, ...] = (200, 201, 204)
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise OSError(f"Toxiproxy API at {self.url} unreachable: {exc!r}") from exc
        if response.status_code not in ok:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise OSError(f"Toxiproxy API {method} {path}: HTTP {response.status_code}: {message}")
        return response

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            names = [name for _, name, _ in self._routes.values()]
            self._routes.clear()
        for task in self._schedules:
            task.cancel()
        await asyncio.gather(*self._schedules, return_exceptions=True)
        for name in names:
            with contextlib.suppress(OSError):
                await self._call("DELETE", f"/proxies/{name}", ok=(204, 404))
        await self._http.aclose()
