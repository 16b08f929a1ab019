"""An incident's parent message ends in its newest state, whatever was in flight when
the state changed: an edit queued while the parent's first post was in flight (and then
failed) must not bring an older state back after the parent goes out."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from alerts import outbox
from alerts.blocks import text_message
from tests.alerts.slack_helpers import drain, engine, sender, slack_and_store
from tests.fleet import leak


def test_an_edit_queued_while_the_parent_was_in_flight_does_not_undo_a_newer_state(
    sqlite_url: str,
) -> None:
    async def scenario() -> list[str]:
        async with slack_and_store(sqlite_url) as (fake, store):
            fake.outage(0)
            await engine(store, fake).handle(leak(path="app"))
            parent = outbox.outbox.c.key == "incident:1:parent"

            def mark(status: str) -> None:
                with store.engine.begin() as conn:
                    conn.execute(outbox.outbox.update().where(parent).values(status=status))

            def edit(text: str) -> None:
                with store.engine.begin() as conn:
                    outbox.update_parent(conn, 1, text_message(text), outbox.utcnow())

            mark(outbox.SENDING)  # the parent's first post is in flight
            edit("state 2")  # so this edit is queued behind it
            mark(outbox.PENDING)  # the post failed: it goes again later
            edit("state 3")
            await drain(sender(store, fake))
            with store.engine.connect() as conn:
                kinds = conn.execute(sa.select(outbox.outbox.c.kind)).scalars().all()
            assert sorted(kinds) == ["parent", "update"]
            return [c.text or "" for c in fake.calls if c.ok]

    assert asyncio.run(scenario())[-1] == "state 3"
