"""Incidents to Slack through the durable outbox: the real slack-sdk client against the
fake Slack Web API on loopback, real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alerts.blocks import escape
from alerts.evidence import EvidenceVault
from alerts.outbox import UPDATE, OutboxSender, update_parent, utcnow
from alerts.tables import evidence, outbox
from monitor.config import IncidentsConfig
from monitor.verdict import Verdict
from testbed.fake_slack import FakeSlack
from tests.alerts.slack_helpers import (
    CHANNEL,
    EVIDENCE_KEY,
    HEALTH,
    Clock,
    clean,
    drain,
    engine,
    frame,
    leak,
    notifier,
    open_store,
    sender,
    slack_and_store,
)


def parent_texts(fake: FakeSlack) -> list[str]:
    return [c.text or "" for c in fake.posted(thread=False)]


def test_a_thousand_leak_hits_and_a_restart_post_one_parent_per_incident(
    sqlite_url: str,
) -> None:
    async def scenario() -> tuple[FakeSlack, int]:
        async with slack_and_store(sqlite_url) as (fake, store):
            first = engine(store, fake)
            out = sender(store, fake, pace_s=0.25)  # Slack's 1/s, compressed
            runner = asyncio.create_task(out.run())
            for n in range(1000):
                await first.handle(leak(seconds=n, canary=("nursery", "lobby")[n % 2]))
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await drain(out)
            # The service restarts: a new store, engine and sender on the same database.
            store = open_store(sqlite_url)
            try:
                second = engine(store, fake)
                for n in range(1000, 1010):
                    await second.handle(leak(seconds=n))
                await drain(sender(store, fake))
                [incident] = store.open_incidents()
                return fake, incident.hits
            finally:
                store.close()

    fake, hits = asyncio.run(scenario())

    assert hits == 1010
    [parent] = fake.posted(thread=False)
    assert parent.channel == CHANNEL
    assert "privacy leak on path hub: foreign_canary" in (parent.text or "")
    updates = fake.updates()
    assert updates, "later hits edit the parent"
    assert {u.ts for u in updates} == {parent.ts}
    assert len(updates) < 100  # paced: edits coalesce into the newest state
    last = json.dumps(updates[-1].blocks)
    assert "*Hits*\\n1010" in last
    assert "1,044 accounts use this integration" in last
    assert "https://camcanary.example/incidents/1" in last
    assert all(c.ok for c in fake.calls)


@pytest.mark.postgres
def test_one_parent_per_incident_across_a_restart_on_postgres(postgres_url: str) -> None:
    async def scenario() -> FakeSlack:
        async with FakeSlack() as fake:
            for run in range(2):
                store = open_store(postgres_url)
                try:
                    eng = engine(store, fake)
                    for n in range(50):
                        await eng.handle(leak(seconds=run * 100 + n))
                        await eng.handle(leak(Verdict.SPLICED, path="app", seconds=n))
                    await drain(sender(store, fake))
                finally:
                    store.close()
            return fake

    fake = asyncio.run(scenario())

    texts = sorted(parent_texts(fake))
    assert len(texts) == 2
    assert "[CRITICAL] privacy leak on path app: spliced" in texts[0]
    assert "[HIGH] privacy leak on path hub: foreign_canary" in texts[1]


def test_a_ten_minute_slack_outage_loses_nothing_and_posts_each_incident_once(
    sqlite_url: str,
) -> None:
    async def scenario() -> tuple[FakeSlack, float, float, float]:
        async with FakeSlack(time_scale=300) as fake:  # 10 fake minutes = 2 real seconds
            store = open_store(sqlite_url)
            try:
                eng = engine(store, fake)
                out = sender(store, fake)
                runner = asyncio.create_task(out.run())
                real = fake.outage(600)
                began = time.monotonic()
                for n in range(30):
                    await eng.handle(leak(seconds=n))
                    await eng.handle(leak(Verdict.FOREIGN, source=None, seconds=n))
                    await eng.handle(leak(Verdict.SPLICED, path="app", seconds=n))
                    await asyncio.sleep(real / 40)
                while out.pending() and time.monotonic() < began + real + 10:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                done = time.monotonic() - began
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
                assert out.pending() == 0
                return fake, real, began, done
            finally:
                store.close()

    fake, real, began, done = asyncio.run(scenario())

    failed = [c for c in fake.calls if not c.ok]
    assert failed
    assert {c.status for c in failed} == {503}
    assert done >= real  # nothing got through during the outage
    parents = fake.posted(thread=False)
    assert len(parents) == 3
    assert len({p.ts for p in parents}) == 3
    assert all(p.at >= began + real - 0.01 for p in parents)  # after the outage, not in it
    final = {}  # what each parent shows in the end
    for call in fake.calls:
        parent = call.method == "chat.postMessage" and call.thread_ts is None
        if call.ok and (parent or call.method == "chat.update"):
            final[call.ts] = json.dumps(call.blocks)
    assert len(final) == 3
    assert all("*Hits*\\n30" in blocks for blocks in final.values())


def test_a_429_retry_after_is_honoured(sqlite_url: str) -> None:
    async def scenario() -> FakeSlack:
        async with slack_and_store(sqlite_url) as (fake, store):
            fake.rate_limit_next(1, retry_after=1)
            await engine(store, fake).handle(leak(path="app"))
            await drain(sender(store, fake))
            return fake

    fake = asyncio.run(scenario())

    limited, posted = [c for c in fake.calls if c.method == "chat.postMessage"]
    assert (limited.status, posted.status) == (429, 200)
    assert posted.at - limited.at >= 1.0
    assert len(fake.posted(thread=False)) == 1


def test_a_post_slack_took_but_whose_answer_was_lost_is_not_posted_again(
    sqlite_url: str,
) -> None:
    async def scenario() -> FakeSlack:
        async with slack_and_store(sqlite_url) as (fake, store):
            fake.fail_next(1, status=500, store=True)  # posted, but the client sees 500
            fake.fail_next(2, status=503)  # and slack-sdk's own retries fail too
            await engine(store, fake).handle(leak(path="app"))
            await drain(sender(store, fake))
            [(ts,)] = store.engine.connect().execute(sa.select(outbox.c.ts)).all()
            assert ts == fake.messages[CHANNEL][0]["ts"]
            return fake

    fake = asyncio.run(scenario())

    assert len(fake.messages[CHANNEL]) == 1
    assert [c.method for c in fake.calls if c.ok] == ["conversations.history"]


def test_the_evidence_frame_never_reaches_slack_and_is_encrypted_at_rest(
    sqlite_url: str,
) -> None:
    picture = frame()
    vault = EvidenceVault(EVIDENCE_KEY, retention=timedelta(days=7))

    async def scenario() -> FakeSlack:
        async with slack_and_store(sqlite_url) as (fake, store):
            eng = engine(store, fake, vault=vault)
            for n in range(5):
                await eng.handle(leak(seconds=n, with_frame=picture))
            await drain(sender(store, fake))
            with store.engine.connect() as conn:
                rows = conn.execute(sa.select(evidence)).all()
                assert len(rows) == 3  # a few frames per incident, not every hit
                assert all(picture not in bytes(r.ciphertext) for r in rows)
                assert vault.open(conn, rows[0].id) == picture
            return fake

    fake = asyncio.run(scenario())

    sent = fake.raw_bodies()
    for form in (
        picture,
        picture[100:164],
        base64.b64encode(picture),
        base64.b64encode(picture[:600])[:400],
        picture.hex().encode(),
    ):
        assert form not in sent
    assert b"sha256" in sent  # what Slack may have: digests and the silhouette
    assert b"Silhouette" in sent
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    on_disk = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert picture[100:164] not in on_disk
    assert base64.b64encode(picture[:600])[:400] not in on_disk


@pytest.mark.parametrize(
    "database", ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]
)
def test_evidence_expires_after_retention_unless_an_open_incident_holds_it(
    request: pytest.FixtureRequest, database: str
) -> None:
    clock = Clock()
    vault = EvidenceVault(EVIDENCE_KEY, retention=timedelta(days=7))
    store = open_store(request.getfixturevalue(database))
    try:

        async def scenario() -> tuple[int, int, int]:
            async with FakeSlack() as fake:
                eng = engine(
                    store,
                    fake,
                    clock=clock,
                    vault=vault,
                    incidents=IncidentsConfig(resolve_after_rounds=1),
                )
                await eng.handle(leak(with_frame=frame()))
                clock.advance(days=8)
                held = eng.purge_evidence()  # expired, but the incident is open
                for profile in ("good", "3g"):
                    await eng.handle(clean(profile))
                assert store.open_incidents() == []
                gone = eng.purge_evidence()
                with store.engine.connect() as conn:
                    left = conn.execute(sa.select(sa.func.count()).select_from(evidence))
                    return held, gone, int(left.scalar_one())

        held, gone, left = asyncio.run(scenario())
    finally:
        store.close()

    assert (held, gone, left) == (0, 1, 0)


def test_an_incident_resolves_only_after_k_clean_rounds_across_all_profiles(
    sqlite_url: str,
) -> None:
    async def scenario() -> tuple[FakeSlack, list[int]]:
        async with slack_and_store(sqlite_url) as (fake, store):
            eng = engine(store, fake)
            out = sender(store, fake)
            await eng.handle(leak(path="app"))
            open_after = []
            for _round in range(3):
                for _ in range(4):  # one profile alone is not a round
                    await eng.handle(clean("good", path="app"))
                await eng.handle(clean("3g", path="app", verdict=Verdict.DEGRADED))
                open_after.append(len(store.open_incidents()))
                await drain(out)
            return fake, open_after

    fake, open_after = asyncio.run(scenario())

    assert open_after == [1, 1, 0]
    [parent] = fake.posted(thread=False)
    [resolved] = fake.posted(thread=True)
    assert resolved.thread_ts == parent.ts
    assert "resolved: 3 clean rounds across 3g, good on `app`" in (resolved.text or "")
    final = fake.updates()[-1]
    assert final.ts == parent.ts
    assert (final.text or "").startswith("[RESOLVED]")
    assert '"type": "actions"' not in json.dumps(final.blocks)  # no buttons when resolved


def test_a_leak_during_the_clean_rounds_starts_them_again(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:

        async def scenario() -> int:
            async with FakeSlack() as fake:
                eng = engine(store, fake)
                await eng.handle(leak())
                for _ in range(2):
                    await eng.handle(clean("good"))
                    await eng.handle(clean("3g"))
                await eng.handle(leak(seconds=60))
                for _ in range(2):
                    await eng.handle(clean("good"))
                    await eng.handle(clean("3g"))
                return len(store.open_incidents())

        assert asyncio.run(scenario()) == 1
    finally:
        store.close()


def test_unacknowledged_leaks_are_renotified_in_the_thread_until_acknowledged(
    sqlite_url: str,
) -> None:
    clock = Clock()

    async def scenario() -> tuple[FakeSlack, list[int]]:
        async with slack_and_store(sqlite_url) as (fake, store):
            eng = engine(store, fake, clock=clock)
            out = sender(store, fake, clock)
            await eng.handle(leak(path="app"))
            await drain(out)
            counts = [eng.renotify_due()]  # not due yet
            clock.advance(minutes=14)
            counts.append(eng.renotify_due())
            clock.advance(minutes=2)
            counts.append(eng.renotify_due())
            counts.append(eng.renotify_due())  # once per interval
            clock.advance(minutes=15)
            counts.append(eng.renotify_due())
            assert eng.acknowledge(1, "UONCALL1")
            assert not eng.acknowledge(1, "UONCALL2")
            clock.advance(minutes=60)
            counts.append(eng.renotify_due())
            await drain(out)
            return fake, counts

    fake, counts = asyncio.run(scenario())

    assert counts == [0, 0, 1, 0, 1, 0]
    replies = [c.text or "" for c in fake.posted(thread=True)]
    assert [r.split(":")[1] for r in replies] == ["rotating_light", "rotating_light", "eyes"]
    assert "acknowledged by <@UONCALL1>" in replies[-1]
    assert "<@UONCALL1>" in json.dumps(fake.updates()[-1].blocks)


def test_warnings_are_counted_over_a_window_and_never_page(sqlite_url: str) -> None:
    async def scenario() -> FakeSlack:
        async with slack_and_store(sqlite_url) as (fake, store):
            config = IncidentsConfig(warning_window=10, warning_threshold=4)
            eng = engine(store, fake, incidents=config)
            for n in range(20):
                verdict = Verdict.OWN_STALE if n % 2 else Verdict.OWN
                await eng.handle(clean("good", verdict=verdict))
            await drain(sender(store, fake))
            return fake

    fake = asyncio.run(scenario())

    [warning] = fake.posted()
    assert warning.channel == CHANNEL
    assert warning.thread_ts is None
    assert "warning (not a leak): `hub` returned 4 of the last 8 probes" in (warning.text or "")
    assert "privacy leak" not in (warning.text or "")


def test_probe_side_failures_go_to_the_probe_health_channel_and_leaks_still_page(
    sqlite_url: str,
) -> None:
    async def scenario() -> FakeSlack:
        async with slack_and_store(sqlite_url) as (fake, store):
            eng = engine(store, fake)
            for _ in range(10):
                failed = clean("3g", verdict=Verdict.ERROR)
                await eng.handle(
                    type(failed)(
                        **{
                            **failed.__dict__,
                            "detail": "proxy error: EADDRINUSE",
                            "prober_fault": True,
                        }
                    )
                )
            await eng.handle(leak())
            await drain(sender(store, fake))
            return fake

    fake = asyncio.run(scenario())

    by_channel = {c.channel: c for c in fake.posted(thread=False)}
    assert set(by_channel) == {HEALTH, CHANNEL}
    assert "inconclusive probe on `hub/3g`" in (by_channel[HEALTH].text or "")
    assert len([c for c in fake.posted() if c.channel == HEALTH]) == 1
    assert "privacy leak on path hub" in (by_channel[CHANNEL].text or "")


def test_an_edit_replaced_while_the_sender_picks_it_up_is_sent_as_the_newest_state(
    sqlite_url: str,
) -> None:
    # The sender selects due rows, then claims each. A new state replacing a pending
    # edit in between (the engine recording another hit) must be the one Slack gets:
    # the claimed row is sent with its payload as of the claim, or the newest state
    # would be marked sent without ever reaching Slack.
    async def scenario() -> tuple[list[str], int]:
        async with slack_and_store(sqlite_url) as (fake, store):
            eng = engine(store, fake)
            await eng.handle(leak(seconds=0))
            await sender(store, fake).deliver_due()  # the parent is posted
            await eng.handle(leak(seconds=1))  # an edit of the parent is pending

            class Racing(OutboxSender):
                def _claim(self, row: Any) -> dict[str, Any] | None:
                    if row.kind == UPDATE:  # a newer state lands first
                        newer = {**row.payload, "text": "the newest state"}
                        with store.engine.begin() as conn:
                            update_parent(conn, row.incident_id, newer, utcnow())
                    return super()._claim(row)

            racing = Racing(store.engine, notifier(fake))
            await racing.deliver_due()
            edits = [c.text or "" for c in fake.calls if c.method == "chat.update"]
            return edits, racing.pending()

    edits, pending = asyncio.run(scenario())

    assert edits == ["the newest state"]
    assert pending == 0


def test_a_cloud_supplied_detail_reaches_slack_escaped(sqlite_url: str) -> None:
    # A probe's detail can quote what the remote cloud answered: never a ping or a link.
    async def scenario() -> FakeSlack:
        async with slack_and_store(sqlite_url) as (fake, store):
            failed = clean("3g", verdict=Verdict.ERROR)
            hostile = {
                "detail": "HTTP 502: <!channel> <https://evil.example|ok>",
                "prober_fault": True,
            }
            await engine(store, fake).handle(type(failed)(**{**failed.__dict__, **hostile}))
            await drain(sender(store, fake))
            return fake

    [note] = asyncio.run(scenario()).posted(thread=False)

    assert "(nursery): HTTP 502: &lt;!channel&gt; &lt;https://evil.example|ok&gt;." in (
        note.text or ""
    )
    assert "<!channel>" not in json.dumps(note.blocks)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("a & b > c", "a &amp; b &gt; c"),
        ("&lt; already", "&amp;lt; already"),  # shown as typed, not decoded
        ("*bold* `code`", "*bold* `code`"),  # only the three control characters
    ],
)
def test_escape_replaces_only_slacks_three_control_characters(typed: str, shown: str) -> None:
    assert escape(typed) == shown
