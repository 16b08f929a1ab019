"""The HTTP POST both remote backends make: retried, optionally signed, errors mapped once.

``webhook`` signs its body (`sign`, the Slack/Stripe scheme); ``unleash`` sends its
admin token in a header instead. Both retry connection errors, 429 and 5xx with a
doubling pause, and give up at once on any other 4xx, where retrying cannot help.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable

import httpx

from monitor.errors import KillSwitchError

ATTEMPTS = 3


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(secret: bytes, body: bytes) -> dict[str, str]:
    """The webhook headers for ``body``, stamped now (a retry gets a fresh stamp)."""
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "X-Camcanary-Timestamp": str(timestamp),
        "X-Camcanary-Signature": sign(secret, timestamp, body),
    }


async def post_with_retries(
    client: httpx.AsyncClient,
    url: str,
    *,
    body: bytes | None = None,
    headers: Callable[[], dict[str, str]] | None = None,
    refused: Callable[[str], str],
    unreachable: Callable[[str], str],
) -> None:
    """POST until accepted; KillSwitchError (``permanent`` on a 4xx other than 429)
    with the message ``refused(last)`` or ``unreachable(last)`` otherwise."""
    last = "no attempt"
    for attempt in range(ATTEMPTS):
        try:
            response = await client.post(
                url, content=body, headers=headers() if headers is not None else None
            )
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
            if 400 <= response.status_code < 500 and response.status_code != 429:
                raise KillSwitchError(refused(last), permanent=True)
        if attempt + 1 < ATTEMPTS:  # no pause after the last try: report the failure now
            await asyncio.sleep(0.5 * 2**attempt)
    raise KillSwitchError(unreachable(last))
