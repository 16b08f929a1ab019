"""``SlackNotifier``: the Slack Web API through slack-sdk's async client (bot token).

It is the outbox's transport (``alerts.base.Transport``): post, update, reply and
find a message already posted under an idempotency key (carried in the message's
metadata, https://api.slack.com/metadata). Inside one call only a 429 is retried
(slack-sdk's handler honours Retry-After; Slack took nothing). A 5xx or a dropped
connection may follow a post Slack accepted, so it is the outbox's to retry: it looks
the message up by its key first, where an in-call retry would post it twice, and it
sends pages before warnings, where an in-call retry would hold the channel. Writes
are paced per channel (``min_interval_s``, 1 s: Slack's chat.postMessage limit,
https://api.slack.com/methods/chat.postMessage#rate_limiting).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from alerts.base import NotifierError

METADATA_EVENT = "camcanary_message"
# ok:false errors that retrying the same call cannot fix.
PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "message_not_found",
        "cant_update_message",
        "invalid_blocks",
        "msg_too_long",
        "no_permission",
        "missing_scope",
    }
)


class SlackNotifier:
    """The outbox's Slack transport; not a `Notifier`: incidents reach Slack as threads
    composed by the incident engine and delivered by the outbox, never as single alerts."""

    def __init__(
        self,
        token: str,
        *,
        channel: str,
        base_url: str | None = None,
        min_interval_s: float = 1.0,
        timeout_s: int = 10,
        retries: int = 2,
    ) -> None:
        self.channel = channel
        self._client = AsyncWebClient(
            token=token,
            base_url=base_url or AsyncWebClient.BASE_URL,
            timeout=timeout_s,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=retries)],
        )
        self._min_interval_s = min_interval_s
        self._next_free: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def post(
        self,
        channel: str,
        payload: dict[str, Any],
        *,
        key: str,
        thread_ts: str | None = None,
    ) -> str:
        """Post a message (a thread reply with ``thread_ts``); returns its ts."""
        response = await self._call(
            "chat_postMessage",
            channel=channel,
            text=payload.get("text", ""),
            blocks=payload.get("blocks"),
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
        )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        await self._call(
            "chat_update",
            channel=channel,
            ts=ts,
            text=payload.get("text", ""),
            blocks=payload.get("blocks"),
        )

    async def find(self, channel: str, key: str, *, thread_ts: str | None = None) -> str | None:
        """The ts of a recent message posted under ``key``, if Slack has one.

        Used before re-sending a message whose earlier attempt may have reached Slack
        (a timeout after Slack accepted it), so that it is not posted twice.
        """
        if thread_ts is None:
            response = await self._read(
                "conversations_history", channel=channel, limit=200, include_all_metadata=True
            )
        else:
            response = await self._read(
                "conversations_replies",
                channel=channel,
                ts=thread_ts,
                limit=200,
                include_all_metadata=True,
            )
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return str(message["ts"])
        return None

    async def check(self) -> str:
        """``auth.test``: returns the bot's user id, or raises NotifierError."""
        response = await self._read("auth_test")
        return str(response.get("user_id", ""))

    async def _call(self, method: str, **kwargs: Any) -> Any:
        channel = str(kwargs["channel"])
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._next_free.get(channel, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._read(method, **kwargs)
            finally:
                self._next_free[channel] = time.monotonic() + self._min_interval_s

    async def _read(self, method: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self._client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response else ""
            status = exc.response.status_code if exc.response else 0
            retry_after = _retry_after(exc)
            raise NotifierError(
                f"slack {method}: HTTP {status} {error or 'error'}",
                retryable=error not in PERMANENT_ERRORS,
                retry_after_s=retry_after,
            ) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NotifierError(f"slack {method}: {type(exc).__name__}: {exc}") from exc


def _retry_after(exc: SlackApiError) -> float | None:
    headers = exc.response.headers if exc.response else {}
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return float(raw)
            except ValueError:
                return None
    return None
