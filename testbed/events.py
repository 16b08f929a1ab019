"""Event lists with thumbnails (the Wyze 2024 surface), and the ``wyze-2024`` bug.

Routes (bearer token of the tenant; kill switch path ``events``)::

    GET /events/v1/cameras/{camera_id}/events   {"events": [{id, at, thumbnail_url}, ...]}
    GET /events/v1/thumbnails/{event_id}.jpg    the event's thumbnail (320x180 JPEG)

Every camera records an event every ``period_s`` seconds of the wall clock, so event
slots line up across tenants; a list holds the newest ``keep`` events, newest first.
A thumbnail is made from the camera's frame the first time it is asked for, then kept
in a `ThumbnailCache` keyed by (camera, slot).

``wyze-2024``: the cache is overloaded by a reconnect storm — requests from at least
``storm_tenants`` distinct tenants within ``storm_window_s`` (as when every client
reconnects at once after an outage). While overloaded (``overload_s`` after the last
storm signal) and only with the bug deployed, entries are keyed by slot alone, so a
tenant gets the thumbnail whichever tenant cached that slot first. Without the bug, a
storm changes nothing.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from testbed.cloud import Tenant, TestbedCloud
from testbed.hub import transcode_low

PATH: Final = "events"
BUG: Final = "wyze-2024"
_BEARER = re.compile(r"Bearer +([A-Za-z0-9._~+/=-]{1,256})", re.IGNORECASE)
_EVENT_ID = re.compile(r"([a-z0-9][a-z0-9-]{0,80})\.([0-9]{1,12})")
SlotKey = tuple[str, ...]


def authorize(cloud: TestbedCloud, request: web.Request, path: str) -> Tenant:
    """Kill switch, then bearer token: the requesting tenant, or an HTTP error (JSON)."""
    if cloud.is_tripped(path):
        raise web.HTTPServiceUnavailable(reason="Integration disabled by kill switch")
    match = _BEARER.fullmatch(request.headers.get("Authorization", "").strip())
    if match is None:
        raise web.HTTPUnauthorized(reason="Missing or malformed bearer token")
    tenant = cloud.authenticate(match.group(1))
    if tenant is None:
        raise web.HTTPUnauthorized(reason="Invalid bearer token")
    return tenant


def owns(tenant: Tenant, camera_id: str) -> bool:
    """Whether ``camera_id`` is the tenant's camera (unknown ids and others' alike: no)."""
    return hmac.compare_digest(tenant.camera_id.encode(), camera_id.encode())


class StormDetector:
    """Flags overload when ``tenants`` distinct tenants ask within ``window_s``."""

    def __init__(
        self,
        tenants: int = 2,
        window_s: float = 0.25,
        overload_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tenants = tenants
        self.window_s = window_s
        self.overload_s = overload_s
        self.storms = 0
        self._clock = clock
        self._recent: collections.deque[tuple[float, str]] = collections.deque(maxlen=1024)
        self._until = float("-inf")

    def observe(self, tenant: str) -> bool:
        """Record one request; True while the cache is overloaded."""
        now = self._clock()
        self._recent.append((now, tenant))
        while self._recent and now - self._recent[0][0] > self.window_s:
            self._recent.popleft()
        if len({name for _, name in self._recent}) >= self.tenants:
            if now >= self._until:
                self.storms += 1
            self._until = now + self.overload_s
        return now < self._until


@dataclass(frozen=True)
class Thumbnail:
    jpeg: bytes
    at: datetime


class ThumbnailCache:
    """Thumbnails per key for ``ttl`` seconds; keys per `cache_key`.

    Concurrent misses of one key are coalesced (single flight), as caches in front of
    a slow origin do: every caller gets the first caller's thumbnail.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[SlotKey, tuple[float, asyncio.Future[Thumbnail]]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: SlotKey, make: Callable[[], Thumbnail]) -> Thumbnail:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            self.hits += 1
            return await asyncio.shield(entry[1])
        self.misses += 1
        made = asyncio.ensure_future(asyncio.to_thread(make))
        self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl}
        self._entries[key] = (now, made)
        try:
            return await asyncio.shield(made)
        except Exception:
            if self._entries.get(key, (0.0, None))[1] is made:
                del self._entries[key]  # a failed make is not cached
            raise


def cache_key(camera_id: str, slot: int, *, bug: bool, overloaded: bool) -> SlotKey:
    if bug and overloaded:
        return ("slot", str(slot))  # the bug: the tenant's camera is missing from the key
    return (camera_id, str(slot))


class EventsApi:
    """The event endpoints of one testbed cloud."""

    def __init__(
        self,
        cloud: TestbedCloud,
        *,
        period_s: float = 3.0,
        keep: int = 3,
        storm: StormDetector | None = None,
    ) -> None:
        self.cloud = cloud
        self.period_s = period_s
        self.keep = keep
        self.storm = storm if storm is not None else StormDetector()
        self.cache = ThumbnailCache(ttl=period_s * (keep + 1))

    def install(self, app: web.Application) -> None:
        """Mount the routes on ``app``; the API is then ``app[EVENTS]``."""
        app[EVENTS] = self
        app.router.add_get("/events/v1/cameras/{camera_id}/events", self.list_events)
        app.router.add_get("/events/v1/thumbnails/{event_id}.jpg", self.thumbnail)

    def _slot_now(self) -> int:
        return int(self.cloud.wall_clock() // self.period_s)

    async def list_events(self, request: web.Request) -> web.Response:
        tenant = authorize(self.cloud, request, PATH)
        camera_id = request.match_info["camera_id"]
        if not owns(tenant, camera_id):
            raise web.HTTPNotFound(reason="Camera not found")
        self.storm.observe(tenant.name)
        base = f"{request.scheme}://{request.host}"
        now = self._slot_now()
        events = [
            {
                "id": f"{camera_id}.{slot}",
                "at": datetime.fromtimestamp(slot * self.period_s, UTC).isoformat(),
                "thumbnail_url": f"{base}/events/v1/thumbnails/{camera_id}.{slot}.jpg",
            }
            for slot in range(now, now - self.keep, -1)
        ]
        return web.json_response({"events": events}, headers={"Cache-Control": "no-store"})

    async def thumbnail(self, request: web.Request) -> web.Response:
        tenant = authorize(self.cloud, request, PATH)
        match = _EVENT_ID.fullmatch(request.match_info["event_id"])
        if match is None:
            raise web.HTTPNotFound(reason="Event not found")
        camera_id, slot = match.group(1), int(match.group(2))
        now = self._slot_now()
        # One slot of grace: the list may have been read just before a new event.
        if not owns(tenant, camera_id) or not now - self.keep <= slot <= now:
            raise web.HTTPNotFound(reason="Event not found")
        overloaded = self.storm.observe(tenant.name)
        camera = self.cloud.cameras[camera_id]

        def make() -> Thumbnail:
            frame = camera.latest()
            return Thumbnail(transcode_low(frame.jpeg), frame.at)

        key = cache_key(camera_id, slot, bug=BUG in self.cloud.bugs, overloaded=overloaded)
        thumbnail = await self.cache.get(key, make)
        headers = {"X-Frame-Time": thumbnail.at.isoformat(), "Cache-Control": "no-store"}
        return web.Response(body=thumbnail.jpeg, content_type="image/jpeg", headers=headers)


EVENTS: Final = web.AppKey("events", EventsApi)
