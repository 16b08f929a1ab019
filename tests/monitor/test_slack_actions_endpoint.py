"""The Slack interactivity endpoint on a real aiohttp server: signatures, on-call only,
one action per press, and what each button does (thread replies via the fake Slack)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from alerts.blocks import ACK, APPROVE, REENABLE, SILENCE, TRIP
from monitor.config import IncidentsConfig
from monitor.errors import CamcanaryError
from monitor.incidents import IncidentEngine
from monitor.killswitch import RecordKillSwitch
from monitor.killswitch.machine import KillSwitchService
from monitor.store import Store
from monitor.store.accounts import Accounts
from monitor.verdict import Verdict
from monitor.web import WebServer, create_app
from monitor.web.context import WebContext
from monitor.web.slack_actions import SlackActions
from testbed.fake_slack import FakeSlack
from tests.alerts.slack_helpers import (
    ONCALL,
    PATHS,
    SIGNING_SECRET,
    clean,
    drain,
    leak,
    open_store,
    sender,
    slack_config,
)


def sign(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def press(action: str, user: str, *, incident: int = 1, path: str = "hub", ts: str = "1") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [
            {
                "action_id": action,
                "value": json.dumps({"incident": incident, "path": path}),
                "action_ts": ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


@dataclass
class Rig:
    store: Store
    fake: FakeSlack
    engine: IncidentEngine
    switches: KillSwitchService
    actions: SlackActions
    url: str
    http: aiohttp.ClientSession

    async def post(
        self, body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
    ) -> tuple[int, float]:
        stamp = int(time.time()) if timestamp is None else timestamp
        began = time.monotonic()
        async with self.http.post(
            self.url + "/slack/actions",
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": str(stamp),
                "X-Slack-Signature": sign(body, stamp, secret),
            },
        ) as response:
            await response.read()
            return response.status, time.monotonic() - began

    async def send(self, body: bytes, headers: dict[str, str]) -> int:
        """POST exactly these headers (and the form content type), no signing."""
        async with self.http.post(
            self.url + "/slack/actions",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        ) as response:
            await response.read()
            return response.status

    async def settle(self) -> None:
        await self.actions.drain()
        await drain(sender(self.store, self.fake))

    def replies(self) -> list[str]:
        return [c.text or "" for c in self.fake.posted(thread=True)]


@contextlib.asynccontextmanager
async def rig(url: str, **incidents: Any) -> AsyncIterator[Rig]:
    store = open_store(url)
    try:
        async with FakeSlack() as fake:
            switches = KillSwitchService(store, RecordKillSwitch(), PATHS)
            engine = IncidentEngine(
                store,
                [],
                RecordKillSwitch(),
                PATHS,
                kill_switches=switches,
                slack=slack_config(fake),
                incidents=IncidentsConfig(**incidents),
            )
            actions = SlackActions(engine, switches, signing_secret=SIGNING_SECRET, oncall=ONCALL)
            async with (
                WebServer(
                    create_app(WebContext(store, switches, engine=engine), actions), port=0
                ) as server,
                aiohttp.ClientSession() as http,
            ):
                yield Rig(store, fake, engine, switches, actions, server.url, http)
    finally:
        store.close()


def test_a_signed_acknowledge_is_answered_at_once_and_stops_reminders(sqlite_url: str) -> None:
    async def scenario() -> tuple[int, float, list[str], int]:
        async with rig(sqlite_url) as r:
            await r.engine.handle(leak(path="app"))
            status, took = await r.post(press(ACK, "USOMEONE", path="app"))
            await r.settle()
            return status, took, r.replies(), r.engine.renotify_due()

    status, took, replies, reminded = asyncio.run(scenario())

    assert status == 200
    assert took < 3.0  # Slack's deadline for the acknowledgement
    assert replies == [":eyes: acknowledged by <@USOMEONE>; reminders stop."]
    assert reminded == 0


@pytest.mark.parametrize(
    ("case", "timestamp", "secret"),
    [
        ("forged", 0, "not the signing secret"),
        ("replayed six minutes later", -360, SIGNING_SECRET),
    ],
)
def test_forged_or_old_requests_are_rejected_and_do_nothing(
    sqlite_url: str, case: str, timestamp: int, secret: str
) -> None:
    async def scenario() -> tuple[int, list[str], str]:
        async with rig(sqlite_url) as r:
            await r.engine.handle(leak(path="app"))
            status, _ = await r.post(
                press(TRIP, ONCALL[0], path="app"),
                timestamp=int(time.time()) + timestamp,
                secret=secret,
            )
            await r.settle()
            return status, r.replies(), r.switches.state("app")

    status, replies, state = asyncio.run(scenario())

    assert status == 401, case
    assert replies == []
    assert state == "armed"


def test_a_tampered_body_fails_the_signature(sqlite_url: str) -> None:
    async def scenario() -> int:
        async with rig(sqlite_url) as r:
            body = press(TRIP, ONCALL[0], path="app")
            stamp = int(time.time())
            async with r.http.post(
                r.url + "/slack/actions",
                data=body.replace(b"app", b"hub"),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": str(stamp),
                    "X-Slack-Signature": sign(body, stamp),
                },
            ) as response:
                return response.status

    assert asyncio.run(scenario()) == 401


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    ("case", "timestamp"),
    [
        ("missing", None),
        ("empty", ""),
        ("not a number", "soon"),
        ("a float", "1700000000.5"),
        ("an exponent", "1.7e9"),
        ("more digits than int() reads", "9" * 5000),
    ],
)
def test_a_missing_or_malformed_timestamp_is_401_not_a_crash(
    sqlite_url: str, case: str, timestamp: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[int, str]:
        async with rig(sqlite_url) as r:
            await r.engine.handle(leak(path="app"))
            body = press(TRIP, ONCALL[0], path="app")
            headers = {"X-Slack-Signature": sign(body, int(time.time()))}
            if timestamp is not None:
                headers["X-Slack-Request-Timestamp"] = timestamp
            status = await r.send(body, headers)
            await r.settle()
            return status, r.switches.state("app")

    status, state = asyncio.run(scenario())

    assert status == 401, case
    assert state == "armed"
    assert _errors(caplog) == []


def test_a_body_that_is_not_utf8_is_401_not_a_crash(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[int, int]:
        async with rig(sqlite_url) as r:
            body = b"payload=\xff\xfe&" + press(TRIP, ONCALL[0], path="app")
            stamp = int(time.time())
            headers = {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": "v0=00"}
            unsigned = await r.send(body, headers)
            # signed with the right secret, too: Slack's bodies are URL-encoded ASCII,
            # so one that does not decode is refused whoever signed it
            signed, _ = await r.post(body, timestamp=stamp)
            return unsigned, signed

    assert asyncio.run(scenario()) == (401, 401)
    assert _errors(caplog) == []


def test_a_signed_payload_nested_too_deep_is_ignored_not_a_crash(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[int, list[str]]:
        async with rig(sqlite_url) as r:
            body = urlencode({"payload": "[" * 20_000}).encode()
            status, _ = await r.post(body)
            await r.settle()
            return status, r.replies()

    status, replies = asyncio.run(scenario())

    assert status == 200  # acknowledged and ignored, as any payload that is not our button
    assert replies == []
    assert _errors(caplog) == []


def test_only_on_call_users_may_trip_and_a_retried_press_acts_once(sqlite_url: str) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with rig(sqlite_url) as r:
            await r.engine.handle(leak(path="app"))
            await r.post(press(TRIP, "UINTRUDER", path="app"))
            await r.settle()
            states = [r.switches.state("app")]
            for _ in range(3):  # Slack retries the same press
                await r.post(press(TRIP, ONCALL[0], path="app", ts="42.1"))
            await r.settle()
            states.append(r.switches.state("app"))
            return states, r.replies()

    states, replies = asyncio.run(scenario())

    assert states == ["armed", "tripped"]
    assert len(replies) == 2
    assert "<@UINTRUDER> is not on the on-call list and cannot trip" in replies[0]
    assert "kill switch `app` went armed → *tripped* (by <@UONCALL1>)" in replies[1]


def test_re_enable_needs_a_second_on_call_engineer(sqlite_url: str) -> None:
    async def scenario() -> tuple[list[str], list[str], Any]:
        async with rig(sqlite_url) as r:
            await r.engine.handle(leak())  # hub trips by policy
            states = [r.switches.state("hub")]
            await r.post(press(REENABLE, ONCALL[0], ts="1"))
            await r.settle()
            await r.post(press(APPROVE, ONCALL[0], ts="2"))  # the requester cannot
            await r.settle()
            states.append(r.switches.state("hub"))
            await r.post(press(APPROVE, ONCALL[1], ts="3"))
            await r.settle()
            states.append(r.switches.state("hub"))
            approve_blocks = r.fake.posted(thread=True)[1].blocks
            return states, r.replies(), approve_blocks

    states, replies, blocks = asyncio.run(scenario())

    assert states == ["tripped", "tripped", "verifying"]
    assert "went armed → *tripped* (by policy)" in replies[0]
    assert "<@UONCALL1> asks to re-enable `hub`" in replies[1]
    assert APPROVE in json.dumps(blocks)
    assert "approve by <@UONCALL1> on `hub` was refused" in replies[2]
    assert "went tripped → *verifying* (by <@UONCALL2>)" in replies[3]


def test_silence_warnings_for_an_hour_keeps_warnings_out_of_the_channel(
    sqlite_url: str,
) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with rig(sqlite_url, warning_window=4, warning_threshold=2) as r:
            await r.engine.handle(leak(Verdict.SPLICED, path="app"))
            await r.post(press(SILENCE, "USOMEONE", path="app"))
            await r.settle()
            for _ in range(6):
                await r.engine.handle(clean("good", path="app", verdict=Verdict.OWN_STALE))
            await r.settle()
            parents = [c.text or "" for c in r.fake.posted(thread=False)]
            return parents, r.replies()

    parents, replies = asyncio.run(scenario())

    assert len(parents) == 1  # the leak; no warning while silenced
    assert "privacy leak on path app" in parents[0]
    assert "warnings on `app` silenced by <@USOMEONE>" in replies[0]


def test_a_trip_through_the_json_api_is_announced_in_the_incident_thread(
    sqlite_url: str,
) -> None:
    # On-call learns of a change made by a script or a person with curl as of one made
    # from Slack or the dashboard: a reply in the path's open incident thread.
    async def scenario() -> tuple[int, str, list[str]]:
        async with rig(sqlite_url) as r:
            token = Accounts(r.store.engine).add_user("olga", "operator", datetime.now(UTC))
            await r.engine.handle(leak(path="app"))
            async with r.http.post(
                r.url + "/api/v1/killswitches/app/trip",
                json={"reason": "contain incident 1"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                status, body = response.status, await response.json()
            await r.settle()
            return status, body["to_state"], r.replies()

    status, state, replies = asyncio.run(scenario())

    assert (status, state) == (200, "tripped")
    assert replies == [
        ":rotating_light: kill switch `app` went armed → *tripped* (by olga): contain incident 1"
    ]


def test_a_reason_typed_into_the_api_reaches_the_thread_escaped(sqlite_url: str) -> None:
    # Slack parses <, > and & in mrkdwn: typed text must not ping @channel or show a
    # link whose label lies about where it goes.
    async def scenario() -> list[Any]:
        async with rig(sqlite_url) as r:
            token = Accounts(r.store.engine).add_user("olga", "operator", datetime.now(UTC))
            await r.engine.handle(leak(path="app"))
            async with r.http.post(
                r.url + "/api/v1/killswitches/app/trip",
                json={"reason": "<!channel> see <https://evil.example|https://status.example>"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == 200, await response.text()
            await r.settle()
            return r.fake.posted(thread=True)

    [reply] = asyncio.run(scenario())

    assert reply.text == (
        ":rotating_light: kill switch `app` went armed → *tripped* (by olga): "
        "&lt;!channel&gt; see &lt;https://evil.example|https://status.example&gt;"
    )
    blocks = json.dumps(reply.blocks)
    assert "<!channel>" not in blocks
    assert "<https://evil" not in blocks
    assert "&lt;!channel&gt;" in blocks


def test_a_refusal_quotes_the_error_escaped(sqlite_url: str) -> None:
    async def scenario() -> list[str]:
        async with rig(sqlite_url) as r:
            await r.engine.handle(leak(path="app"))

            async def refuse(*_args: Any, **_kwargs: Any) -> Any:
                raise CamcanaryError("backend said <!here> <https://evil.example|retry>")

            r.switches.trip = refuse  # type: ignore[method-assign]
            await r.post(press(TRIP, ONCALL[0], path="app"))
            await r.settle()
            return r.replies()

    [reply] = asyncio.run(scenario())

    assert reply.endswith(
        "was refused: backend said &lt;!here&gt; &lt;https://evil.example|retry&gt;"
    )


def test_a_reason_typed_into_the_dashboard_form_reaches_the_thread_escaped(
    sqlite_url: str,
) -> None:
    async def scenario() -> str:
        async with (
            rig(sqlite_url) as r,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
        ):
            token = Accounts(r.store.engine).add_user("olga", "operator", datetime.now(UTC))
            await r.engine.handle(leak(path="app"))

            async def form(action: str, **fields: str) -> int:
                async with browser.get(r.url + "/login/csrf") as response:
                    csrf = (await response.json())["csrf_token"]
                data = {"csrf_token": csrf, **fields}
                async with browser.post(r.url + action, data=data, allow_redirects=False) as sent:
                    return sent.status

            assert await form("/login", name="olga", token=token, next="/") == 302
            reason = "<!here> <https://evil.example|status page>"
            assert await form("/paths/app/killswitch/trip", reason=reason) == 303
            await r.settle()
            [reply] = r.replies()
            return reply

    assert asyncio.run(scenario()).endswith(
        "(by olga): &lt;!here&gt; &lt;https://evil.example|status page&gt;"
    )
