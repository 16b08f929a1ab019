"""The outbox sender can be woken from any thread: the incident engine enqueues from
worker threads, and a message must then go out at once, not at the next poll."""

from __future__ import annotations

import asyncio
import threading
import time

from alerts import outbox
from alerts.blocks import text_message
from alerts.outbox import OutboxSender
from testbed.fake_slack import FakeSlack
from tests.alerts.slack_helpers import CHANNEL, notifier, open_store


def test_a_wake_from_a_worker_thread_delivers_now_not_at_the_next_poll(sqlite_url: str) -> None:
    store = open_store(sqlite_url)

    async def scenario() -> float:
        async with FakeSlack() as fake:
            sender = OutboxSender(store.engine, notifier(fake), poll_s=30)
            running = asyncio.create_task(sender.run())
            await asyncio.sleep(0.2)  # it is waiting out its 30 s poll now
            loop = asyncio.get_running_loop()
            took: list[float] = []

            def worker() -> None:  # the loop stays idle meanwhile: only a wake can rouse it
                began = time.monotonic()
                with store.engine.begin() as conn:
                    message = text_message("from a worker thread")
                    outbox.post(conn, CHANNEL, "wake-test", message, outbox.utcnow())
                sender.wake()
                while not fake.posted() and time.monotonic() - began < 5:
                    time.sleep(0.01)
                took.append(time.monotonic() - began)
                loop.call_soon_threadsafe(sender.stop)

            thread = threading.Thread(target=worker)
            thread.start()
            await asyncio.wait_for(running, 40)
            thread.join()
            assert len(fake.posted()) == 1
            return took[0]

    try:
        took = asyncio.run(scenario())
    finally:
        store.close()
    assert took < 2
