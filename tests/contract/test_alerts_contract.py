"""The alert transports' contract: every way an alert leaves camcanary delivers it.

- every ``NOTIFIERS`` kind (a config's ``alerts:`` list), built by `build_notifier`,
  delivers an `Alert` through ``send``; ``console`` to a captured stderr;
- Slack, which is not a ``NOTIFIERS`` kind: it is configured by the ``slack:``
  section, and an incident reaches it as a message queued in the durable outbox and
  delivered by `OutboxSender` through ``SlackNotifier`` (the outbox's transport), here
  to `testbed.fake_slack` through the real slack-sdk client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from alerts import NOTIFIERS, Alert, AlertKind, SlackNotifier, build_notifier
from alerts.blocks import IncidentView, incident_message
from alerts.outbox import OutboxSender, post
from monitor.store import Store
from testbed.fake_slack import FakeSlack

CHANNEL = "C0CONTRACT"
SEEN = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
ALERT = Alert(
    kind=AlertKind.INCIDENT_OPENED,
    incident_id=42,
    path="hub",
    verdict="foreign_canary",
    canary="nursery",
    source="lobby",
    profile="3g",
    hits=3,
    first_seen=SEEN,
    last_seen=SEEN,
    kill_switch="tripped",
)


def console_delivery(capsys: pytest.CaptureFixture[str], sqlite_url: str) -> str:
    asyncio.run(build_notifier("console").send(ALERT))
    return capsys.readouterr().err


def slack_delivery(capsys: pytest.CaptureFixture[str], sqlite_url: str) -> str:
    """The incident's message through the outbox to Slack; what Slack then holds."""
    view = IncidentView(
        id=ALERT.incident_id,
        path=ALERT.path,
        kind=ALERT.verdict,
        status="open",
        hits=ALERT.hits,
        canaries=(ALERT.canary,),
        sources=(ALERT.source or "",),
        profiles=(ALERT.profile,),
        first_seen=ALERT.first_seen,
        last_seen=ALERT.last_seen,
        kill_switch=ALERT.kill_switch,
        url="https://camcanary.example/incidents/42",
    )
    key = f"contract:{ALERT.incident_id}"
    store = Store(sqlite_url)
    store.migrate()

    async def go(fake: FakeSlack) -> str | None:
        slack = SlackNotifier(fake.token, channel=CHANNEL, base_url=fake.url, min_interval_s=0)
        with store.engine.begin() as conn:
            assert post(conn, CHANNEL, key, incident_message(view), SEEN)
        sender = OutboxSender(store.engine, slack)
        assert await sender.deliver_due() == 1
        assert sender.pending() == 0
        return await slack.find(CHANNEL, key)  # the idempotency lookup finds it again

    async def scenario() -> tuple[FakeSlack, str | None]:
        async with FakeSlack() as fake:
            return fake, await go(fake)

    try:
        fake, found = asyncio.run(scenario())
    finally:
        store.close()
    [message] = fake.messages[CHANNEL]
    assert found == message["ts"]
    return str(message["text"])


# Slack's entry is the outbox transport, the others the NOTIFIERS kinds.
DELIVERIES: dict[str, Callable[[pytest.CaptureFixture[str], str], str]] = {
    "console": console_delivery,
    "slack": slack_delivery,
}


def test_the_suite_covers_every_registered_notifier_and_the_slack_transport() -> None:
    assert "slack" not in NOTIFIERS, "Slack delivers through the outbox, not as a notifier"
    assert set(DELIVERIES) == set(NOTIFIERS) | {"slack"}


def test_an_unknown_notifier_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown alert kind 'pager'") as error:
        build_notifier("pager")
    for kind in NOTIFIERS:
        assert kind in str(error.value)


@pytest.mark.parametrize("kind", sorted(DELIVERIES))
def test_every_transport_delivers_an_alert(
    kind: str, capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    delivered = DELIVERIES[kind](capsys, sqlite_url)

    assert f"path {ALERT.path}" in delivered
    assert ALERT.verdict in delivered
    assert f"#{ALERT.incident_id}" in delivered
