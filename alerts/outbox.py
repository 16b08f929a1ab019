"""The durable outbox: every Slack message is a row first, delivered later.

Writers enqueue inside their own transaction (pass its ``Connection``), so a
message exists if and only if the change it reports was committed. The sender
claims due rows with a compare-and-set UPDATE (a lease, so a crashed sender's rows
come back), delivers them in id order per channel, and backs off while Slack is
down or rate-limiting. Nothing is sent twice:

- ``key`` is unique: enqueueing the same message again is a no-op;
- an incident's parent message ``ts`` lives in ``alert_threads``: later hits update
  it, a restart never posts a new one;
- a message whose earlier attempt may have reached Slack is first looked up by its
  key (message metadata) before it is posted again.

Pages first (``PRIORITY``): incident messages (a leak page, its kill-switch reply) go
before standalone ones (warning digests). A failure holds the whole channel until its
next try, so after an outage that order holds; a pass sending warnings stops when
something new is enqueued, so a new page waits behind one message at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alerts.base import NotifierError, Transport
from alerts.tables import outbox, threads

log = logging.getLogger(__name__)
PARENT, UPDATE, REPLY, POST, DIGEST = "parent", "update", "reply", "post", "digest"
PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"
STANDALONE = (POST, DIGEST)
# Delivery order: incident messages (0) before standalone ones (1).
PRIORITY = sa.case((outbox.c.kind.in_(STANDALONE), 1), else_=0)


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_ignore(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """INSERT unless the primary/unique key exists; True if a row was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports -1 for INSERT .. ON CONFLICT DO NOTHING.
    query = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(query).first() is not None


def new_row(
    kind: str,
    key: str,
    channel: str,
    incident_id: int | None,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": kind,
        "channel": channel,
        "incident_id": incident_id,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "last_error": "",
    }


def open_thread(
    conn: sa.Connection,
    incident_id: int,
    channel: str,
    payload: dict[str, Any] | None,
    now: datetime,
) -> bool:
    """Start an incident's thread bookkeeping and enqueue its parent message (none
    without ``payload``); False if the incident already has a thread."""
    fresh = insert_ignore(
        conn,
        threads,
        {"incident_id": incident_id, "channel": channel, "notified_at": now, "renotified": 0},
    )
    if fresh and payload is not None:
        key = f"incident:{incident_id}:parent"
        insert_ignore(conn, outbox, new_row(PARENT, key, channel, incident_id, payload, now))
    return fresh


def update_parent(
    conn: sa.Connection, incident_id: int, payload: dict[str, Any], now: datetime
) -> None:
    """Enqueue an edit of the parent; a pending one is replaced (the newest state wins)."""
    thread = conn.execute(sa.select(threads.c.channel).where(threads.c.incident_id == incident_id))
    channel = thread.scalar_one_or_none()
    if channel is None:
        return
    # Every unsent message of the parent takes the newest state: a parent not posted yet
    # is posted as it is now, and an edit queued while it was in flight must not bring
    # an older state back after it.
    changed = conn.execute(
        sa.update(outbox)
        .where(
            outbox.c.incident_id == incident_id,
            outbox.c.kind.in_((PARENT, UPDATE)),
            outbox.c.status == PENDING,
        )
        .values(payload=payload)
    )
    if not changed.rowcount:
        key = f"incident:{incident_id}:update:{now.timestamp():.6f}:{random.getrandbits(32):08x}"
        row = new_row(UPDATE, key, channel, incident_id, payload, now)
        conn.execute(sa.insert(outbox).values(**row))


def reply(
    conn: sa.Connection, incident_id: int, key: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Enqueue a reply in the incident's thread under idempotency ``key``."""
    channel = conn.execute(
        sa.select(threads.c.channel).where(threads.c.incident_id == incident_id)
    ).scalar_one_or_none()
    if channel is None:
        return False
    return insert_ignore(conn, outbox, new_row(REPLY, key, channel, incident_id, payload, now))


def post(
    conn: sa.Connection, channel: str, key: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Enqueue a standalone message (a warning, a probe-health note)."""
    return insert_ignore(conn, outbox, new_row(POST, key, channel, None, payload, now))


class OutboxSender:
    """Delivers due outbox rows; ``run`` until cancelled, ``deliver_due`` for one pass."""

    def __init__(
        self,
        engine: sa.Engine,
        transport: Transport,
        *,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        lease_s: float = 120.0,
        poll_s: float = 1.0,
        batch: int = 50,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._transport = transport
        self._base = backoff_base_s
        self._cap = backoff_cap_s
        self._lease = timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._batch = batch
        self._clock = clock
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # run()'s, once it runs
        self._stopping = False

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call after enqueueing).

        Safe from any thread: the incident engine enqueues from worker threads, and an
        asyncio.Event may only be set on its own loop's thread.
        """
        loop = self._loop
        if loop is None or loop.is_closed() or _running_loop() is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """End ``run`` after the message in flight (cancelling also works)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        while not self._stopping:
            try:
                delivered = await self.deliver_due()
            except Exception:  # the database hiccuped: the loop must survive it
                log.exception("outbox pass failed")
                delivered = 0
            if delivered or self._wake.is_set():
                continue  # a wake during the pass: select again rather than wait
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()

    def pending(self) -> int:
        with self._engine.connect() as conn:
            query = sa.select(sa.func.count()).where(outbox.c.status.in_((PENDING, SENDING)))
            return int(conn.execute(query).scalar_one())

    async def deliver_due(self) -> int:
        """One pass over the due rows; returns how many were delivered."""
        now = self._clock()
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox, threads.c.ts.label("thread_ts"))
                .outerjoin(threads, threads.c.incident_id == outbox.c.incident_id)
                .where(
                    sa.or_(
                        sa.and_(outbox.c.status == PENDING, outbox.c.next_attempt_at <= now),
                        sa.and_(outbox.c.status == SENDING, outbox.c.claimed_until < now),
                    )
                )
                .order_by(PRIORITY, outbox.c.id)
                .limit(self._batch)
            ).all()
        self._wake.clear()  # from here on, a wake means something new was enqueued
        delivered = 0
        blocked: set[str] = set()  # channels whose earlier message failed in this pass
        waiting: set[int] = set()  # incidents whose parent is not posted yet
        paged = False  # a parent went out in this pass
        for row in rows:
            if row.channel in blocked or row.incident_id in waiting:
                continue
            if row.kind in STANDALONE and (self._wake.is_set() or paged):
                break  # new work, or replies now postable under a new parent: pages first
            if row.kind in (UPDATE, REPLY) and row.thread_ts is None:
                waiting.add(row.incident_id)
                continue
            if row.kind == PARENT:
                waiting.add(row.incident_id)  # its replies wait for the next pass
            claimed = self._claim(row)
            if claimed is None:
                continue
            try:
                ts = await self._deliver(row, claimed)
            except asyncio.CancelledError:
                self._release(row)  # it may have reached Slack: look it up before re-posting
                raise
            except NotifierError as exc:
                blocked.add(row.channel)
                self._failed(row, exc)
                continue
            self._sent(row, ts)
            delivered += 1
            paged = paged or row.kind == PARENT
        return delivered

    async def _deliver(self, row: Any, payload: dict[str, Any]) -> str | None:
        if row.kind == UPDATE:
            await self._transport.update(row.channel, row.thread_ts, payload)
            return row.thread_ts  # type: ignore[no-any-return]
        thread_ts = row.thread_ts if row.kind == REPLY else None
        if row.attempts > 0:  # an earlier attempt may have reached Slack after all
            found = await self._transport.find(row.channel, row.key, thread_ts=thread_ts)
            if found is not None:
                return found
        return await self._transport.post(row.channel, payload, key=row.key, thread_ts=thread_ts)

    def _claim(self, row: Any) -> dict[str, Any] | None:
        """Lease ``row`` for sending; its payload as of the claim, or None if taken.

        The payload is read again in the claiming transaction: a pending edit may have
        been replaced by a newer state (``update_parent``) after ``row`` was selected,
        and once claimed nothing replaces it any more (newer states get a new row).
        """
        now = self._clock()
        with self._engine.begin() as conn:
            claimed = conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == row.id, outbox.c.status == row.status)
                .where(outbox.c.attempts == row.attempts)
                .values(status=SENDING, claimed_until=now + self._lease)
            )
            if claimed.rowcount != 1:
                return None
            payload = conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == row.id))
            return dict(payload.scalar_one())

    def _sent(self, row: Any, ts: str | None) -> None:
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == row.id)
                .values(status=SENT, sent_at=now, ts=ts, attempts=row.attempts + 1, last_error="")
            )
            if row.kind == PARENT:
                conn.execute(
                    sa.update(threads).where(threads.c.incident_id == row.incident_id).values(ts=ts)
                )

    def _release(self, row: Any) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == row.id, outbox.c.status == SENDING)
                .values(status=PENDING, attempts=row.attempts + 1, claimed_until=None)
            )

    def _failed(self, row: Any, exc: NotifierError) -> None:
        attempts = row.attempts + 1
        delay = min(self._cap, self._base * 2 ** min(attempts - 1, 30)) * random.uniform(0.8, 1.2)
        if exc.retry_after_s is not None:
            delay = max(delay, exc.retry_after_s)
        status = PENDING if exc.retryable else DEAD
        log_at = log.warning if exc.retryable else log.error
        log_at("outbox message %s (%s) failed, attempt %d: %s", row.key, row.kind, attempts, exc)
        retry_at = self._clock() + timedelta(seconds=delay)
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    status=status,
                    attempts=attempts,
                    next_attempt_at=retry_at,
                    claimed_until=None,
                    last_error=str(exc)[:500],
                )
            )
            if exc.retryable:  # the channel is down: all of it waits for the same try
                conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.channel == row.channel, outbox.c.status == PENDING)
                    .values(next_attempt_at=retry_at)
                )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a worker thread
        return None
