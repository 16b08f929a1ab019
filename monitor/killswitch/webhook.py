"""``webhook``: a signed HTTP POST to the platform's integration gateway.

Body: ``{"path", "state", "reason"}``. Headers: ``X-Camcanary-Timestamp`` (unix
seconds) and ``X-Camcanary-Signature: v1=<hex HMAC-SHA256(secret, "<ts>." + body)>``,
the Slack/Stripe scheme, so the receiver can reject forgeries and replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import httpx

from monitor.errors import KillSwitchError
from monitor.killswitch.base import KillSwitchBackend

ATTEMPTS = 3


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class WebhookKillSwitch(KillSwitchBackend):
    def __init__(self, url: str, secret: bytes, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    async def apply(self, path: str, state: str, reason: str) -> None:
        body = json.dumps({"path": path, "state": state, "reason": reason}).encode()
        last = "no attempt"
        for attempt in range(ATTEMPTS):
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "X-Camcanary-Timestamp": str(timestamp),
                "X-Camcanary-Signature": sign(self._secret, timestamp, body),
            }
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    raise KillSwitchError(f"{self.url} refused: {last}", permanent=True)
            if attempt + 1 < ATTEMPTS:  # no pause after the last try: report the failure now
                await asyncio.sleep(0.5 * 2**attempt)
        raise KillSwitchError(f"{self.url} unreachable after {ATTEMPTS} attempts: {last}")

    async def close(self) -> None:
        await self._client.aclose()
