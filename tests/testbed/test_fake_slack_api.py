"""The fake Slack Web API as the real slack-sdk client sees it, and how SlackNotifier
maps its answers (ok:false, 5xx, bad token) to retryable or permanent errors."""

from __future__ import annotations

import asyncio

import pytest

from alerts import NotifierError
from alerts.slack import SlackNotifier
from testbed.fake_slack import FakeSlack


def test_posts_updates_and_lookups_round_trip_through_slack_sdk() -> None:
    async def scenario() -> tuple[FakeSlack, str, str | None, str | None, str]:
        async with FakeSlack() as fake:
            slack = SlackNotifier(fake.token, channel="C1", base_url=fake.url, min_interval_s=0)
            bot = await slack.check()
            ts = await slack.post("C1", {"text": "parent"}, key="k-parent")
            await slack.post("C1", {"text": "reply"}, key="k-reply", thread_ts=ts)
            await slack.update("C1", ts, {"text": "parent, edited"})
            found = await slack.find("C1", "k-parent")
            reply = await slack.find("C1", "k-reply", thread_ts=ts)
            return fake, ts, found, reply, bot

    fake, ts, found, reply, bot = asyncio.run(scenario())

    assert bot == "UCAMCANARY"
    assert found == ts
    assert reply is not None
    assert reply != ts
    assert [m["text"] for m in fake.messages["C1"]] == ["parent, edited", "reply"]
    assert [c.method for c in fake.calls] == [
        "auth.test",
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "conversations.history",
        "conversations.replies",
    ]
    assert b'"key": "k-parent"' in fake.calls[1].body  # the idempotency key rides along


@pytest.mark.parametrize(
    ("inject", "retryable", "message"),
    [
        ({"status": 200, "error": "channel_not_found"}, False, "HTTP 200 channel_not_found"),
        ({"status": 200, "error": "fatal_error"}, True, "HTTP 200 fatal_error"),
        ({"status": 500, "error": "internal_error"}, True, "HTTP 500"),
    ],
)
def test_failures_are_mapped_to_retryable_or_permanent(
    inject: dict[str, object], retryable: bool, message: str
) -> None:
    async def scenario() -> tuple[NotifierError, int]:
        async with FakeSlack() as fake:
            count = int(str(inject.pop("count", 1)))
            fake.fail_next(count, **inject)  # type: ignore[arg-type]
            slack = SlackNotifier(fake.token, channel="C1", base_url=fake.url, min_interval_s=0)
            with pytest.raises(NotifierError) as caught:
                await slack.post("C1", {"text": "x"}, key="k")
            return caught.value, len(fake.calls)

    error, calls = asyncio.run(scenario())

    assert error.retryable is retryable
    assert message in str(error)
    # Never retried inside the call, a 5xx included: Slack may have taken the post, and
    # the outbox retries it after looking it up by its key (alerts.slack).
    assert calls == 1


def test_a_wrong_token_is_a_permanent_error() -> None:
    async def scenario() -> NotifierError:
        async with FakeSlack() as fake:
            slack = SlackNotifier("xoxb-wrong", channel="C1", base_url=fake.url, min_interval_s=0)
            with pytest.raises(NotifierError) as caught:
                await slack.post("C1", {"text": "x"}, key="k")
            return caught.value

    error = asyncio.run(scenario())

    assert error.retryable is False
    assert "invalid_auth" in str(error)
