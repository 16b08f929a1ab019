"""A fake Slack Web API on loopback, for the real slack-sdk client (``base_url``).

Implements what camcanary calls: ``auth.test``, ``chat.postMessage``,
``chat.update``, ``conversations.history`` and ``conversations.replies`` (with
message metadata). Every call is recorded with its raw body. Failures can be
injected: 429 with Retry-After, 5xx, ``ok: false`` errors, "accepted but the
answer was lost", and an outage window in *fake* time: with ``time_scale=60`` a
10-minute outage lasts 10 real seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from testbed.serving import serve


@dataclass(frozen=True)
class SlackCall:
    method: str
    status: int  # the HTTP status the fake answered
    ok: bool
    body: bytes  # the raw request body, exactly as sent
    params: dict[str, Any]
    at: float  # time.monotonic()
    channel: str | None = None
    ts: str | None = None  # the message ts (issued, or the one updated)
    thread_ts: str | None = None
    text: str | None = None
    blocks: Any = None


@dataclass(frozen=True)
class _Failure:
    status: int
    error: str
    retry_after: int | None
    store: bool  # accept the message, then answer with the failure


@dataclass
class FakeSlack:
    token: str = "xoxb-camcanary-test"  # noqa: S105 - the fake's own test token
    time_scale: float = 1.0  # fake seconds per real second, for outage windows
    calls: list[SlackCall] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    url: str = ""
    _failures: deque[_Failure] = field(default_factory=deque)
    _outage_until: float = 0.0
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # -- failure injection -------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        error: str = "internal_error",
        retry_after: int | None = None,
        store: bool = False,
    ) -> None:
        """The next ``count`` calls fail (``status`` 200 with ``error`` is ok:false)."""
        for _ in range(count):
            self._failures.append(_Failure(status, error, retry_after, store))

    def rate_limit_next(self, count: int = 1, *, retry_after: int = 1) -> None:
        self.fail_next(count, status=429, error="ratelimited", retry_after=retry_after)

    def outage(self, fake_seconds: float) -> float:
        """Every call fails with 503 for ``fake_seconds``; returns the real duration."""
        real = fake_seconds / self.time_scale
        self._outage_until = time.monotonic() + real
        return real

    @property
    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    # -- what happened -----------------------------------------------------------------

    def posted(self, *, thread: bool | None = None) -> list[SlackCall]:
        """Successful chat.postMessage calls (only parents/replies with ``thread``)."""
        return [
            c
            for c in self.calls
            if c.method == "chat.postMessage"
            and c.ok
            and (thread is None or (c.thread_ts is not None) == thread)
        ]

    def updates(self) -> list[SlackCall]:
        return [c for c in self.calls if c.method == "chat.update" and c.ok]

    def raw_bodies(self) -> bytes:
        return b"\n".join(call.body for call in self.calls)

    # -- the server --------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlack:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle)
        self._runner, base = await serve(app, access_log=None)
        self.url = f"{base}/api/"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        params = self._params(request, body)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(method, body, params, 200, {"ok": False, "error": "invalid_auth"})
        failure: _Failure | None = None
        if self.in_outage:
            failure = _Failure(503, "service_unavailable", None, False)
        elif self._failures:
            failure = self._failures.popleft()
        if failure is not None and not failure.store:
            return self._fail(method, body, params, failure)
        await asyncio.sleep(0)
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
        }.get(method)
        if handler is None:
            return self._answer(method, body, params, 200, {"ok": False, "error": "unknown_method"})
        answer = handler(params)
        if failure is not None:  # accepted (in ``messages``), but the client never hears so
            return self._fail(method, body, params, failure)
        return self._answer(method, body, params, 200, answer)

    def _fail(
        self, method: str, body: bytes, params: dict[str, Any], failure: _Failure
    ) -> web.Response:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        answer = {"ok": False, "error": failure.error}
        self._record(method, body, params, answer, status=failure.status)
        return web.json_response(answer, status=failure.status, headers=headers)

    def _answer(
        self, method: str, body: bytes, params: dict[str, Any], status: int, answer: dict[str, Any]
    ) -> web.Response:
        self._record(method, body, params, answer, status=status)
        return web.json_response(answer, status=status)

    def _record(
        self,
        method: str,
        body: bytes,
        params: dict[str, Any],
        answer: dict[str, Any],
        *,
        status: int = 200,
    ) -> None:
        self.calls.append(
            SlackCall(
                method=method,
                status=status,
                ok=status == 200 and bool(answer.get("ok")),
                body=body,
                params=params,
                at=time.monotonic(),
                channel=params.get("channel"),
                ts=answer.get("ts") or params.get("ts"),
                thread_ts=params.get("thread_ts"),
                text=params.get("text"),
                blocks=params.get("blocks"),
            )
        )

    @staticmethod
    def _params(request: web.Request, body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if body:
            if request.content_type == "application/json":
                params.update(json.loads(body))
            else:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
        for name in ("blocks", "metadata"):  # form-encoded calls send these as JSON text
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
        return params

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": "UCAMCANARY", "team": "fake", "bot_id": "BCAMCANARY"}

    def _post(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        ts = f"{int(time.time())}.{next(self._counter):06d}"
        message = {
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": params.get("blocks"),
            "thread_ts": params.get("thread_ts"),
            "metadata": params.get("metadata"),
        }
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages.get(params.get("channel", ""), []):
            if message["ts"] == params.get("ts"):
                message.update(text=params.get("text", ""), blocks=params.get("blocks"))
                return {"ok": True, "channel": params["channel"], "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        messages = [m for m in self.messages.get(params.get("channel", ""), [])]
        top = [m for m in messages if m["thread_ts"] is None]
        return {"ok": True, "messages": list(reversed(top)), "has_more": False}

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        messages = self.messages.get(params.get("channel", ""), [])
        thread = [m for m in messages if params.get("ts") in (m["ts"], m["thread_ts"])]
        return {"ok": True, "messages": thread, "has_more": False}
