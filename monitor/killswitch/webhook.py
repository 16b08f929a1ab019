"""``webhook``: a signed HTTP POST to the platform's integration gateway.

Body: ``{"path", "state", "reason"}``. Headers: ``X-Camcanary-Timestamp`` (unix
seconds) and ``X-Camcanary-Signature: v1=<hex HMAC-SHA256(secret, "<ts>." + body)>``,
the Slack/Stripe scheme, so the receiver can reject forgeries and replays.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Self

import httpx

from monitor.killswitch.base import KillSwitchBackend, needs_url_and_secret
from monitor.killswitch.post import ATTEMPTS, post_with_retries, sign, signed_headers

if TYPE_CHECKING:
    from monitor.config import KillSwitchConfig

__all__ = ["ATTEMPTS", "WebhookKillSwitch", "sign"]


class WebhookKillSwitch(KillSwitchBackend):
    def __init__(self, url: str, secret: bytes, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    @classmethod
    def from_config(cls, config: KillSwitchConfig) -> Self:
        url, secret = needs_url_and_secret(config)
        return cls(url, secret.encode(), timeout_s=config.timeout_s)

    async def apply(self, path: str, state: str, reason: str) -> None:
        body = json.dumps({"path": path, "state": state, "reason": reason}).encode()
        await post_with_retries(
            self._client,
            self.url,
            body=body,
            headers=lambda: signed_headers(self._secret, body),
            refused=lambda last: f"{self.url} refused: {last}",
            unreachable=lambda last: f"{self.url} unreachable after {ATTEMPTS} attempts: {last}",
        )

    async def close(self) -> None:
        await self._client.aclose()
