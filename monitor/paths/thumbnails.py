"""``thumbnails``: a camera's recent events and their thumbnails (the Wyze 2024 surface).

GET ``url`` (the event list, with the canary's bearer token) answers JSON: a list of
events, or ``{"events": [...]}``, each ``{"id", "at", "thumbnail_url"}``. The newest
``frames`` events (by ``at``) have their thumbnails fetched, concurrently as an app's
event timeline does; every thumbnail is a frame of the Capture, newest first, and each
one matters (a leak in any is a leak).

The list and every thumbnail URL are untrusted: thumbnail URLs (relative ones resolved
against the list URL) must point at ``allowed_hosts`` and are refused before any
connection otherwise; the list is bounded by ``max_playlist_bytes``, each thumbnail by
``max_bytes``, and redirects by ``max_redirects``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Final
from urllib.parse import urljoin

from monitor.config import CanaryConfig, ThumbnailsOptions
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.streams import IMAGE_TYPES, Fetcher, StreamError, check_url

MAX_EVENTS: Final = 1000  # entries of a list considered; the rest is ignored


class ThumbnailsPath(IntegrationPath):
    kind = "thumbnails"
    config: ThumbnailsOptions

    def __init__(self, config: ThumbnailsOptions) -> None:
        super().__init__(config)

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        headers = {
            "Authorization": f"Bearer {canary.token.get_secret_value()}",
            "Accept": "application/json",
        }
        async with Fetcher(self.config, router, headers) as fetcher:
            try:
                listing = await fetcher.get(url, self.config.max_playlist_bytes, "event list")
                urls = newest_thumbnails(listing.data, listing.url, self.config.frames)
                for thumbnail_url in urls:  # all refused before the first connection
                    check_url(thumbnail_url, self.config)
                bodies = await asyncio.gather(
                    *(fetcher.get(u, self.config.max_bytes, "thumbnail") for u in urls)
                )
            except StreamError as exc:
                return exc.failure(fetcher.count)
            for body in bodies:
                if body.content_type not in IMAGE_TYPES:
                    return CaptureFailure(
                        f"thumbnail has content type {body.content_type[:40]!r}",
                        body.status,
                        fetcher.bytes_received,
                    )
            frames = tuple(body.data for body in bodies)
            kind = bodies[0].content_type
            return fetcher.captured(frames, kind)


def newest_thumbnails(raw: bytes, base_url: str, count: int) -> list[str]:
    """The thumbnail URLs of the ``count`` newest events; StreamError for a bad list."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise StreamError("event list is not valid JSON", 200) from None
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list):
        raise StreamError("event list is not a list of events", 200)
    dated: list[tuple[datetime, str]] = []
    for event in events[:MAX_EVENTS]:
        if not isinstance(event, dict):
            raise StreamError("event list entry is not an object", 200)
        at, thumbnail = event.get("at"), event.get("thumbnail_url")
        if not isinstance(at, str) or not isinstance(thumbnail, str) or len(thumbnail) > 2048:
            raise StreamError("event without a string 'at' and 'thumbnail_url'", 200)
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise StreamError(f"event time {at[:40]!r} is not ISO 8601", 200) from None
        if when.tzinfo is None:
            raise StreamError(f"event time {at[:40]!r} has no time zone", 200)
        dated.append((when, urljoin(base_url, thumbnail)))
    if not dated:
        raise StreamError("no events in the list", 200)
    dated.sort(key=lambda item: item[0], reverse=True)
    return [thumbnail for _, thumbnail in dated[:count]]
