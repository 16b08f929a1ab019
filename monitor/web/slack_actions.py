"""Slack interactivity: the incident message's buttons, ``POST /slack/actions``.

Every request is checked against Slack's signature (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}`` with the signing secret; older than 5 minutes is a replay),
acknowledged at once (Slack wants an answer within 3 s) and acted on in a task.
Each press is handled once (its action_ts is recorded), only on-call users may trip,
request a re-enable or approve one (anyone may acknowledge or silence), and every
outcome is a reply in the thread.
https://api.slack.com/authentication/verifying-requests-from-slack
https://api.slack.com/interactivity/handling#acknowledgment_response
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from aiohttp import web
from slack_sdk.signature import Clock, SignatureVerifier

from alerts.blocks import ACK, APPROVE, REENABLE, SILENCE, TRIP, escape
from monitor.errors import CamcanaryError
from monitor.incidents import IncidentEngine
from monitor.killswitch.machine import KillSwitchService
from monitor.store.incidents import first_press

log = logging.getLogger(__name__)
MAX_BODY_BYTES: Final = 64 * 1024
# Acknowledge and Silence are open to anyone in the channel, on purpose: neither touches
# the kill switch or stops a leak from paging, and both are announced with the presser's
# name. Reasons and accepted risk: docs/service.md, "Slack".
ONCALL_ONLY: Final = frozenset({TRIP, REENABLE, APPROVE})


@dataclass(frozen=True)
class Press:
    """One button press, as Slack sent it."""

    action: str
    user: str
    incident_id: int
    path: str
    action_ts: str

    @property
    def key(self) -> str:
        return f"{self.action}:{self.incident_id}:{self.user}:{self.action_ts}"[:200]


class SlackActions:
    def __init__(
        self,
        engine: IncidentEngine,
        kill_switches: KillSwitchService,
        *,
        signing_secret: str,
        oncall: Collection[str],
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._kill_switches = kill_switches
        self._verifier = SignatureVerifier(signing_secret, clock=clock or Clock())
        self._oncall = frozenset(oncall)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        if not self._signed(body, request.headers):
            log.warning("rejected a Slack action with a bad or stale signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        press = _parse(body)
        if press is None:
            return web.Response(status=200)  # not a button we know: acknowledge, ignore
        task = asyncio.create_task(self._act(press), name=f"slack-action-{press.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=200)

    def _signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        # SignatureVerifier int()s the timestamp and UTF-8-decodes the body before it
        # compares anything, so a malformed request would be a 500: refuse those here.
        # Unix seconds, ASCII digits only (int() takes " 1_7", Arabic-Indic digits, and
        # refuses over 4300 digits).
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return False  # Slack's bodies are URL-encoded, hence ASCII
        return self._verifier.is_valid(text, timestamp, headers.get("X-Slack-Signature", ""))

    async def drain(self) -> None:
        """Wait for the actions in flight (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _act(self, press: Press) -> None:
        try:
            if not await asyncio.to_thread(self._first_time, press):
                return  # Slack retried, or the press was already handled
            await self._dispatch(press)
        except Exception:  # one bad press must not take the endpoint down
            log.exception("Slack action %s failed", press.key)

    async def _dispatch(self, press: Press) -> None:
        engine, who = self._engine, f"<@{press.user}>"
        reason = f"from Slack, incident #{press.incident_id}"
        if press.action in ONCALL_ONLY and press.user not in self._oncall:
            engine.reply(
                press.incident_id,
                f"denied:{press.key}",
                f":no_entry: {who} is not on the on-call list and cannot {press.action} "
                f"the kill switch of `{press.path}`.",
            )
            return
        try:
            if press.action == ACK:
                engine.acknowledge(press.incident_id, press.user)
            elif press.action == SILENCE:
                until = engine.silence_warnings(press.path, press.user)
                engine.reply(
                    press.incident_id,
                    f"silence:{press.key}",
                    f":zipper_mouth_face: warnings on `{press.path}` silenced by {who} "
                    f"until {until:%H:%M} UTC (leaks still page).",
                )
            elif press.action == TRIP:
                transition = await self._kill_switches.trip(
                    press.path, actor=press.user, reason=reason, incident_id=press.incident_id
                )
                engine.announce(transition, press.incident_id)
            elif press.action == REENABLE:
                await self._kill_switches.request_reenable(
                    press.path, actor=press.user, reason=reason
                )
                engine.reply(
                    press.incident_id,
                    f"reenable:{press.key}",
                    f":arrows_counterclockwise: {who} asks to re-enable `{press.path}` for "
                    "canary accounts (verifying); a second on-call engineer must approve.",
                    approve_path=press.path,
                )
            elif press.action == APPROVE:
                transition = await self._kill_switches.approve(press.path, actor=press.user)
                engine.announce(transition, press.incident_id)
        except CamcanaryError as exc:  # refused transition, backend down: say so
            error = escape(str(exc))  # may quote a backend's answer
            engine.reply(
                press.incident_id,
                f"refused:{press.key}",
                f":warning: {press.action} by {who} on `{press.path}` was refused: {error}",
            )

    def _first_time(self, press: Press) -> bool:
        now = datetime.now(UTC)
        return first_press(self._engine.store, press.key, press.action, press.user, now)


def _parse(body: bytes) -> Press | None:
    try:
        form = parse_qs(body.decode(), strict_parsing=False)
        payload: dict[str, Any] = json.loads(form["payload"][0])
        action = payload["actions"][0]
        value = json.loads(action["value"])
        return Press(
            action=str(action["action_id"]),
            user=str(payload["user"]["id"]),
            incident_id=int(value["incident"]),
            path=str(value["path"]),
            action_ts=str(action.get("action_ts", "")),
        )
    except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError, RecursionError):
        log.warning("ignored a Slack interaction that is not one of our buttons")
        return None


def install_slack_routes(app: web.Application, actions: SlackActions) -> None:
    """Register ``POST /slack/actions`` (and wait for actions in flight on cleanup)."""
    app.router.add_post("/slack/actions", actions.handle)

    async def drain(_app: web.Application) -> None:
        await actions.drain()

    app.on_cleanup.append(drain)
