"""``snapshot``: one HTTP GET of a still image (vendor app, smart display stills)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor.config import CanaryConfig, SnapshotOptions
from monitor.paths.base import (
    Capture,
    CaptureFailure,
    IntegrationPath,
    Router,
    http_client,
)
from monitor.paths.bodies import ACCEPT_ENCODING, BodyError, ByteCount, read_body
from monitor.paths.hints import NetworkQualityEstimator

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


class SnapshotPath(IntegrationPath):
    kind = "snapshot"
    config: SnapshotOptions

    def __init__(self, config: SnapshotOptions) -> None:
        super().__init__(config)
        self._estimators: dict[str, NetworkQualityEstimator] = {}

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        proxy_host, proxy_port = await router(host, port)
        dial = urlunsplit(parts._replace(netloc=f"{proxy_host}:{proxy_port}"))
        estimator = self._estimators.setdefault(profile, NetworkQualityEstimator())
        headers = {
            "Authorization": f"Bearer {canary.token.get_secret_value()}",
            "Host": parts.netloc,
            "Accept": ", ".join(IMAGE_TYPES),
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if self.config.network_hints:
            headers.update(estimator.headers())
        count = ByteCount()
        # A fresh client per probe: each probe measures its own connection.
        async with http_client(self.config) as client:
            sent = time.monotonic()
            try:
                async with client.stream(
                    "GET", dial, headers=headers, extensions={"sni_hostname": host}
                ) as response:
                    first_byte = time.monotonic()
                    try:
                        body = await read_body(response, self.config.max_bytes, count)
                    except BodyError as exc:
                        return CaptureFailure(
                            str(exc), response.status_code, count.wire, count.decoded
                        )
                    # The network's figures: the bytes it carried, not what they decode to.
                    estimator.observe(first_byte - sent, count.wire, time.monotonic() - first_byte)
            except httpx.HTTPError as exc:
                return CaptureFailure(f"{type(exc).__name__}: {exc}".rstrip(": "))
        status = response.status_code
        if status != 200:
            return CaptureFailure(f"HTTP {status}", status, count.wire, count.decoded)
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in IMAGE_TYPES:
            return CaptureFailure(
                f"unexpected content type {content_type!r}", status, count.wire, count.decoded
            )
        return Capture((body,), status, count.wire, content_type, count.decoded)
