"""Leaks first: a leak page and its kill-switch reply go out before any queued warning,
and the warnings of one window are one digest message per channel, not one per path.

The outage case is issue 15's: after a Slack outage in a full-matrix drill the leak page
came sixth, behind five availability warnings queued during the outage."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from alerts import digest, outbox
from alerts.blocks import text_message
from alerts.outbox import OutboxSender
from monitor.config import IncidentsConfig
from monitor.incidents import IncidentEngine
from monitor.killswitch import RecordKillSwitch
from monitor.verdict import Verdict
from testbed.fake_slack import FakeSlack, SlackCall
from tests import fleet
from tests.alerts.slack_helpers import (
    CANARIES,
    CHANNEL,
    clean,
    notifier,
    sender,
    slack_config,
)
from tests.fleet import T0, TRIP, leak, snapshot_paths

WARNED = ("app", "hub-live", "viewer", "thumbs", "voice")
PATHS = snapshot_paths(*WARNED, "hub", hub=TRIP)


def delivered(fake: FakeSlack) -> list[SlackCall]:
    return [c for c in fake.calls if c.ok and c.method == "chat.postMessage"]


def test_after_an_outage_the_leak_page_and_its_kill_switch_reply_go_before_the_warnings(
    sqlite_url: str,
) -> None:
    async def scenario() -> FakeSlack:
        async with FakeSlack(time_scale=300) as fake:  # 10 fake minutes = 2 real seconds
            store = fleet.open_store(sqlite_url, CANARIES, PATHS)
            try:
                eng = IncidentEngine(
                    store,
                    [],
                    RecordKillSwitch(),
                    PATHS,
                    slack=slack_config(fake),
                    incidents=IncidentsConfig(warning_window=4, warning_threshold=2),
                )
                out = sender(store, fake)
                runner = asyncio.create_task(out.run())
                real = fake.outage(600)
                began = time.monotonic()
                for path in WARNED:  # availability errors on five paths: five warnings
                    for _ in range(3):
                        await eng.handle(clean("3g", path=path, verdict=Verdict.ERROR))
                    await asyncio.sleep(real / 20)
                await eng.handle(leak())  # hub leaks; its policy trips the kill switch
                while out.pending() and time.monotonic() < began + real + 15:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                assert out.pending() == 0
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
                return fake
            finally:
                store.close()

    fake = asyncio.run(scenario())

    assert any(not c.ok for c in fake.calls)  # the outage was real
    first, second, *rest = delivered(fake)
    assert first.thread_ts is None
    assert "privacy leak on path hub" in (first.text or "")
    assert second.thread_ts == first.ts
    assert "kill switch `hub`" in (second.text or "")
    [digest_message] = [c for c in rest if c.thread_ts is None]
    text = digest_message.text or ""
    assert "5 warnings (not a leak)" in text
    assert all(f"`{path}`" in text for path in WARNED)


def test_a_leak_enqueued_while_warnings_go_out_is_sent_next(sqlite_url: str) -> None:
    async def scenario() -> list[SlackCall]:
        async with FakeSlack() as fake:
            store = fleet.open_store(sqlite_url, CANARIES, PATHS)
            try:
                now = outbox.utcnow()
                with store.engine.begin() as conn:
                    for n in range(8):
                        outbox.post(conn, CHANNEL, f"note:{n}", text_message(f"note {n}"), now)
                out = OutboxSender(store.engine, notifier(fake, pace_s=0.15), poll_s=0.05)
                runner = asyncio.create_task(out.run())
                while not delivered(fake):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                eng = IncidentEngine(store, [], RecordKillSwitch(), PATHS, slack=slack_config(fake))
                await eng.handle(leak(path="app"))
                out.wake()
                while out.pending():  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
                return delivered(fake)
            finally:
                store.close()

    posts = asyncio.run(scenario())

    assert len(posts) == 9
    order = [p.text or "" for p in posts]
    [page] = [n for n, text in enumerate(order) if "privacy leak on path app" in text]
    assert page <= 2, order


def _lines(store: fleet.Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(outbox.outbox.select().order_by(outbox.outbox.c.id)).all()
    return [(r.kind, r.status, r.payload["text"]) for r in rows]


def test_one_window_of_warnings_is_one_digest_and_a_path_is_told_once_per_window(
    sqlite_url: str,
) -> None:
    store = fleet.open_store(sqlite_url, CANARIES, PATHS)
    try:
        start, hour = T0, timedelta(hours=1)

        def warn(scope: str, text: str, at: timedelta = timedelta(0)) -> bool:
            with store.engine.begin() as conn:
                return digest.warn(conn, CHANNEL, scope, text, start + at, window=hour)

        assert warn("warning:app", "`app` is slow")
        assert not warn("warning:app", "`app` is slow again", timedelta(minutes=5))
        assert warn("warning:viewer", "`viewer` is stale", timedelta(minutes=6))
        [(kind, status, text)] = _lines(store)
        assert (kind, status) == (outbox.DIGEST, outbox.PENDING)
        assert text.startswith(":large_yellow_circle: 2 warnings (not a leak)")
        assert "`app` is slow\n" in text
        assert text.endswith("`viewer` is stale")

        with store.engine.begin() as conn:  # the digest goes out
            conn.execute(outbox.outbox.update().values(status=outbox.SENT))
        assert not warn("warning:viewer", "`viewer` is stale", timedelta(minutes=30))
        assert warn("warning:thumbs", "`thumbs` fails", timedelta(minutes=31))
        assert warn("warning:app", "`app` fails now", timedelta(hours=1, minutes=1))
        *_, (kind, status, text) = _lines(store)
        assert len(_lines(store)) == 2  # the pending digest took both
        assert status == outbox.PENDING
        assert text.count("`app`") == 1
        assert "`thumbs` fails" in text
    finally:
        store.close()
